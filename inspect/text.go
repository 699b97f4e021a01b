package inspect

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// WriteExplanation prints x for people: the one-line reason first, then
// who announces it, the controller's words, and the trace.
func WriteExplanation(w io.Writer, x Explanation) error {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %s: %s\n", x.Service, x.Reason, x.Summary)
	for _, a := range x.BGP {
		var peers []string
		for _, p := range a.Peers {
			peers = append(peers, p.Peer+sessionText(p))
		}
		fmt.Fprintf(&b, "  BGP: %s announces it to %s\n", a.Node, strings.Join(peers, ", "))
	}
	for _, a := range x.L2 {
		on := ""
		if len(a.Interfaces) > 0 {
			on = " on " + strings.Join(a.Interfaces, ", ")
		}
		fmt.Fprintf(&b, "  L2: %s answers ARP/NDP for it%s\n", a.Node, on)
	}
	if x.ControllerMessage != "" && !strings.Contains(x.Summary, x.ControllerMessage) {
		fmt.Fprintf(&b, "  controller: %s\n", x.ControllerMessage)
	}
	if x.Configuration != "" && !strings.HasPrefix(x.Configuration, "Valid") {
		fmt.Fprintf(&b, "  configuration: %s\n", x.Configuration)
	}
	switch {
	case x.TraceID != "":
		name := x.Service[strings.IndexByte(x.Service, '/')+1:]
		ns := x.Service[:strings.IndexByte(x.Service, '/')]
		fmt.Fprintf(&b, "  trace: %s (kubectl herald trace svc/%s -n %s)\n", x.TraceID, name, ns)
	case x.TraceError != "":
		fmt.Fprintf(&b, "  trace: unreadable annotation: %s\n", x.TraceError)
	}
	for _, n := range x.Notes {
		fmt.Fprintf(&b, "  note: %s\n", n)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func sessionText(p PeerSession) string {
	var parts []string
	if p.BGPState != "" {
		parts = append(parts, p.BGPState)
	}
	if p.BFDState != "" {
		parts = append(parts, "BFD "+p.BFDState)
	}
	if len(parts) == 0 {
		return ""
	}
	return " (" + strings.Join(parts, ", ") + ")"
}

// WriteStatus prints s as tables.
func WriteStatus(w io.Writer, s Status) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "CONFIGURATION\tRESULT\tERRORS\tWARNINGS")
	if len(s.Configuration) == 0 {
		fmt.Fprintln(tw, "(no ConfigurationState: is Herald running?)\t\t\t")
	}
	for _, c := range s.Configuration {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", c.Name, c.Result, oneLine(c.Errors), oneLine(c.Warnings))
	}
	fmt.Fprintln(tw)
	fmt.Fprintln(tw, "POOL\tADDRESSES\tAUTO-ASSIGN\tIPv4 ASSIGNED/AVAILABLE\tIPv6 ASSIGNED/AVAILABLE")
	for _, p := range s.Pools {
		fmt.Fprintf(tw, "%s\t%s\t%t\t%d/%d\t%d/%d\n", p.Name, strings.Join(p.Addresses, ","), p.AutoAssign,
			p.AssignedIPv4, p.AvailableIPv4, p.AssignedIPv6, p.AvailableIPv6)
	}
	fmt.Fprintln(tw)
	fmt.Fprintln(tw, "NODE\tPEER\tADDRESS\tBGP\tBFD\tPREFIXES v4/v6\tLAST ERROR")
	if len(s.Sessions) == 0 {
		fmt.Fprintln(tw, "(no BGPSessionState)\t\t\t\t\t\t")
	}
	for _, x := range s.Sessions {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d/%d\t%s\n", x.Node, x.Peer, x.Address, dash(x.BGPState), dash(x.BFDState),
			x.PrefixesIPv4, x.PrefixesIPv6, x.LastError)
	}
	fmt.Fprintln(tw)
	fmt.Fprintln(tw, "SERVICE\tIPS\tMODE\tNODE\tTO")
	if len(s.Announcements) == 0 {
		fmt.Fprintln(tw, "(nothing announced)\t\t\t\t")
	}
	for _, a := range s.Announcements {
		to := "peers " + strings.Join(a.Peers, ",")
		if a.Mode == ModeL2 {
			to = "ARP/NDP on " + strings.Join(a.Interfaces, ",")
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", a.Service, dash(strings.Join(a.IPs, ",")), a.Mode, a.Node, to)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, n := range s.NotReported {
		if _, err := fmt.Fprintf(w, "\nnot reported: %s\n", n); err != nil {
			return err
		}
	}
	return nil
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func oneLine(s string) string { return strings.ReplaceAll(s, "\n", "; ") }

// eventTime is when an Event last happened, whichever field its writer
// set.
func eventTime(e *corev1.Event) time.Time {
	t := e.LastTimestamp.Time
	if e.Series != nil && e.Series.LastObservedTime.After(t) {
		t = e.Series.LastObservedTime.Time
	}
	if e.EventTime.After(t) {
		t = e.EventTime.Time
	}
	if t.IsZero() {
		t = e.FirstTimestamp.Time
	}
	return t
}

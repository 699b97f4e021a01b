package servicestatus

import (
	"errors"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/heraldlb/herald/alloc"
)

// The transcripts in testdata/*.txt are the readable specification of the
// machine. One directive per line:
//
//	# text                 a comment, kept as is
//	new [remind]           a fresh machine (reminders on with remind)
//	> EVENT [args]         step; the lines after it, up to the next
//	                       directive or blank line, are the expected
//	                       actions and a final "= state" line
//
// Events:
//
//	observe gone
//	observe [notlb|other] [req=POOL] [invalid=TEXT] [deprecated=NAMES] OBJECT
//	decide [ips=IPS pool=POOL] [err=TEXT] [conflict=TEXT] [pending=TEXT]
//	revoke IP@GEN...
//	written OBJECT before=IPS | written conflict OBJECT | written gone | written err=TEXT
//	retry
//	remind GEN
//
// where OBJECT is rv=N [uid=U] [ips=IPS] [pool=POOL], IPS is a
// comma-separated list, and TEXT runs to the end of the line when no key
// follows it (use _ for spaces otherwise).
//
// go test -run TestTranscripts -update rewrites the expected blocks.
var update = flag.Bool("update", false, "rewrite the expected output of testdata/*.txt transcripts")

func TestTranscripts(t *testing.T) {
	files, err := filepath.Glob("testdata/*.txt")
	if err != nil || len(files) == 0 {
		t.Fatalf("no transcripts: %v", err)
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) { runTranscript(t, file) })
	}
}

func runTranscript(t *testing.T, file string) {
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	var m *Machine
	var out []string
	for i := 0; i < len(lines); {
		line := lines[i]
		i++
		out = append(out, line)
		fields := strings.Fields(line)
		if len(fields) == 0 || strings.HasPrefix(line, "#") {
			continue
		}
		switch fields[0] {
		case "new":
			m = New(Config{Remind: slices.Contains(fields[1:], "remind")})
			continue
		case ">":
		default:
			t.Fatalf("%s:%d: unknown directive %q", file, i, line)
		}
		if m == nil {
			t.Fatalf("%s:%d: step before new", file, i)
		}
		ev, err := parseEvent(fields[1:], line)
		if err != nil {
			t.Fatalf("%s:%d: %v", file, i, err)
		}
		var got []string
		for _, a := range m.Step(ev) {
			got = append(got, formatAction(a))
		}
		got = append(got, "= "+formatState(m))
		var want []string
		for i < len(lines) && lines[i] != "" && !strings.HasPrefix(lines[i], ">") && !strings.HasPrefix(lines[i], "#") && !strings.HasPrefix(lines[i], "new") {
			want = append(want, lines[i])
			i++
		}
		if !*update && !slices.Equal(got, want) {
			t.Errorf("%s:%d: %s\n got:\n\t%s\nwant:\n\t%s", file, i, line, strings.Join(got, "\n\t"), strings.Join(want, "\n\t"))
		}
		out = append(out, got...)
	}
	if *update {
		if err := os.WriteFile(file, []byte(strings.Join(out, "\n")+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

var svcKey = alloc.ServiceKey{Namespace: "ns", Name: "svc"}

func parseEvent(f []string, line string) (Event, error) {
	if len(f) == 0 {
		return Event{}, errors.New("no event")
	}
	args := map[string]string{}
	var flags []string
	for _, a := range f[1:] {
		k, v, ok := strings.Cut(a, "=")
		if !ok {
			flags = append(flags, a)
			continue
		}
		if k == "invalid" || k == "err" || k == "pending" || k == "conflict" {
			// TEXT runs to the end of the line, or to the next key with _
			// for spaces.
			if rest := line[strings.Index(line, a)+len(k)+1:]; !strings.Contains(rest, "=") {
				args[k] = rest
				break
			}
		}
		args[k] = strings.ReplaceAll(v, "_", " ")
	}
	switch f[0] {
	case "observe":
		if slices.Contains(flags, "gone") {
			return Event{Kind: Observe}, nil
		}
		spec := Spec{LoadBalancer: true, Ours: true, Request: alloc.Service{Key: svcKey, RequestedPool: args["req"]},
			Created: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
		if slices.Contains(flags, "notlb") {
			spec.LoadBalancer, spec.Ours = false, false
		}
		if slices.Contains(flags, "other") {
			spec.Ours = false
		}
		if v, ok := args["invalid"]; ok {
			spec.Invalid = errors.New(v)
		}
		if v, ok := args["deprecated"]; ok {
			spec.Deprecated = strings.Split(v, ",")
		}
		obj, err := parseObject(args)
		return Event{Kind: Observe, Exists: true, Spec: spec, Object: obj}, err
	case "decide":
		var d Decision
		ips, err := parseIPs(args["ips"])
		if err != nil {
			return Event{}, err
		}
		d.Assignment = alloc.Assignment{Pool: args["pool"], IPs: ips}
		for k, dst := range map[string]*error{"err": &d.Err, "conflict": &d.Conflict, "pending": &d.Pending} {
			if v, ok := args[k]; ok {
				*dst = errors.New(v)
			}
		}
		return Event{Kind: Decide, Decision: d}, nil
	case "revoke":
		var rs []alloc.Reservation
		for _, a := range f[1:] {
			ip, gen, _ := strings.Cut(a, "@")
			addr, err := netip.ParseAddr(ip)
			if err != nil {
				return Event{}, err
			}
			g, err := strconv.ParseUint(gen, 10, 64)
			if err != nil {
				return Event{}, err
			}
			rs = append(rs, alloc.Reservation{IP: addr, Gen: g})
		}
		return Event{Kind: Revoke, Reservations: rs}, nil
	case "written":
		var w WriteResult
		switch {
		case slices.Contains(flags, "gone"):
			w.Gone = true
		case args["err"] != "":
			w.Err = errors.New(args["err"])
		default:
			w.Conflict = slices.Contains(flags, "conflict")
			obj, err := parseObject(args)
			if err != nil {
				return Event{}, err
			}
			w.Object = obj
			if w.Before, err = parseIPs(args["before"]); err != nil {
				return Event{}, err
			}
		}
		return Event{Kind: Written, Write: w}, nil
	case "retry":
		return Event{Kind: Retry}, nil
	case "remind":
		if len(f) != 2 {
			return Event{}, errors.New("remind GEN")
		}
		g, err := strconv.ParseUint(f[1], 10, 64)
		return Event{Kind: Remind, Gen: g}, err
	}
	return Event{}, fmt.Errorf("unknown event %q", f[0])
}

func parseObject(args map[string]string) (*Object, error) {
	if args["rv"] == "" {
		return nil, errors.New("an object needs rv=")
	}
	ips, err := parseIPs(args["ips"])
	if err != nil {
		return nil, err
	}
	uid := args["uid"]
	if uid == "" {
		uid = "u1"
	}
	return &Object{UID: uid, ResourceVersion: args["rv"], IPs: ips, Pool: args["pool"], Ref: "rv" + args["rv"]}, nil
}

func parseIPs(s string) ([]netip.Addr, error) {
	if s == "" {
		return nil, nil
	}
	var out []netip.Addr
	for _, p := range strings.Split(s, ",") {
		ip, err := netip.ParseAddr(p)
		if err != nil {
			return nil, err
		}
		out = append(out, ip)
	}
	return out, nil
}

func ipList(ips []netip.Addr) string {
	if len(ips) == 0 {
		return "-"
	}
	s := make([]string, len(ips))
	for i, ip := range ips {
		s[i] = ip.String()
	}
	return strings.Join(s, ",")
}

func resList(rs []alloc.Reservation) string {
	if len(rs) == 0 {
		return "-"
	}
	s := make([]string, len(rs))
	for i, r := range rs {
		s[i] = fmt.Sprintf("%s@%d", r.IP, r.Gen)
	}
	return strings.Join(s, ",")
}

func ref(o *Object) string {
	if o == nil {
		return "<none>"
	}
	return fmt.Sprint(o.Ref)
}

func formatAction(a Action) string {
	switch a.Kind {
	case Ensure:
		return fmt.Sprintf("ensure req=%q", a.Request.RequestedPool)
	case Write:
		return fmt.Sprintf("write ips=%s pool=%q on %s", ipList(a.IPs), a.Pool, ref(a.Object))
	case Publish:
		return fmt.Sprintf("event %s %s %q on %s", a.Type, a.Reason, a.Message, ref(a.Object))
	case StatusClear:
		return "clear " + resList(a.Reservations)
	case RemindLater:
		return fmt.Sprintf("remind-later %d", a.Gen)
	}
	return map[ActionKind]string{Release: "release", RetryLater: "retry-later", ResetBackoff: "reset-backoff", Idle: "idle"}[a.Kind]
}

func formatState(m *Machine) string {
	shown := "<none>"
	if m.obj != nil {
		shown = fmt.Sprintf("%s@%s", ipList(m.obj.IPs), m.obj.ResourceVersion)
	}
	s := fmt.Sprintf("shown=%s", shown)
	if m.have {
		s += " want=" + ipList(m.assignment.IPs)
	}
	if m.inflight {
		s += " inflight"
	}
	if m.dirty {
		s += " dirty"
	}
	if len(m.toClear) > 0 {
		s += " reserved=" + resList(m.Reserved())
	}
	return s
}

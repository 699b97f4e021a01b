package peer

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"

	"github.com/heraldlb/herald/bgpwire"
)

// formatAction renders an action for transcripts. A Send is decoded: one
// line per message, continuation messages of the same Send marked "+".
func formatAction(a *Action, s bgpwire.Session) []string {
	switch a.Kind {
	case Dial, Accept, Close:
		return []string{fmt.Sprintf("%s c%d", a.Kind, a.Conn)}
	case Refuse:
		return []string{"Refuse"}
	case Send:
		var lines []string
		for i, m := range splitMessages(a.Bytes) {
			prefix := fmt.Sprintf("Send c%d %s ", a.Conn, a.Class)
			if i > 0 {
				prefix = "  + "
			}
			lines = append(lines, prefix+formatMessage(m, s))
		}
		return lines
	case StartTimer:
		return []string{fmt.Sprintf("StartTimer %s %s #%d", a.Timer, a.Duration, a.Token)}
	case StopTimer:
		return []string{fmt.Sprintf("StopTimer %s", a.Timer)}
	case SessionUp:
		return []string{"SessionUp " + formatSession(&a.Session)}
	case SessionDown:
		d := a.Down
		if d.Notification.Code != 0 {
			return []string{fmt.Sprintf("SessionDown c%d %s: %s", d.Conn, d.Reason, d.Notification)}
		}
		return []string{fmt.Sprintf("SessionDown c%d %s", d.Conn, d.Reason)}
	case Report:
		r := &a.Report
		head := fmt.Sprintf("Report %s", r.Kind)
		if r.Conn != 0 {
			head += fmt.Sprintf(" c%d", r.Conn)
		}
		switch r.Kind {
		case NotificationSent, NotificationReceived:
			return []string{head + ": " + r.Notification.String()}
		case MalformedUpdate:
			return []string{fmt.Sprintf("%s %s %s: %v", head, r.Action, r.Attr, errors.Unwrap(r.Err))}
		}
		return []string{fmt.Sprintf("%s: %v", head, r.Err)}
	}
	return []string{a.Kind.String()}
}

func formatSession(s *Session) string {
	kind := "ebgp"
	if s.IBGP {
		kind = "ibgp"
	}
	var fams, caps []string
	for _, af := range AFs {
		if s.Families[af] {
			fam := af.String()
			if nh := s.NextHops[af]; nh.Addr.IsValid() {
				fam += " nh=" + formatNextHop(nh)
			} else {
				fam += " nh=none"
			}
			fams = append(fams, fam)
		}
	}
	for _, c := range []struct {
		on   bool
		name string
	}{
		{s.FourOctetAS, "4as"}, {s.ExtendedMessage, "extmsg"}, {s.RouteRefresh, "rr"},
		{s.EnhancedRouteRefresh, "err"}, {s.ExtendedNextHop, "enh"}, {s.GracefulRestart, "gr"},
		{s.PeerGracefulRestart && !s.GracefulRestart, "peer-gr"},
	} {
		if c.on {
			caps = append(caps, c.name)
		}
	}
	return fmt.Sprintf("c%d %s as=%d id=%s local-as=%d hold=%s keepalive=%s [%s] caps=[%s]",
		s.Conn, kind, s.PeerAS, s.PeerID, s.LocalAS, s.HoldTime, s.Keepalive,
		strings.Join(fams, "; "), strings.Join(caps, " "))
}

func formatNextHop(nh bgpwire.NextHop) string {
	if nh.LinkLocal.IsValid() {
		return nh.Addr.String() + "+" + nh.LinkLocal.String()
	}
	return nh.Addr.String()
}

func splitMessages(b []byte) [][]byte {
	var out [][]byte
	for len(b) >= bgpwire.HeaderLen {
		l := int(b[16])<<8 | int(b[17])
		if l < bgpwire.HeaderLen || l > len(b) {
			break
		}
		out = append(out, b[:l])
		b = b[l:]
	}
	if len(b) > 0 {
		out = append(out, b) // formatMessage reports it as undecodable
	}
	return out
}

// formatMessage decodes one message the Peer sent.
func formatMessage(b []byte, s bgpwire.Session) string {
	var m bgpwire.Message
	if err := m.Decode(b, s); err != nil {
		return fmt.Sprintf("UNDECODABLE %x: %v", b, err)
	}
	switch m.Type {
	case bgpwire.TypeOpen:
		return formatOpen(&m.Open)
	case bgpwire.TypeKeepalive:
		return "KEEPALIVE"
	case bgpwire.TypeNotification:
		return "NOTIFICATION " + m.Notification.String()
	case bgpwire.TypeRouteRefresh:
		rr := m.RouteRefresh
		sub := map[bgpwire.RouteRefreshSubtype]string{0: "request", 1: "BoRR", 2: "EoRR"}[rr.Subtype]
		af, _ := afOfFamily(rr.Family)
		return fmt.Sprintf("ROUTE-REFRESH %s %s", af, sub)
	}
	return formatUpdate(&m.Update)
}

func formatOpen(o *bgpwire.Open) string {
	c := &o.Capabilities
	var caps []string
	for _, f := range c.Multiprotocol {
		af, _ := afOfFamily(f)
		caps = append(caps, "mp:"+af.String())
	}
	if c.RouteRefresh {
		caps = append(caps, "rr")
	}
	if c.EnhancedRouteRefresh {
		caps = append(caps, "err")
	}
	if c.FourOctetAS {
		caps = append(caps, fmt.Sprintf("4as:%d", o.AS))
	}
	if c.ExtendedMessage {
		caps = append(caps, "extmsg")
	}
	for _, e := range c.ExtendedNextHop {
		af, _ := afOfFamily(e.Family)
		caps = append(caps, fmt.Sprintf("enh:%s/afi%d", af, e.NextHopAFI))
	}
	if gr := c.GracefulRestart; gr != nil {
		s := fmt.Sprintf("gr:%ds", gr.RestartTime)
		if gr.Restarting {
			s += ":R"
		}
		var fams []string
		for _, f := range gr.Families {
			af, _ := afOfFamily(f.Family)
			fa := af.String()
			if f.ForwardingPreserved {
				fa += ":F"
			}
			fams = append(fams, fa)
		}
		caps = append(caps, s+"("+strings.Join(fams, " ")+")")
	}
	return fmt.Sprintf("OPEN as=%d hold=%d id=%s caps=[%s]", o.WireAS, o.HoldTime, o.Identifier, strings.Join(caps, " "))
}

func formatUpdate(u *bgpwire.Update) string {
	if f, ok := u.IsEndOfRIB(); ok {
		af, _ := afOfFamily(f)
		return "UPDATE End-of-RIB " + af.String()
	}
	var parts []string
	if w := append(append([]netip.Prefix(nil), u.Withdrawn...), u.MPUnreach.Withdrawn...); len(w) > 0 {
		parts = append(parts, "withdraw "+formatPrefixes(w))
	}
	if a := append(append([]netip.Prefix(nil), u.NLRI...), u.MPReach.NLRI...); len(a) > 0 {
		nh := u.NextHop
		var nhs string
		if u.HasMPReach {
			nhs = formatNextHop(bgpwire.NextHop{Addr: u.MPReach.NextHop, LinkLocal: u.MPReach.LinkLocalNextHop})
		} else {
			nhs = nh.String()
		}
		attrs := []string{"nh=" + nhs}
		var path []string
		for _, seg := range u.ASPath {
			for _, as := range seg.ASNs {
				path = append(path, fmt.Sprint(as))
			}
		}
		attrs = append(attrs, "path=["+strings.Join(path, " ")+"]")
		if len(u.AS4Path) > 0 {
			var p4 []string
			for _, seg := range u.AS4Path {
				for _, as := range seg.ASNs {
					p4 = append(p4, fmt.Sprint(as))
				}
			}
			attrs = append(attrs, "as4path=["+strings.Join(p4, " ")+"]")
		}
		if u.HasLocalPref {
			attrs = append(attrs, fmt.Sprintf("lp=%d", u.LocalPref))
		}
		if len(u.Communities) > 0 {
			var cs []string
			for _, c := range u.Communities {
				cs = append(cs, fmt.Sprintf("%d:%d", uint32(c)>>16, uint32(c)&0xffff))
			}
			attrs = append(attrs, "comm=["+strings.Join(cs, " ")+"]")
		}
		if len(u.LargeCommunities) > 0 {
			var cs []string
			for _, c := range u.LargeCommunities {
				cs = append(cs, fmt.Sprintf("%d:%d:%d", c.GlobalAdmin, c.LocalData1, c.LocalData2))
			}
			attrs = append(attrs, "lc=["+strings.Join(cs, " ")+"]")
		}
		parts = append(parts, "announce "+formatPrefixes(a)+" "+strings.Join(attrs, " "))
	}
	return "UPDATE " + strings.Join(parts, "; ")
}

// formatPrefixes lists up to four prefixes, else the count, the first and
// the last.
func formatPrefixes(ps []netip.Prefix) string {
	if len(ps) <= 4 {
		s := make([]string, len(ps))
		for i, p := range ps {
			s[i] = p.String()
		}
		return strings.Join(s, " ")
	}
	return fmt.Sprintf("%d: %s .. %s", len(ps), ps[0], ps[len(ps)-1])
}

package peer

import (
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/heraldlb/herald/bgpwire"
)

// The router's side of the transcripts (< lines) and the status block.

// peerSends encodes what the peer sends on a connection and delivers it:
//
//	open [as=N] [as4=N] [hold=N] [id=A] [caps=LIST]
//	     LIST: none or mp4,mp6,rr,err,4as,extmsg,enh,gr,gr-r (default
//	     mp4,rr,4as; 4as carries as4, else as)
//	keepalive
//	notification CODE/SUB [text="..."] [data=HEX]
//	route-refresh ipv4|ipv6 [borr|eorr]
//	update [withdrawn=HEX] [attrs=HEX] [nlri=HEX]
//	                         an UPDATE with these fields, lengths computed
//	                         (HEX may use _ as a separator)
//	update-body HEX          an UPDATE with this body (header added)
//	raw HEX                  bytes as they are
//
// and chunks=K delivers the bytes K at a time, one Received each.
func (tr *transcript) peerSends(args []string) []string {
	if len(args) < 2 {
		tr.fatalf("< needs a connection and a message")
	}
	conn, err := parseConn(args[0])
	if err != nil {
		tr.fatalf("%v", err)
	}
	chunks := 0
	var rest []string
	for _, a := range args[2:] {
		if v, ok := strings.CutPrefix(a, "chunks="); ok {
			chunks, err = strconv.Atoi(v)
			if err != nil {
				tr.fatalf("chunks: %v", err)
			}
			continue
		}
		rest = append(rest, a)
	}
	b := tr.peerMessage(args[1], rest)
	if chunks <= 0 {
		chunks = len(b)
	}
	var got []string
	for len(b) > 0 {
		n := min(chunks, len(b))
		got = append(got, tr.step(Event{Kind: Received, Conn: conn, Data: b[:n:n]})...)
		b = b[n:]
	}
	return append(got, tr.summary())
}

func (tr *transcript) peerMessage(kind string, args []string) []byte {
	kv := map[string]string{}
	var bare []string
	for _, a := range args {
		if k, v, ok := strings.Cut(a, "="); ok {
			kv[k] = v
		} else {
			bare = append(bare, a)
		}
	}
	num := func(k string, def uint32) uint32 {
		v, ok := kv[k]
		if !ok {
			return def
		}
		n, err := parseUint32(v)
		if err != nil {
			tr.fatalf("%s: %v", k, err)
		}
		return n
	}
	unhex := func(s string) []byte {
		b, err := hex.DecodeString(strings.ReplaceAll(s, "_", ""))
		if err != nil {
			tr.fatalf("hex: %v", err)
		}
		return b
	}
	switch kind {
	case "open":
		o := bgpwire.Open{Version: 4, HoldTime: uint16(num("hold", 90)), Identifier: basePeerID}
		if v, ok := kv["id"]; ok {
			o.Identifier = netip.MustParseAddr(v)
		}
		wireAS := num("as", basePeerAS)
		o.AS = num("as4", wireAS)
		caps := "mp4,rr,4as"
		if v, ok := kv["caps"]; ok {
			caps = v
		}
		c := &o.Capabilities
		for _, cp := range strings.Split(caps, ",") {
			switch cp {
			case "none":
			case "mp4":
				c.Multiprotocol = append(c.Multiprotocol, bgpwire.IPv4Unicast)
			case "mp6":
				c.Multiprotocol = append(c.Multiprotocol, bgpwire.IPv6Unicast)
			case "rr":
				c.RouteRefresh = true
			case "err":
				c.EnhancedRouteRefresh = true
			case "4as":
				c.FourOctetAS = true
			case "extmsg":
				c.ExtendedMessage = true
			case "enh":
				c.ExtendedNextHop = append(c.ExtendedNextHop, bgpwire.ExtendedNextHop{Family: bgpwire.IPv4Unicast, NextHopAFI: bgpwire.AFIIPv6})
			case "gr", "gr-r":
				gr := &bgpwire.GracefulRestart{RestartTime: 120, Restarting: cp == "gr-r"}
				for _, f := range c.Multiprotocol {
					gr.Families = append(gr.Families, bgpwire.GracefulRestartFamily{Family: f, ForwardingPreserved: true})
				}
				c.GracefulRestart = gr
			default:
				tr.fatalf("unknown capability %q", cp)
			}
		}
		if !c.FourOctetAS {
			o.AS = wireAS
		}
		b, err := bgpwire.AppendOpen(nil, &o)
		if err != nil {
			tr.fatalf("open: %v", err)
		}
		binary.BigEndian.PutUint16(b[bgpwire.HeaderLen+1:], uint16(wireAS))
		return b
	case "keepalive":
		return bgpwire.AppendKeepalive(nil)
	case "notification":
		if len(bare) != 1 {
			tr.fatalf("notification needs CODE/SUB")
		}
		c, s, _ := strings.Cut(bare[0], "/")
		code, e1 := strconv.ParseUint(c, 10, 8)
		sub, e2 := strconv.ParseUint(s, 10, 8)
		if e1 != nil || e2 != nil {
			tr.fatalf("notification %q", bare[0])
		}
		n := bgpwire.Notification{Code: bgpwire.ErrorCode(code), Subcode: uint8(sub)}
		if v, ok := kv["text"]; ok {
			n.Data = bgpwire.AppendShutdownData(nil, unquote(v))
		}
		if v, ok := kv["data"]; ok {
			n.Data = unhex(v)
		}
		return bgpwire.AppendNotification(nil, n, bgpwire.MaxMessageLen)
	case "route-refresh":
		rr := bgpwire.RouteRefresh{Family: bgpwire.IPv4Unicast}
		for _, a := range bare {
			switch a {
			case "ipv6":
				rr.Family = bgpwire.IPv6Unicast
			case "borr":
				rr.Subtype = bgpwire.RouteRefreshBoRR
			case "eorr":
				rr.Subtype = bgpwire.RouteRefreshEoRR
			}
		}
		return bgpwire.AppendRouteRefresh(nil, rr)
	case "update", "update-body":
		var body []byte
		if kind == "update" {
			w, a, n := unhex(kv["withdrawn"]), unhex(kv["attrs"]), unhex(kv["nlri"])
			body = binary.BigEndian.AppendUint16(body, uint16(len(w)))
			body = append(body, w...)
			body = binary.BigEndian.AppendUint16(body, uint16(len(a)))
			body = append(append(body, a...), n...)
		} else {
			body = unhex(strings.Join(bare, ""))
		}
		b := make([]byte, bgpwire.HeaderLen, bgpwire.HeaderLen+len(body))
		for i := range 16 {
			b[i] = 0xff
		}
		binary.BigEndian.PutUint16(b[16:], uint16(bgpwire.HeaderLen+len(body)))
		b[18] = byte(bgpwire.TypeUpdate)
		return append(b, body...)
	case "raw":
		return unhex(strings.Join(bare, ""))
	}
	tr.fatalf("unknown message %q", kind)
	return nil
}

func formatStatus(st Status) []string {
	lines := []string{
		fmt.Sprintf("state=%s last=%s->%s@%d admin=%v deconfigured=%v", st.State, st.LastTransition.From,
			st.LastTransition.To, st.LastTransition.Event, st.Admin, st.Deconfigured),
		fmt.Sprintf("desired=ipv4:%d,ipv6:%d announced=ipv4:%d,ipv6:%d updates=%d eor=%d sessions=%d",
			st.Desired[IPv4], st.Desired[IPv6], st.Announced[IPv4], st.Announced[IPv6], st.UpdatesSent,
			st.EndOfRIBSent, st.SessionsEstablished),
		"in=" + formatCounts(st.MessagesIn) + " out=" + formatCounts(st.MessagesOut),
	}
	if st.LastSent.Code != 0 {
		lines = append(lines, fmt.Sprintf("last-sent=c%d %s", st.LastSent.Conn, st.LastSent.Notification))
	}
	if st.LastReceived.Code != 0 {
		lines = append(lines, fmt.Sprintf("last-received=c%d %s", st.LastReceived.Conn, st.LastReceived.Notification))
	}
	if st.LastError != nil {
		lines = append(lines, fmt.Sprintf("last-error=%v", st.LastError))
	}
	if st.PeerEndOfRIB[IPv4] || st.PeerEndOfRIB[IPv6] {
		lines = append(lines, fmt.Sprintf("peer-eor=ipv4:%v,ipv6:%v", st.PeerEndOfRIB[IPv4], st.PeerEndOfRIB[IPv6]))
	}
	if st.Failures > 0 {
		lines = append(lines, fmt.Sprintf("failures=%d restart-delay=%s", st.Failures, st.RestartDelay))
	}
	return lines
}

func formatCounts(c MessageCounts) string {
	var parts []string
	for t := bgpwire.TypeOpen; t <= bgpwire.TypeRouteRefresh; t++ {
		if c[t] > 0 {
			parts = append(parts, fmt.Sprintf("%s:%d", t, c[t]))
		}
	}
	if len(parts) == 0 {
		return "-"
	}
	return strings.Join(parts, ",")
}

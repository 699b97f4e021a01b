package e2e

import (
	"context"
	"encoding/binary"
	"fmt"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/heraldlb/herald/testbed/routers"
)

// malformedCase is one crafted UPDATE and the outcome RFC 7606 (and RFC
// 4271 where 7606 keeps it) gives it.
type malformedCase struct {
	name string
	// update is the UPDATE message, header included.
	update func(nh netip.Addr) []byte
	// action is the outcome: attribute-discard and treat-as-withdraw keep
	// the session; session-reset sends NOTIFICATION 3/subcode.
	action  string
	attr    string // the attribute the speaker's log names (non-reset cases)
	subcode uint8  // UPDATE Message Error subcode (session-reset cases)
}

// Path attribute builders: flags, type, value.
func pathAttr(flags, typ byte, v []byte) []byte {
	if len(v) > 255 {
		b := []byte{flags | 0x10, typ, 0, 0}
		binary.BigEndian.PutUint16(b[2:], uint16(len(v)))
		return append(b, v...)
	}
	return append([]byte{flags, typ, byte(len(v))}, v...)
}

var (
	attrOrigin    = pathAttr(0x40, 1, []byte{0})
	attrEmptyPath = pathAttr(0x40, 2, nil) // iBGP: the originator's empty AS_PATH
	attrLocalPref = pathAttr(0x40, 5, []byte{0, 0, 0, 100})
	// 198.51.100.0/24 in the NLRI field.
	testNLRI = []byte{24, 198, 51, 100}
)

func attrNextHop(nh netip.Addr) []byte { b := nh.As4(); return pathAttr(0x40, 3, b[:]) }

// updateMsg frames an UPDATE: withdrawn routes, path attributes, NLRI.
// attrLen, when not -1, overrides the Total Path Attribute Length.
func updateMsg(withdrawn, attrs, nlri []byte, attrLen int) []byte {
	body := binary.BigEndian.AppendUint16(nil, uint16(len(withdrawn)))
	body = append(body, withdrawn...)
	if attrLen < 0 {
		attrLen = len(attrs)
	}
	body = binary.BigEndian.AppendUint16(body, uint16(attrLen))
	body = append(body, attrs...)
	body = append(body, nlri...)
	msg := make([]byte, 16, 19+len(body))
	for i := range msg {
		msg[i] = 0xff
	}
	msg = binary.BigEndian.AppendUint16(msg, uint16(19+len(body)))
	msg = append(msg, 2)
	return append(msg, body...)
}

func concat(bs ...[]byte) []byte {
	var out []byte
	for _, b := range bs {
		out = append(out, b...)
	}
	return out
}

// The cases the BGP sessions issue names, each with its RFC outcome.
var malformedCases = []malformedCase{
	{name: "attribute length: ORIGIN of two octets", action: "treat-as-withdraw", attr: "ORIGIN",
		update: func(nh netip.Addr) []byte {
			return updateMsg(nil, concat(pathAttr(0x40, 1, []byte{0, 0}), attrEmptyPath, attrNextHop(nh), attrLocalPref), testNLRI, -1)
		}}, // RFC 7606 §7.1
	{name: "duplicate attribute: LOCAL_PREF twice", action: "attribute-discard", attr: "LOCAL_PREF",
		update: func(nh netip.Addr) []byte {
			return updateMsg(nil, concat(attrOrigin, attrEmptyPath, attrNextHop(nh), attrLocalPref, attrLocalPref), testNLRI, -1)
		}}, // RFC 7606 §3 g
	{name: "bad AS_PATH: a segment longer than the attribute", action: "treat-as-withdraw", attr: "AS_PATH",
		update: func(nh netip.Addr) []byte {
			// AS_SEQUENCE of 5 four-octet ASNs, one present.
			return updateMsg(nil, concat(attrOrigin, pathAttr(0x40, 2, []byte{2, 5, 0, 0, 0xfd, 0xe8}), attrNextHop(nh), attrLocalPref), testNLRI, -1)
		}}, // RFC 7606 §7.2
	{name: "unknown well-known attribute", action: "session-reset", subcode: 2,
		update: func(nh netip.Addr) []byte {
			return updateMsg(nil, concat(attrOrigin, attrEmptyPath, attrNextHop(nh), attrLocalPref, pathAttr(0x40, 0xf0, []byte{1})), testNLRI, -1)
		}}, // RFC 4271 §6.3: Unrecognized Well-known Attribute
	{name: "malformed MP_REACH_NLRI: NLRI overruns the attribute", action: "session-reset", subcode: 9,
		update: func(netip.Addr) []byte {
			nh := netip.MustParseAddr("fd00::1").As16()
			v := concat([]byte{0, 2, 1, 16}, nh[:], []byte{0}, []byte{64, 0x20, 0x01})
			return updateMsg(nil, concat(attrOrigin, attrEmptyPath, attrLocalPref, pathAttr(0x80, 14, v)), nil, -1)
		}}, // RFC 7606 §7.11 (Optional Attribute Error)
	{name: "malformed MP_UNREACH_NLRI: prefix overruns the attribute", action: "session-reset", subcode: 9,
		update: func(netip.Addr) []byte {
			return updateMsg(nil, pathAttr(0x80, 15, []byte{0, 2, 1, 128, 0x20, 0x01, 0x0d}), nil, -1)
		}}, // RFC 7606 §7.12
	{name: "MP_REACH_NLRI twice", action: "session-reset", subcode: 1,
		update: func(netip.Addr) []byte {
			nh := netip.MustParseAddr("fd00::1").As16()
			mp := pathAttr(0x80, 14, concat([]byte{0, 2, 1, 16}, nh[:], []byte{0}, []byte{64, 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0}))
			return updateMsg(nil, concat(attrOrigin, attrEmptyPath, attrLocalPref, mp, mp), nil, -1)
		}}, // RFC 7606 §3 g: Malformed Attribute List
	{name: "truncated: Total Path Attribute Length past the message's end", action: "session-reset", subcode: 1,
		update: func(nh netip.Addr) []byte {
			attrs := concat(attrOrigin, attrEmptyPath, attrNextHop(nh))
			return updateMsg(nil, attrs, nil, len(attrs)+20)
		}}, // RFC 4271 §6.3 / RFC 7606 §5: Malformed Attribute List
}

// A peer sends crafted malformed UPDATEs, one kind at a time, to the real
// speaker: each gets its RFC 7606 outcome — the session kept with the
// attribute named in a warning and counted by action, or a NOTIFICATION
// with the right subcode and a new session — and the speaker process lives
// through all of them. The peer is a raw session in the test (GoBGP's
// packet library writes its OPEN and KEEPALIVEs), since no router sends
// malformed messages on purpose.
func TestBGPMalformedUpdates(t *testing.T) {
	l := newSpeakerLab(t, speakerLabOptions{nodes: 1})
	const port = 1793
	rtr := l.lab.Router.LAN4
	peer, err := routers.ListenRawPeer(l.lab.Router.NS, netip.AddrPortFrom(rtr, port), bgpModeASN, netip.MustParseAddr("10.255.0.9"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { peer.Close() })
	l.apply(fmt.Sprintf(`
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: crafted, namespace: metallb-system}
spec: {myASN: %d, peerASN: %d, peerAddress: %s, peerPort: %d}
`, bgpModeASN, bgpModeASN, rtr, port))
	node := l.lab.Nodes[0]
	accept := func(what string) *routers.RawSession {
		t.Helper()
		ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
		defer cancel()
		s, err := peer.Accept(ctx, 90)
		if err != nil {
			t.Fatalf("%s: the speaker's session did not come up: %v", what, err)
		}
		return s
	}
	s := accept("first session")
	defer func() { s.Close() }()
	counted := map[string]float64{}
	for _, tc := range malformedCases {
		t.Run(tc.name, func(t *testing.T) {
			if err := s.Send(tc.update(node.LAN4)); err != nil {
				t.Fatalf("sending: %v", err)
			}
			m, ok, err := s.Notification(3 * time.Second)
			switch tc.action {
			case "session-reset":
				if !ok {
					t.Fatalf("no NOTIFICATION within 3 s (%v), want 3/%d and a reset", err, tc.subcode)
				}
				if m.Code != 3 || m.Subcode != tc.subcode {
					t.Errorf("NOTIFICATION %d/%d, want 3/%d (UPDATE Message Error)", m.Code, m.Subcode, tc.subcode)
				}
				s.Close()
				s = accept("after " + tc.name)
			default:
				if ok || err != nil {
					t.Fatalf("the session ended (NOTIFICATION %d/%d, %v): want it kept (%s)", m.Code, m.Subcode, err, tc.action)
				}
				want := fmt.Sprintf(`"action":%q,"attribute":%q`, tc.action, tc.attr)
				eventually(t, 5*time.Second, "the speaker's warning naming "+tc.attr, func() (bool, string) {
					b, err := os.ReadFile(l.speakers[node.Name].log)
					if err != nil {
						return false, err.Error()
					}
					return strings.Contains(string(b), want), "no log line with " + want
				})
			}
			counted[tc.action]++
			for action, n := range counted {
				eventually(t, 5*time.Second, fmt.Sprintf("herald_bgp_malformed_updates_total{action=%q} at %v", action, n), func() (bool, string) {
					v, err := l.metric(node, "herald_bgp_malformed_updates_total", "name=crafted", "action="+action)
					if err != nil {
						return false, err.Error()
					}
					return v == n, fmt.Sprint(v)
				})
			}
		})
	}
	// The speaker is the process it was (it never exited: the harness
	// does not restart it), with no actor crashed or restarted.
	select {
	case <-l.speakers[node.Name].done:
		t.Fatalf("the speaker exited: %v", l.speakers[node.Name].err)
	default:
	}
	if b, err := os.ReadFile(l.speakers[node.Name].log); err == nil {
		for _, bad := range []string{"panic", "Restarting"} {
			if strings.Contains(string(b), bad) {
				t.Errorf("the speaker's log says %q: an actor crashed", bad)
			}
		}
	}
}

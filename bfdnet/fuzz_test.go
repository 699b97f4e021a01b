package bfdnet

import (
	"net/netip"
	"testing"
	"time"

	"github.com/heraldlb/herald/bgpwire/bfd"
)

// FuzzReceive feeds arbitrary datagrams to a Manager whose session is Up,
// from the peer's address or a stranger's, to the single-hop or multihop
// port, with any TTL. Whatever arrives, nothing panics and every datagram
// is counted exactly once: by the machine (PacketsIn), or as a TTL drop,
// a malformed packet or one for no session, on the session its addresses
// name or on the Manager.
func FuzzReceive(f *testing.F) {
	f.Add([]byte{0x20, 0xc0, 3, 24, 0, 0, 0, 1, 0, 0, 0, 2, 0, 1, 0x86, 0xa0, 0, 1, 0x86, 0xa0, 0, 0, 0, 0}, uint8(255), true, false)
	f.Add([]byte{0x20, 0x40, 3, 24, 0, 0, 0, 9, 0, 0, 0, 0, 0, 15, 0x42, 0x40, 0, 15, 0x42, 0x40, 0, 0, 0, 0}, uint8(255), false, false)
	f.Add([]byte{0x20, 0xc4, 3, 33, 0, 0, 0, 1, 0, 0, 0, 2, 0, 1, 0x86, 0xa0, 0, 1, 0x86, 0xa0, 0, 0, 0, 0, 1, 9, 1, 's', 'e', 'c', 'r', 'e', 't'}, uint8(255), true, true)
	f.Add([]byte{0x40}, uint8(254), true, false)
	f.Fuzz(func(t *testing.T, b []byte, ttl uint8, fromPeer, multihop bool) {
		s := newSim(t)
		a := s.add("a", []string{"192.0.2.1"}, nil)
		bh := s.add("b", []string{"192.0.2.2"}, nil)
		edit := func(c *SessionConfig) { c.Multihop = multihop }
		sa := a.session("192.0.2.2", profile(100, 3), edit)
		sb := bh.session("192.0.2.1", profile(100, 3), edit)
		s.run(time.Second)
		if sa.State() != bfd.Up {
			t.Fatalf("session not up: %s", sa.State())
		}
		if len(b) >= 12 && b[8]|b[9]|b[10]|b[11] == 0xff {
			// Aim some inputs at the real discriminator.
			d := sa.Discriminator()
			b[8], b[9], b[10], b[11] = byte(d>>24), byte(d>>16), byte(d>>8), byte(d)
		}
		from := netip.AddrPortFrom(netip.MustParseAddr("203.0.113.9"), 50000)
		if fromPeer {
			from = netip.AddrPortFrom(addrB, sb.Stats().SourcePort)
		}
		port := uint16(bfd.ControlPort)
		if multihop {
			port = bfd.MultihopPort
		}
		before := counted(sa, a.m)
		if err := s.net.inject(from, netip.AddrPortFrom(addrA, port), int(ttl), b); err != nil {
			t.Fatal(err)
		}
		p, ok := s.net.pop()
		if !ok {
			t.Fatal("injected datagram not queued")
		}
		s.deliver(p)
		if got := counted(sa, a.m); got != before+1 {
			t.Fatalf("datagram counted %d times", got-before)
		}
	})
}

// counted sums every counter a received datagram can land in.
func counted(s *Session, m *Manager) uint64 {
	st, ms := s.Stats(), m.Stats()
	return st.PacketsIn + st.TTLDrops + st.Malformed.Total() + ms.NoSession + ms.TTLDrops + ms.Malformed.Total()
}

package bgpnet

import (
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/heraldlb/herald/bgpwire/peer"
)

// linkLocalOf waits for the kernel's IPv6 link-local address of an
// interface in role's namespace and returns it with the interface as zone.
func (l *lab) linkLocalOf(role, ifname string) netip.Addr {
	l.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		var ll netip.Addr
		l.in(role, func() {
			ifi, err := net.InterfaceByName(ifname)
			if err != nil {
				l.t.Error(err)
				return
			}
			if lls, err := linkLocals(ifi); err == nil && len(lls) > 0 {
				ll = lls[0].WithZone(ifname)
			}
		})
		if ll.IsValid() {
			return ll
		}
		if time.Now().After(deadline) {
			l.t.Fatalf("%s has no link-local address on %s:\n%s", role, ifname, l.ip(role, "addr"))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// The next hops of a real connection, on both ends, for each family and
// for a source address on the loopback interface.
func TestNextHops(t *testing.T) {
	l := newLab(t, "h", "p")
	l.link("h", "h0", []string{"10.0.0.1/24", "2001:db8::1/64"}, "p", "p0", []string{"10.0.0.2/24", "2001:db8::2/64"})
	l.ip("h", "addr", "add", "10.99.0.1/32", "dev", "lo")
	l.ip("p", "route", "add", "10.99.0.1/32", "via", "10.0.0.1")
	l.reachable("p", "10.0.0.1", "2001:db8::1", "10.99.0.1")
	hLL, pLL := l.linkLocalOf("h", "h0"), l.linkLocalOf("p", "p0")
	peerSide := newListeners(t)

	for _, c := range []struct {
		name             string
		peer, source     string
		herald, peerSees peer.LocalAddrs
	}{
		{"ipv4", "10.0.0.2", "",
			peer.LocalAddrs{Transport: mustAddr("10.0.0.1"), IPv4: mustAddr("10.0.0.1"), IPv6: mustAddr("2001:db8::1"), LinkLocal: hLL},
			peer.LocalAddrs{Transport: mustAddr("10.0.0.2"), IPv4: mustAddr("10.0.0.2"), IPv6: mustAddr("2001:db8::2"), LinkLocal: pLL}},
		{"ipv6", "2001:db8::2", "",
			peer.LocalAddrs{Transport: mustAddr("2001:db8::1"), IPv4: mustAddr("10.0.0.1"), IPv6: mustAddr("2001:db8::1"), LinkLocal: hLL},
			peer.LocalAddrs{Transport: mustAddr("2001:db8::2"), IPv4: mustAddr("10.0.0.2"), IPv6: mustAddr("2001:db8::2"), LinkLocal: pLL}},
		{"source on lo: the interface towards the peer", "10.0.0.2", "10.99.0.1",
			peer.LocalAddrs{Transport: mustAddr("10.99.0.1"), IPv4: mustAddr("10.99.0.1"), IPv6: mustAddr("2001:db8::1"), LinkLocal: hLL},
			peer.LocalAddrs{Transport: mustAddr("10.0.0.2"), IPv4: mustAddr("10.0.0.2"), IPv6: mustAddr("2001:db8::2"), LinkLocal: pLL}},
		{"link-local session", pLL.WithZone("h0").String(), "",
			peer.LocalAddrs{Transport: hLL, IPv4: mustAddr("10.0.0.1"), IPv6: mustAddr("2001:db8::1"), LinkLocal: hLL},
			peer.LocalAddrs{Transport: pLL, IPv4: mustAddr("10.0.0.2"), IPv6: mustAddr("2001:db8::2"), LinkLocal: pLL}},
	} {
		t.Run(c.name, func(t *testing.T) {
			o := Options{Peer: mustAddr(c.peer), Port: testPort}
			herald := mustAddr("10.0.0.1")
			switch {
			case c.source != "":
				o.Source = mustAddr(c.source)
				herald = o.Source
			case o.Peer.Is6() && o.Peer.IsLinkLocalUnicast():
				herald = hLL.WithZone("p0")
			case o.Peer.Is6():
				herald = mustAddr("2001:db8::1")
			}
			r, accepted := l.register("p", peerSide, Options{Peer: herald, ListenPort: testPort})
			defer func() { _ = r.Close() }()
			conn, err := l.dial("h", o, failWithin)
			if err != nil {
				t.Fatal(err)
			}
			far := expectConn(t, accepted, conn)
			var got, gotFar peer.LocalAddrs
			var err1, err2 error
			l.in("h", func() { got, err1 = conn.NextHops() })
			l.in("p", func() { gotFar, err2 = far.NextHops() })
			if err1 != nil || err2 != nil {
				t.Fatal(err1, err2)
			}
			if got != c.herald {
				t.Errorf("Herald's end:\n got  %+v\n want %+v", got, c.herald)
			}
			if gotFar != c.peerSees {
				t.Errorf("the peer's end:\n got  %+v\n want %+v", gotFar, c.peerSees)
			}
		})
	}
}

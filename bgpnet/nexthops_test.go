package bgpnet

import (
	"net/netip"
	"testing"

	"github.com/heraldlb/herald/bgpwire/peer"
	"golang.org/x/sys/unix"
)

func addrs(specs ...any) []ifAddr {
	var out []ifAddr
	for i := 0; i < len(specs); i++ {
		a := ifAddr{prefix: netip.MustParsePrefix(specs[i].(string))}
		if i+1 < len(specs) {
			if f, ok := specs[i+1].(int); ok {
				a.flags = f
				i++
			}
		}
		out = append(out, a)
	}
	return out
}

func TestChooseNextHops(t *testing.T) {
	for _, c := range []struct {
		name      string
		transport string
		addrs     []ifAddr
		want      peer.LocalAddrs
	}{
		{"IPv4 session, dual-stack interface", "192.0.2.1",
			addrs("192.0.2.1/24", "2001:db8::1/64", "fe80::1/64"),
			peer.LocalAddrs{Transport: mustAddr("192.0.2.1"), IPv4: mustAddr("192.0.2.1"), IPv6: mustAddr("2001:db8::1"), LinkLocal: mustAddr("fe80::1%eth0")}},
		{"IPv6 session, dual-stack interface", "2001:db8::1",
			addrs("fe80::1/64", "192.0.2.1/24", "2001:db8::1/64"),
			peer.LocalAddrs{Transport: mustAddr("2001:db8::1"), IPv4: mustAddr("192.0.2.1"), IPv6: mustAddr("2001:db8::1"), LinkLocal: mustAddr("fe80::1%eth0")}},
		{"unnumbered: link-local transport, no global addresses", "fe80::1%eth0",
			addrs("fe80::1/64"),
			peer.LocalAddrs{Transport: mustAddr("fe80::1%eth0"), LinkLocal: mustAddr("fe80::1%eth0")}},
		{"unnumbered with addresses on the interface for next hops", "fe80::1%eth0",
			addrs("fe80::1/64", "10.1.1.1/32", "192.0.2.1/24", "2001:db8::1/64"),
			peer.LocalAddrs{Transport: mustAddr("fe80::1%eth0"), IPv4: mustAddr("192.0.2.1"), IPv6: mustAddr("2001:db8::1"), LinkLocal: mustAddr("fe80::1%eth0")}},
		{"IPv4 only interface", "192.0.2.1",
			addrs("192.0.2.1/24"),
			peer.LocalAddrs{Transport: mustAddr("192.0.2.1"), IPv4: mustAddr("192.0.2.1")}},
		{"host routes after subnet addresses", "2001:db8::1",
			addrs("198.51.100.7/32", "192.0.2.1/24", "2001:db8::1/64"),
			peer.LocalAddrs{Transport: mustAddr("2001:db8::1"), IPv4: mustAddr("192.0.2.1"), IPv6: mustAddr("2001:db8::1")}},
		{"only a host route: taken", "2001:db8::1",
			addrs("198.51.100.7/32", "2001:db8::1/64"),
			peer.LocalAddrs{Transport: mustAddr("2001:db8::1"), IPv4: mustAddr("198.51.100.7"), IPv6: mustAddr("2001:db8::1")}},
		{"primary before secondary", "2001:db8::1",
			addrs("192.0.2.9/24", unix.IFA_F_SECONDARY, "192.0.2.1/24", "2001:db8::1/64"),
			peer.LocalAddrs{Transport: mustAddr("2001:db8::1"), IPv4: mustAddr("192.0.2.1"), IPv6: mustAddr("2001:db8::1")}},
		{"unusable IPv6 addresses skipped", "192.0.2.1",
			addrs("2001:db8::a/64", unix.IFA_F_TENTATIVE, "2001:db8::b/64", unix.IFA_F_DEPRECATED,
				"2001:db8::c/64", unix.IFA_F_DADFAILED, "fe80::9/64", unix.IFA_F_TENTATIVE, "2001:db8::d/64", "fe80::1/64"),
			peer.LocalAddrs{Transport: mustAddr("192.0.2.1"), IPv4: mustAddr("192.0.2.1"), IPv6: mustAddr("2001:db8::d"), LinkLocal: mustAddr("fe80::1%eth0")}},
		{"unique local addresses are global next hops", "192.0.2.1",
			addrs("fd00::1/64"),
			peer.LocalAddrs{Transport: mustAddr("192.0.2.1"), IPv4: mustAddr("192.0.2.1"), IPv6: mustAddr("fd00::1")}},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := chooseNextHops(mustAddr(c.transport), "eth0", c.addrs)
			if got != c.want {
				t.Errorf("got  %+v\nwant %+v", got, c.want)
			}
		})
	}
}

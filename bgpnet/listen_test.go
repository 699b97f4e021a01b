package bgpnet

import (
	"net/netip"
	"testing"
)

// The accept loop's match: the address, and for a link-local one the
// interface too.
func TestListenerMatch(t *testing.T) {
	reg := func(peer string, ifindex int) *Registration {
		a := mustAddr(peer)
		return &Registration{opts: Options{Peer: a}, addr: a.Unmap().WithZone(""), ifindex: ifindex}
	}
	v4, v6, llOn2, llOn3 := reg("192.0.2.1", 0), reg("2001:db8::1", 0), reg("fe80::1%eth0", 2), reg("fe80::2%eth1", 3)
	l := &listener{regs: []*Registration{v4, v6, llOn2, llOn3}}
	for _, c := range []struct {
		name    string
		from    string
		ifindex int
		want    *Registration
	}{
		{"IPv4 peer", "192.0.2.1", 0, v4},
		{"IPv6 peer", "2001:db8::1", 0, v6},
		{"IPv6 peer, whatever the interface", "2001:db8::1", 7, v6},
		{"unknown IPv4", "192.0.2.2", 0, nil},
		{"unknown IPv6", "2001:db8::2", 0, nil},
		{"link-local peer on its interface", "fe80::1", 2, llOn2},
		{"link-local peer on another interface", "fe80::1", 3, nil},
		{"the other link-local peer", "fe80::2", 3, llOn3},
		{"link-local address of nobody", "fe80::3", 2, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := l.match(netip.MustParseAddr(c.from), c.ifindex); got != c.want {
				t.Errorf("matched %v, want %v", regName(got), regName(c.want))
			}
		})
	}
}

func regName(r *Registration) string {
	if r == nil {
		return "none"
	}
	return r.opts.Peer.String()
}

package netlab

import (
	"context"
	"net/netip"
	"testing"
	"time"
)

// TestECMPSpreadsConnections: with an ECMP route through two nodes, the
// router spreads one client's connections to one service IP over both
// (it hashes on ports), for IPv4 and IPv6. With the kernel's default L3
// hash every IPv4 connection takes the same node (IPv6 spreads anyway: its
// L3 hash includes the flow label, random per connection).
func TestECMPSpreadsConnections(t *testing.T) {
	t.Parallel()
	l := NewForTest(t, Options{Nodes: 2})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	n1, n2 := l.Nodes[0], l.Nodes[1]
	for _, c := range []struct {
		svc        netip.Addr
		via1, via2 netip.Addr
	}{
		{l.BGPPool4.Addr().Next(), n1.LAN4, n2.LAN4},
		{l.BGPPool6.Addr().Next(), n1.LAN6, n2.LAN6},
	} {
		for _, n := range l.Nodes {
			if _, err := l.StartBackend(ctx, n.Name, netip.AddrPortFrom(c.svc, 80)); err != nil {
				t.Fatal(err)
			}
		}
		dst := netip.PrefixFrom(c.svc, c.svc.BitLen())
		if _, err := l.Exec(ctx, "router", "ip", "route", "add", dst.String(),
			"nexthop", "via", c.via1.String(), "dev", "eth0", "nexthop", "via", c.via2.String(), "dev", "eth0"); err != nil {
			t.Fatal(err)
		}
		seen := map[string]int{}
		for i := 0; i < 40; i++ {
			body, err := l.HTTPGetFromClient(ctx, ServiceURL(netip.AddrPortFrom(c.svc, 80)))
			if err != nil {
				t.Fatal(err)
			}
			seen[body]++
		}
		if seen[n1.Name] == 0 || seen[n2.Name] == 0 {
			t.Errorf("40 connections to %s over an ECMP route: %v, want both nodes", c.svc, seen)
		}
		t.Logf("%s: %v", c.svc, seen)
	}
}

package routers

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/heraldlb/herald/testbed/netlab"
)

// TestECMP: two nodes in different ASes announce the same service /32
// (what Herald's speakers do for a Service with endpoints on both); each
// router installs one kernel route with both next hops, and the client's
// request is answered by one of the nodes.
func TestECMP(t *testing.T) {
	for _, kind := range []string{"frr", "bird"} {
		t.Run(kind, func(t *testing.T) {
			parallelUnlessRace(t)
			lab := netlab.NewForTest(t, netlab.Options{Nodes: 2})
			n1, n2 := lab.Nodes[0], lab.Nodes[1]
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			svc := lab.BGPPool4.Addr().Next()
			pfx := netip.PrefixFrom(svc, 32)
			for i, n := range []netlab.Host{n1, n2} {
				g := startGoBGP(t, n, uint32(64513+i), GoBGPPeer{Address: lab.Router.LAN4, ASN: routerASN})
				if err := g.Announce(ctx, Announcement{Prefix: pfx, NextHop: n.LAN4}); err != nil {
					t.Fatal(err)
				}
				if _, err := lab.StartBackend(ctx, n.Name, netip.AddrPortFrom(svc, 80)); err != nil {
					t.Fatal(err)
				}
			}
			// The speakers listen before the router first connects: a refused
			// connection makes FRR and BIRD back off for seconds.
			r := newRouter(t, kind, lab, lab.Router.NS, routerASN, []Neighbor{
				{Address: n1.LAN4, ASN: 64513},
				{Address: n2.LAN4, ASN: 64514},
			})
			err := netlab.Eventually(ctx, 100*time.Millisecond, func(ctx context.Context) error {
				rs, err := r.Routes(ctx)
				if err != nil {
					return err
				}
				got, ok := FindRoute(rs, pfx)
				if !ok || len(got.Paths) != 2 {
					return fmt.Errorf("%s route to %s: %+v, want two paths", kind, pfx, got)
				}
				if kind == "frr" && !(slices.Contains(got.NextHops, n1.LAN4) && slices.Contains(got.NextHops, n2.LAN4)) {
					return fmt.Errorf("frr multipath next hops %v, want %s and %s", got.NextHops, n1.LAN4, n2.LAN4)
				}
				rt, ok, err := lab.RouteTo(ctx, lab.Router.NS, pfx)
				if err != nil {
					return err
				}
				var gws []netip.Addr
				for _, nh := range rt.NextHops {
					gws = append(gws, nh.Gateway)
				}
				if !ok || !slices.Contains(gws, n1.LAN4) || !slices.Contains(gws, n2.LAN4) {
					return fmt.Errorf("kernel route to %s in %s: %+v, want ECMP via %s and %s", pfx, lab.Router.NS, rt, n1.LAN4, n2.LAN4)
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			body, err := lab.HTTPGetFromClient(ctx, netlab.ServiceURL(netip.AddrPortFrom(svc, 80)))
			if err != nil {
				t.Fatal(err)
			}
			if body != n1.Name && body != n2.Name {
				t.Fatalf("GET from client = %q, want node1 or node2", body)
			}
		})
	}
}

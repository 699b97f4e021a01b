package e2e

import (
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/heraldlb/herald/testbed/routers"
)

// An API server outage: kube-apiserver stops (15 s here, 60 s under
// HERALD_SOAK) while the client sends a request every 10 ms through the
// router. The speakers keep what they announce: the router holds the
// Service's route through all three nodes for the whole outage (checked
// every second) and no request fails. Right after the API server returns,
// a new Service is created and node3 is cordoned: both are applied (the new
// Service's route reaches the router from every node but node3, and the
// first Service's route leaves node3), so the speakers' watches came back.
func TestBGPAPIServerOutage(t *testing.T) {
	outage := 15 * time.Second
	if soak() {
		outage = 60 * time.Second
	}
	for _, router := range bgpRouters {
		t.Run(router, func(t *testing.T) {
			l, s := rolloutLab(t, router, false)
			host := netip.PrefixFrom(s.ip4(), 32)
			all := l.nodeAddrs(true)
			p := l.probeEvery(s.ip4(), 10*time.Millisecond)

			l.cp.StopAPIServer()
			stopped := time.Now()
			t.Logf("kube-apiserver stopped for %s", outage)
			for time.Since(stopped) < outage {
				time.Sleep(time.Second)
				r, err := l.router.Routes(t.Context())
				if err != nil {
					t.Fatal(err)
				}
				got, _ := routers.FindRoute(r, host)
				if !slices.Equal(nextHops(got), all) {
					t.Errorf("%s into the outage the router routes %s via %v, want %v", time.Since(stopped).Round(time.Second), host, nextHops(got), all)
				}
			}
			if err := l.cp.StartAPIServer(t.Context()); err != nil {
				t.Fatalf("starting kube-apiserver again: %v", err)
			}
			t.Logf("kube-apiserver back after %s", time.Since(stopped).Round(time.Millisecond))
			p.report(t, "outage", false)

			back := time.Now()
			l.cordon("node3", true)
			s2 := l.newSvc("after", svcOpts{})
			l.routeVia(netip.PrefixFrom(s2.ip4(), 32), l.nodeAddrs(true, "node1", "node2"))
			l.routeVia(host, l.nodeAddrs(true, "node1", "node2"))
			l.took("the changes made after the outage at the router", back)
		})
	}
}

package e2e

import (
	"fmt"
	"net/netip"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/heraldlb/herald/testbed/netlab"
	"github.com/heraldlb/herald/testbed/routers"
)

// rolloutLab is the lab of the rollout and drain tests: the OKD basic
// pool and advertisement, BGPPeers towards the router (with graceful
// restart when gr, on both ends), and one Service on all three nodes whose
// IPv4 route the router holds through all of them.
func rolloutLab(t *testing.T, router string, gr bool) (*speakerLab, *lbSvc) {
	t.Helper()
	o := speakerLabOptions{neighbors: func(lab *netlab.Lab) []routers.Neighbor {
		var ns []routers.Neighbor
		for _, n := range lab.Nodes {
			ns = append(ns, routers.Neighbor{Address: n.LAN4, ASN: bgpModeASN, GracefulRestart: gr})
		}
		return ns
	}}
	l := bgpModeLab(t, router, o)
	l.kubectlApply(okdBasicPool)
	l.kubectlApply(okdBasicAdvertisement)
	peer := l.labPeers("peer")
	if gr {
		peer = l.labPeers("peer", "enableGracefulRestart: true")
	}
	l.kubectlApply(peer)
	s := l.newSvc("web", svcOpts{})
	l.routeVia(netip.PrefixFrom(s.ip4(), 32), l.nodeAddrs(true))
	l.kernelRouteVia(netip.PrefixFrom(s.ip4(), 32), l.nodeAddrs(true))
	return l, s
}

// A rollout of the speakers while the client sends a request every 10 ms
// through the router: each speaker in turn gets SIGTERM, exits and starts
// again, and the next one goes once the router has the route through all
// three nodes again. No request fails: without graceful restart a stopping
// speaker withdraws before it closes, so the router stops using the node
// before anything is missing; with it, the router keeps the node's route
// while the speaker restarts.
func TestBGPRollout(t *testing.T) {
	for _, gr := range []bool{false, true} {
		for _, router := range bgpRouters {
			name := router + "/withdraw"
			if gr {
				name = router + "/graceful-restart"
			}
			t.Run(name, func(t *testing.T) {
				l, s := rolloutLab(t, router, gr)
				host := netip.PrefixFrom(s.ip4(), 32)
				p := l.probeEvery(s.ip4(), 10*time.Millisecond)
				for _, n := range l.lab.Nodes {
					start := time.Now()
					l.speakers[n.Name].stop(10 * time.Second)
					stopped := time.Since(start)
					r, err := l.router.Routes(t.Context())
					if err != nil {
						t.Fatal(err)
					}
					got, _ := routers.FindRoute(r, host)
					t.Logf("%s stopped in %s; the router's route: %v", n.Name, stopped.Round(time.Millisecond), nextHops(got))
					if gr && !slices.Contains(nextHops(got), n.LAN4) {
						// Graceful restart is what keeps the node's
						// route while its speaker is away.
						t.Errorf("with graceful restart the router dropped the route through %s when its speaker stopped: %v", n.Name, nextHops(got))
					}
					l.startSpeaker(n)
					// The next speaker goes only once this one is back:
					// its session is up again (with graceful restart the
					// stale route alone would not say so) and the route
					// goes through all three nodes.
					l.routerSession(t, n, true, 30*time.Second)
					l.routeVia(host, l.nodeAddrs(true))
					t.Logf("%s restarted: session up and route through all three nodes again %s after SIGTERM", n.Name, time.Since(start).Round(time.Millisecond))
				}
				p.report(t, "rollout", !gr)
			})
		}
	}
}

// A drain: node1 is cordoned; once Herald reports that node1 no longer
// announces the Service (its ServiceBGPStatus goes; by then the router's
// BGP RIB must have dropped node1) and the router forwards without node1,
// node1's backend stops as a drain would stop its pods. The client,
// sending a request every 10 ms through the router, sees no failure.
//
// The control proves the test can fail: the same steps with node1's
// withdrawal on cordon switched off (node1's speaker is frozen with
// SIGSTOP before the cordon, so it cannot act on it; it keeps its session
// and its route at the router), waiting as long as the drain took, show
// failed requests once the backend stops.
func TestBGPDrain(t *testing.T) {
	for _, router := range bgpRouters {
		t.Run(router, func(t *testing.T) {
			took := testBGPDrain(t, router, false, 0)
			t.Run("withdrawal-off", func(t *testing.T) { testBGPDrain(t, router, true, took) })
		})
	}
}

func testBGPDrain(t *testing.T, router string, frozen bool, wait time.Duration) time.Duration {
	l, s := rolloutLab(t, router, false)
	others := l.nodeAddrs(true, "node2", "node3")
	if frozen {
		sp := l.speakers["node1"]
		if err := sp.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = sp.cmd.Process.Signal(syscall.SIGCONT) })
	}
	p := l.probeEvery(s.ip4(), 10*time.Millisecond)
	time.Sleep(500 * time.Millisecond) // some requests before
	start := time.Now()
	l.cordon("node1", true)
	if frozen {
		time.Sleep(wait)
	} else {
		eventually(t, 30*time.Second, "node1's ServiceBGPStatus of the Service goes", func() (bool, string) {
			nodes, err := l.bgpStatusNodes(s)
			if err != nil {
				return false, err.Error()
			}
			return !slices.Contains(nodes, "node1"), fmt.Sprint(nodes)
		})
	}
	took := time.Since(start)
	r, err := l.router.Routes(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	got, _ := routers.FindRoute(r, netip.PrefixFrom(s.ip4(), 32))
	t.Logf("%s after the cordon the router routes %s via %v", took.Round(time.Millisecond), got.Prefix, nextHops(got))
	if !frozen && !slices.Equal(nextHops(got), others) {
		t.Errorf("Herald reported node1 no longer announces, but the router's route is via %v, want %v", nextHops(got), others)
	}
	if !frozen {
		// bgpd's RIB is not yet the router's forwarding: zebra installs
		// the route in the kernel a moment later (in one full-suite run a
		// request reached node1 after its backend stopped although bgpd's
		// RIB had already dropped it). A drain's pods stop seconds after
		// the cordon; the test stops the backend at the first moment the
		// router forwards without node1, so that moment is the router's.
		l.kernelRouteVia(netip.PrefixFrom(s.ip4(), 32), others)
		t.Logf("%s after the cordon the router's kernel routes without node1", time.Since(start).Round(time.Millisecond))
	}
	l.stopBackends(s, "node1")
	time.Sleep(time.Second) // requests after the backend went
	if !frozen {
		p.report(t, "drain", true)
		return took
	}
	p.end()
	total, answered, failures := p.counts()
	t.Logf("with the withdrawal off: %d requests, answered by %v, %d failed", total, answered, len(failures))
	if len(failures) == 0 {
		t.Errorf("with node1's withdrawal on cordon off, no request failed after node1's backend stopped: the drain test could not fail")
	}
	return took
}

// A speaker killed (SIGKILL: no withdrawal, no NOTIFICATION, the kernel
// closes its connection) and started again, while the client sends a
// request every 10 ms through FRR. With graceful restart FRR keeps the
// node's route as stale while the speaker is away and no request fails;
// without it FRR withdraws the route through the node at once (the node's
// backend still serves, so requests move to the other two). Either way the
// restarted speaker's session and route come back.
func TestBGPSpeakerKilled(t *testing.T) {
	for _, gr := range []bool{true, false} {
		name := "graceful-restart"
		if !gr {
			name = "withdraw"
		}
		t.Run(name, func(t *testing.T) {
			l, s := rolloutLab(t, "frr", gr)
			host := netip.PrefixFrom(s.ip4(), 32)
			n := l.lab.Nodes[0]
			p := l.probeEvery(s.ip4(), 10*time.Millisecond)
			sp := l.speakers[n.Name]
			if err := sp.cmd.Process.Kill(); err != nil {
				t.Fatal(err)
			}
			<-sp.done
			killed := time.Now()
			l.routerSession(t, n, false, 10*time.Second)
			want := l.nodeAddrs(true)
			if !gr {
				want = slices.DeleteFunc(slices.Clone(want), func(a netip.Addr) bool { return a == n.LAN4 })
			}
			// With graceful restart the stale route must hold for the
			// whole absence: checked for 3 s, every 100 ms.
			for end := time.Now().Add(3 * time.Second); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
				r, err := l.router.Routes(t.Context())
				if err != nil {
					t.Fatal(err)
				}
				got, _ := routers.FindRoute(r, host)
				if gr && !slices.Equal(nextHops(got), want) {
					t.Fatalf("%s after the kill FRR routes %s via %v, want %v kept (graceful restart)", time.Since(killed).Round(time.Millisecond), host, nextHops(got), want)
				}
				if !gr && slices.Equal(nextHops(got), want) {
					break
				}
			}
			if !gr {
				l.routeVia(host, want)
			}
			l.startSpeaker(n)
			l.routerSession(t, n, true, 30*time.Second)
			l.routeVia(host, l.nodeAddrs(true))
			t.Logf("%s back: session up and route through all three nodes %s after the kill", n.Name, time.Since(killed).Round(time.Millisecond))
			if gr {
				p.report(t, "kill and restart with graceful restart", false)
				return
			}
			p.end()
			total, answered, failures := p.counts()
			t.Logf("kill and restart without graceful restart: %d requests, answered by %v, %d failed", total, answered, len(failures))
		})
	}
}

// routerSession waits up to timeout until the router's session with n's
// IPv4 address is Established (up) or is not (!up).
func (l *speakerLab) routerSession(t *testing.T, n netlab.Host, up bool, timeout time.Duration) {
	t.Helper()
	what := n.Name + "'s session Established at the router"
	if !up {
		what = n.Name + "'s session down at the router"
	}
	eventually(t, timeout, what, func() (bool, string) {
		st, err := l.router.SessionState(t.Context(), n.LAN4)
		if err != nil {
			return false, err.Error()
		}
		return (st == "Established") == up, st
	})
}

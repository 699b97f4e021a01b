package routers

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/heraldlb/herald/testbed/netlab"
)

func TestMain(m *testing.M) {
	if netlab.IsRoot() {
		_, _ = netlab.CleanupStale(context.Background(), nil, netlab.DefaultPrefix)
	}
	m.Run()
}

// testLog is a slog logger writing to t.Log until the test ends (GoBGP's
// goroutines outlive tests; logging after the end would panic).
func testLog(t *testing.T) *slog.Logger {
	w := &gatedWriter{t: t}
	t.Cleanup(func() { w.mu.Lock(); w.done = true; w.mu.Unlock() })
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

type gatedWriter struct {
	mu   sync.Mutex
	t    *testing.T
	done bool
}

func (w *gatedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.done {
		w.t.Log(strings.TrimRight(string(p), "\n"))
	}
	return len(p), nil
}

// parallelUnlessRace marks a test that runs GoBGP parallel, except under
// the race detector (see raceEnabled).
func parallelUnlessRace(t *testing.T) {
	if !raceEnabled {
		t.Parallel()
	}
}

const (
	routerASN = 64512
	nodeASN   = 64513
)

// newRouter builds an FRR or BIRD router in the lab's router namespace and
// stops it at cleanup, dumping its configuration and logs if the test
// failed.
func newRouter(t *testing.T, kind string, lab *netlab.Lab, ns string, asn uint32, neighbors []Neighbor) Router {
	t.Helper()
	cfg := Config{
		Name: kind, Namespace: ns, Dir: filepath.Join(lab.Dir, kind+"-"+ns),
		ASN: asn, RouterID: lab.Router.LAN4, Neighbors: neighbors, Log: testLog(t),
	}
	if ns != lab.Router.NS {
		h, _ := lab.Host(ns)
		cfg.RouterID = h.LAN4
	}
	var r Router
	var err error
	switch kind {
	case "frr":
		r, err = NewFRR(cfg)
	case "bird":
		r, err = NewBIRD(cfg)
	default:
		t.Fatalf("unknown router kind %q", kind)
	}
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := r.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("%s configuration:\n%s\n%s logs:\n%s", kind, r.Config(), kind, r.Logs())
		}
		_ = r.Stop()
	})
	return r
}

// startGoBGP runs GoBGP in a node namespace with one passive peer (the
// router), stopped at cleanup.
func startGoBGP(t *testing.T, h netlab.Host, asn uint32, peers ...GoBGPPeer) *GoBGP {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	g, err := StartGoBGP(ctx, GoBGPConfig{Namespace: h.NS, ASN: asn, RouterID: h.LAN4, Log: testLog(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("gobgp in %s:\n%s", h.NS, g.Logs())
		}
		_ = g.Stop()
	})
	for _, p := range peers {
		if err := g.AddPeer(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	return g
}

func waitEstablished(ctx context.Context, t *testing.T, r Router, n netip.Addr) {
	t.Helper()
	err := netlab.Eventually(ctx, 100*time.Millisecond, func(ctx context.Context) error {
		s, err := r.SessionState(ctx, n)
		if err != nil {
			return err
		}
		if s != "Established" {
			return fmt.Errorf("%s session with %s is %s", r.Kind(), n, s)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func waitRoute(ctx context.Context, t *testing.T, r Router, p netip.Prefix) Route {
	t.Helper()
	var got Route
	err := netlab.Eventually(ctx, 100*time.Millisecond, func(ctx context.Context) error {
		rs, err := r.Routes(ctx)
		if err != nil {
			return err
		}
		var ok bool
		if got, ok = FindRoute(rs, p); !ok {
			return fmt.Errorf("%s has no route to %s (has %v)", r.Kind(), p, rs)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// TestRouterWithGoBGP is the lab's own proof, against FRR and BIRD alike:
// node1 runs GoBGP over eBGP (v4 and v6), node2 runs GoBGP over iBGP with
// a TCP MD5 password. Routes come back with communities, large
// communities, AS path, MED and (iBGP) local-pref; the router installs them
// in its kernel table, and the client reaches node1's backend through it.
func TestRouterWithGoBGP(t *testing.T) {
	for _, kind := range []string{"frr", "bird"} {
		t.Run(kind, func(t *testing.T) {
			parallelUnlessRace(t)
			lab := netlab.NewForTest(t, netlab.Options{Nodes: 2})
			n1, n2 := lab.Nodes[0], lab.Nodes[1]
			ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
			defer cancel()

			g1 := startGoBGP(t, n1, nodeASN,
				GoBGPPeer{Address: lab.Router.LAN4, ASN: routerASN},
				GoBGPPeer{Address: lab.Router.LAN6, ASN: routerASN})
			g2 := startGoBGP(t, n2, routerASN,
				GoBGPPeer{Address: lab.Router.LAN4, ASN: routerASN, Password: "s3cret", GracefulRestart: true})
			// The speakers listen before the router first connects: a refused
			// connection makes FRR and BIRD back off for seconds.
			r := newRouter(t, kind, lab, lab.Router.NS, routerASN, []Neighbor{
				{Address: n1.LAN4, ASN: nodeASN},
				{Address: n1.LAN6, ASN: nodeASN},
				{Address: n2.LAN4, ASN: routerASN, Password: "s3cret", GracefulRestart: true},
			})

			svc4 := lab.BGPPool4.Addr().Next()
			svc6 := lab.BGPPool6.Addr().Next()
			svcIBGP := svc4.Next()
			anns := []struct {
				g *GoBGP
				a Announcement
			}{
				{g1, Announcement{Prefix: netip.PrefixFrom(svc4, 32), NextHop: n1.LAN4,
					Communities: []string{"65000:100", "65000:200"}, LargeCommunities: []string{"65000:1:2"},
					MED: 7, HasMED: true}},
				{g1, Announcement{Prefix: netip.PrefixFrom(svc6, 128), NextHop: n1.LAN6,
					Communities: []string{"65000:600"}, LargeCommunities: []string{"65000:6:6"}}},
				{g2, Announcement{Prefix: netip.PrefixFrom(svcIBGP, 32), NextHop: n2.LAN4,
					Communities: []string{"65000:300"}, LargeCommunities: []string{"64512:3:4"}, LocalPref: 250}},
			}
			for _, a := range anns {
				if err := a.g.Announce(ctx, a.a); err != nil {
					t.Fatal(err)
				}
			}
			for _, n := range []netip.Addr{n1.LAN4, n1.LAN6, n2.LAN4} {
				waitEstablished(ctx, t, r, n)
			}

			got := waitRoute(ctx, t, r, netip.PrefixFrom(svc4, 32))
			checkPath(t, got, n1.LAN4, []uint32{nodeASN}, anns[0].a, false)
			got = waitRoute(ctx, t, r, netip.PrefixFrom(svc6, 128))
			checkPath(t, got, n1.LAN6, []uint32{nodeASN}, anns[1].a, false)
			got = waitRoute(ctx, t, r, netip.PrefixFrom(svcIBGP, 32))
			checkPath(t, got, n2.LAN4, nil, anns[2].a, true)

			// GoBGP's side of the session, and what it received: FRR passes
			// node2's iBGP route on to node1 over eBGP, keeping node2 as the
			// (third-party) next hop on the shared segment; BIRD exports
			// nothing.
			if s, err := g1.PeerState(ctx, lab.Router.LAN4); err != nil || s != "Established" {
				t.Errorf("gobgp peer state = %q, %v; want Established", s, err)
			}
			if kind == "frr" {
				err := netlab.Eventually(ctx, 100*time.Millisecond, func(ctx context.Context) error {
					rs, err := g1.Received(ctx, lab.Router.LAN4)
					if err != nil {
						return err
					}
					got, ok := FindRoute(rs, netip.PrefixFrom(svcIBGP, 32))
					if !ok || len(got.Paths) != 1 || !slices.Equal(got.Paths[0].ASPath, []uint32{routerASN}) ||
						got.Paths[0].NextHop != n2.LAN4 || !slices.Equal(got.Paths[0].Communities, []string{"65000:300"}) {
						return fmt.Errorf("gobgp received from frr: %+v, want %s via %s, AS path [%d], community 65000:300",
							rs, svcIBGP, n2.LAN4, routerASN)
					}
					return nil
				})
				if err != nil {
					t.Error(err)
				}
			}

			// BFD is not configured: no session.
			if s, err := r.BFDState(ctx, n1.LAN4); err == nil {
				t.Errorf("BFDState without BFD = %q, want an error", s)
			}

			// The router's kernel routes the client's traffic to node1.
			for _, c := range []struct{ svc, via netip.Addr }{{svc4, n1.LAN4}, {svc6, n1.LAN6}} {
				dst := netip.PrefixFrom(c.svc, c.svc.BitLen())
				err := netlab.Eventually(ctx, 100*time.Millisecond, func(ctx context.Context) error {
					rt, ok, err := lab.RouteTo(ctx, lab.Router.NS, dst)
					if err != nil {
						return err
					}
					if !ok || len(rt.NextHops) != 1 || rt.NextHops[0].Gateway != c.via {
						return fmt.Errorf("kernel route to %s in %s = %+v (found %v), want via %s", dst, lab.Router.NS, rt, ok, c.via)
					}
					return nil
				})
				if err != nil {
					t.Fatal(err)
				}
				addr := netip.AddrPortFrom(c.svc, 80)
				if _, err := lab.StartBackend(ctx, n1.Name, addr); err != nil {
					t.Fatal(err)
				}
				body, err := lab.HTTPGetFromClient(ctx, netlab.ServiceURL(addr))
				if err != nil {
					t.Fatal(err)
				}
				if body != n1.Name {
					t.Fatalf("GET %s from client = %q, want %q", addr, body, n1.Name)
				}
			}
		})
	}
}

func checkPath(t *testing.T, r Route, nh netip.Addr, asPath []uint32, a Announcement, ibgp bool) {
	t.Helper()
	p, ok := r.Best()
	if !ok {
		t.Fatalf("route %s has no best path: %+v", r.Prefix, r)
	}
	if p.NextHop != nh || !slices.Contains(r.NextHops, nh) {
		t.Errorf("route %s: next hop %s (route next hops %v), want %s", r.Prefix, p.NextHop, r.NextHops, nh)
	}
	if !slices.Equal(p.ASPath, asPath) {
		t.Errorf("route %s: AS path %v, want %v", r.Prefix, p.ASPath, asPath)
	}
	if !sameSet(p.Communities, a.Communities) {
		t.Errorf("route %s: communities %v, want %v", r.Prefix, p.Communities, a.Communities)
	}
	if !sameSet(p.LargeCommunities, a.LargeCommunities) {
		t.Errorf("route %s: large communities %v, want %v", r.Prefix, p.LargeCommunities, a.LargeCommunities)
	}
	if ibgp && (!p.HasLocalPref || p.LocalPref != a.LocalPref) {
		t.Errorf("route %s: local-pref %d (set %v), want %d", r.Prefix, p.LocalPref, p.HasLocalPref, a.LocalPref)
	}
	if a.HasMED && (!p.HasMED || p.MED != a.MED) {
		t.Errorf("route %s: MED %d (set %v), want %d", r.Prefix, p.MED, p.HasMED, a.MED)
	}
	if p.Peer.IsValid() && p.Peer != nh {
		t.Errorf("route %s: from peer %s, want %s", r.Prefix, p.Peer, nh)
	}
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

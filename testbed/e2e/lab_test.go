package e2e

import (
	"context"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/heraldlb/herald/testbed/labtest"
	"github.com/heraldlb/herald/testbed/netlab"
	"github.com/heraldlb/herald/testbed/routers"
)

// The lab's AS numbers: the router, an eBGP speaker on node1 and an iBGP
// speaker on node2 (local-pref only travels over iBGP).
const (
	labRouterASN = 64512
	labEBGPASN   = 64513
)

// TestLab proves the lab itself, with each router: the API server serves
// Herald's CRDs and rejects an invalid object through the CRD's rules; the
// router establishes sessions with in-process GoBGP peers and reads back
// their routes with communities, large communities and local-pref; and the
// client reaches a node's HTTP backend through the router on the learned
// route.
func TestLab(t *testing.T) {
	for _, kind := range []string{"frr", "bird"} {
		t.Run(kind, func(t *testing.T) { testLab(t, kind) })
	}
}

func testLab(t *testing.T, kind string) {
	env := labtest.Start(t, labtest.Options{
		Nodes: 2, Router: kind, RouterLater: true, ControlPlane: true,
		Neighbors: func(l *netlab.Lab) []routers.Neighbor {
			return []routers.Neighbor{
				{Address: l.Nodes[0].LAN4, ASN: labEBGPASN},
				{Address: l.Nodes[1].LAN4, ASN: labRouterASN},
			}
		},
	})
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	lab := env.Lab

	// The API server: a valid pool is stored, an invalid one is refused
	// with a message naming the field.
	if _, err := env.ControlPlane.ApplyYAML(ctx, []byte(`apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: good, namespace: metallb-system}
spec: {addresses: [192.0.2.0/28]}
`)); err != nil && !strings.Contains(err.Error(), "namespaces \"metallb-system\" not found") {
		t.Fatalf("a valid IPAddressPool was refused: %v", err)
	}
	_, err := env.ControlPlane.ApplyYAML(ctx, []byte(`apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: bad, namespace: default}
spec: {addresses: [not-an-address]}
`))
	if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), "spec.addresses[0]") {
		t.Fatalf("an IPAddressPool with a bad address: got %v, want Invalid naming spec.addresses[0]", err)
	}

	// GoBGP listens first: FRR and BIRD back off after a refused connect.
	ebgp := startGoBGP(t, lab.Nodes[0], labEBGPASN, routers.GoBGPPeer{Address: lab.Router.LAN4, ASN: labRouterASN})
	ibgp := startGoBGP(t, lab.Nodes[1], labRouterASN, routers.GoBGPPeer{Address: lab.Router.LAN4, ASN: labRouterASN})
	router := env.StartRouter()
	for _, n := range lab.Nodes {
		waitFor(ctx, t, "session with "+n.Name+" Established", func(ctx context.Context) (bool, error) {
			s, err := router.SessionState(ctx, n.LAN4)
			return s == "Established", err
		})
	}

	svc := lab.BGPPool4.Addr().Next()
	other := svc.Next()
	if err := ebgp.Announce(ctx, routers.Announcement{Prefix: netip.PrefixFrom(svc, 32), NextHop: lab.Nodes[0].LAN4,
		Communities: []string{"65000:100", "65535:65281"}, LargeCommunities: []string{"64513:1:2"}}); err != nil {
		t.Fatal(err)
	}
	if err := ibgp.Announce(ctx, routers.Announcement{Prefix: netip.PrefixFrom(other, 32), NextHop: lab.Nodes[1].LAN4,
		LocalPref: 250, Communities: []string{"8000:800"}}); err != nil {
		t.Fatal(err)
	}
	var ebgpPath, ibgpPath routers.Path
	waitFor(ctx, t, "both routes at the router", func(ctx context.Context) (bool, error) {
		rs, err := router.Routes(ctx)
		if err != nil {
			return false, err
		}
		r1, ok1 := routers.FindRoute(rs, netip.PrefixFrom(svc, 32))
		r2, ok2 := routers.FindRoute(rs, netip.PrefixFrom(other, 32))
		if !ok1 || !ok2 {
			return false, nil
		}
		ebgpPath, _ = r1.Best()
		ibgpPath, _ = r2.Best()
		return true, nil
	})
	if ebgpPath.NextHop != lab.Nodes[0].LAN4 || !slices.Equal(ebgpPath.ASPath, []uint32{labEBGPASN}) {
		t.Errorf("eBGP path: next hop %v, AS path %v; want %v, [%d]", ebgpPath.NextHop, ebgpPath.ASPath, lab.Nodes[0].LAN4, labEBGPASN)
	}
	if !slices.Contains(ebgpPath.Communities, "65000:100") || !slices.Contains(ebgpPath.Communities, "65535:65281") {
		t.Errorf("eBGP path communities %v, want 65000:100 and 65535:65281 (no-export)", ebgpPath.Communities)
	}
	if !slices.Equal(ebgpPath.LargeCommunities, []string{"64513:1:2"}) {
		t.Errorf("eBGP path large communities %v, want [64513:1:2]", ebgpPath.LargeCommunities)
	}
	if !ibgpPath.HasLocalPref || ibgpPath.LocalPref != 250 || !slices.Contains(ibgpPath.Communities, "8000:800") {
		t.Errorf("iBGP path: local-pref %v (set %v), communities %v; want 250 and 8000:800", ibgpPath.LocalPref, ibgpPath.HasLocalPref, ibgpPath.Communities)
	}

	// The data path: the router forwards the client's request to node1 on
	// the route it learned.
	if _, err := lab.StartBackend(ctx, "node1", netip.AddrPortFrom(svc, 80)); err != nil {
		t.Fatal(err)
	}
	var body string
	waitFor(ctx, t, "an HTTP answer from node1 through the router", func(ctx context.Context) (bool, error) {
		var err error
		body, err = lab.HTTPGetFromClient(ctx, netlab.ServiceURL(netip.AddrPortFrom(svc, 80)))
		return err == nil, err
	})
	if strings.TrimSpace(body) != "node1" {
		t.Errorf("the client got %q, want node1", body)
	}
}

func startGoBGP(t *testing.T, h netlab.Host, asn uint32, peer routers.GoBGPPeer) *routers.GoBGP {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	g, err := routers.StartGoBGP(ctx, routers.GoBGPConfig{Namespace: h.NS, ASN: asn, RouterID: h.LAN4, Log: labtest.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("gobgp in %s:\n%s", h.NS, g.Logs())
		}
		_ = g.Stop()
	})
	if err := g.AddPeer(ctx, peer); err != nil {
		t.Fatal(err)
	}
	return g
}

// waitFor polls cond until it holds, failing t with the last error when ctx
// ends.
func waitFor(ctx context.Context, t *testing.T, what string, cond func(context.Context) (bool, error)) {
	t.Helper()
	err := netlab.Eventually(ctx, 100*time.Millisecond, func(ctx context.Context) error {
		ok, err := cond(ctx)
		if err != nil {
			return err
		}
		if !ok {
			return context.DeadlineExceeded
		}
		return nil
	})
	if err != nil {
		t.Fatalf("waiting for %s: %v", what, err)
	}
}

package routers

import (
	"context"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/heraldlb/herald/testbed/netlab"
)

// TestBFDBetweenFRRAndBIRD: FRR in the router namespace and BIRD in node1
// peer over eBGP with BFD (100 ms x 3) and graceful restart on; both report
// the session Established and BFD up, and when BIRD stops, FRR sees BFD go
// down well before the BGP hold time.
func TestBFDBetweenFRRAndBIRD(t *testing.T) {
	t.Parallel()
	lab := netlab.NewForTest(t, netlab.Options{Nodes: 1})
	n1 := lab.Nodes[0]
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	prof := &BFDProfile{ReceiveInterval: 100 * time.Millisecond, TransmitInterval: 100 * time.Millisecond, DetectMultiplier: 3}

	frr := newRouter(t, "frr", lab, lab.Router.NS, routerASN, []Neighbor{
		{Address: n1.LAN4, ASN: nodeASN, BFD: prof, GracefulRestart: true, HoldTime: 9 * time.Second, Password: "pw"},
	})
	bird := newRouter(t, "bird", lab, n1.NS, nodeASN, []Neighbor{
		{Address: lab.Router.LAN4, ASN: routerASN, BFD: prof, GracefulRestart: true, HoldTime: 9 * time.Second, Password: "pw"},
	})
	waitEstablished(ctx, t, frr, n1.LAN4)
	waitEstablished(ctx, t, bird, lab.Router.LAN4)
	waitBFD(ctx, t, frr, n1.LAN4, "up")
	waitBFD(ctx, t, bird, lab.Router.LAN4, "up")

	if err := bird.Stop(); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	waitBFD(ctx, t, frr, n1.LAN4, "down")
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("FRR saw BFD down after %v; want well under the 9 s hold time", d)
	}
}

func waitBFD(ctx context.Context, t *testing.T, r Router, n netip.Addr, want string) {
	t.Helper()
	err := netlab.Eventually(ctx, 50*time.Millisecond, func(ctx context.Context) error {
		s, err := r.BFDState(ctx, n)
		if err != nil {
			return err
		}
		if s != want {
			return fmt.Errorf("%s BFD with %s is %q, want %q", r.Kind(), n, s, want)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

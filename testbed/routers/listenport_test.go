package routers

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/heraldlb/herald/testbed/netlab"
)

// TestListenPort: a router told to listen on another port than 179 takes
// its sessions there. FRR in the router namespace and BIRD in the
// client's; the one that listens on the odd port is passive, so the
// session comes up only if the other reaches that listener, and FRR's own
// view of the connection shows the port.
func TestListenPort(t *testing.T) {
	for _, listener := range []string{"frr", "bird"} {
		t.Run(listener, func(t *testing.T) {
			parallelUnlessRace(t)
			lab := netlab.NewForTest(t, netlab.Options{Nodes: 1})
			ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
			defer cancel()
			rt, cl := lab.Router, lab.Client
			const port = 1790
			frrCfg := Config{Name: "frr", Namespace: rt.NS, Dir: filepath.Join(lab.Dir, "frr"), ASN: routerASN,
				RouterID: rt.LAN4, Log: testLog(t), Neighbors: []Neighbor{{Address: cl.LAN4, ASN: nodeASN}}}
			birdCfg := Config{Name: "bird", Namespace: cl.NS, Dir: filepath.Join(lab.Dir, "bird"), ASN: nodeASN,
				RouterID: cl.LAN4, Log: testLog(t), Neighbors: []Neighbor{{Address: rt.LAN4, ASN: routerASN}}}
			wantLocal, wantForeign := 0, 0
			if listener == "frr" {
				frrCfg.ListenPort, frrCfg.Neighbors[0].Passive, birdCfg.Neighbors[0].Port = port, true, port
				wantLocal = port
			} else {
				birdCfg.ListenPort, birdCfg.Neighbors[0].Passive, frrCfg.Neighbors[0].Port = port, true, port
				wantForeign = port
			}
			frr, err := NewFRR(frrCfg)
			if err != nil {
				t.Fatal(err)
			}
			bird, err := NewBIRD(birdCfg)
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range []Router{frr, bird} {
				if err := r.Start(ctx); err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() {
					if t.Failed() {
						t.Logf("%s configuration:\n%s\nlogs:\n%s", r.Kind(), r.Config(), r.Logs())
					}
					_ = r.Stop()
				})
			}
			err = netlab.Eventually(ctx, 200*time.Millisecond, func(ctx context.Context) error {
				for _, c := range []struct {
					r  Router
					to netlab.Host
				}{{frr, cl}, {bird, rt}} {
					s, err := c.r.SessionState(ctx, c.to.LAN4)
					if err != nil {
						return err
					}
					if s != "Established" {
						return fmt.Errorf("%s's session is %s, want Established", c.r.Kind(), s)
					}
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			out, err := frr.Exec(ctx, "show bgp neighbors "+cl.LAN4.String()+" json")
			if err != nil {
				t.Fatal(err)
			}
			var m map[string]struct {
				PortLocal   int `json:"portLocal"`
				PortForeign int `json:"portForeign"`
			}
			if err := json.Unmarshal([]byte(out), &m); err != nil {
				t.Fatal(err)
			}
			got := m[cl.LAN4.String()]
			if (wantLocal != 0 && got.PortLocal != wantLocal) || (wantForeign != 0 && got.PortForeign != wantForeign) {
				t.Errorf("FRR's connection: local port %d, foreign port %d; want local %d / foreign %d (0: any)",
					got.PortLocal, got.PortForeign, wantLocal, wantForeign)
			}
		})
	}
}

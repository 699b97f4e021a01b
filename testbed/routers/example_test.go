package routers_test

import (
	"context"
	"fmt"
	"log"
	"net/netip"
	"os"
	"path/filepath"
	"time"

	"github.com/heraldlb/herald/testbed/netlab"
	"github.com/heraldlb/herald/testbed/routers"
)

// A lab with FRR in the router namespace peering with a GoBGP speaker in
// node1; the announced service IP is read back from FRR and reached from
// the client through the router. (Compiled, not run: it needs root.)
func Example() {
	ctx := context.Background()
	lab, err := netlab.New(ctx, netlab.Options{Nodes: 3})
	if err != nil {
		log.Fatal(err)
	}
	defer lab.Close()
	defer lab.CloseOnSignal(func(os.Signal) { os.Exit(1) })()
	n1 := lab.Nodes[0]

	var r routers.Router
	r, err = routers.NewFRR(routers.Config{ // or routers.NewBIRD
		Namespace: lab.Router.NS, Dir: filepath.Join(lab.Dir, "frr"),
		ASN: 64512, RouterID: lab.Router.LAN4,
		Neighbors: []routers.Neighbor{{Address: n1.LAN4, ASN: 64513,
			BFD: &routers.BFDProfile{ReceiveInterval: 100 * time.Millisecond}}},
	})
	if err != nil {
		log.Fatal(err)
	}
	if err := r.Start(ctx); err != nil {
		log.Fatal(err)
	}
	defer r.Stop()

	g, err := routers.StartGoBGP(ctx, routers.GoBGPConfig{Namespace: n1.NS, ASN: 64513, RouterID: n1.LAN4})
	if err != nil {
		log.Fatal(err)
	}
	defer g.Stop()
	_ = g.AddPeer(ctx, routers.GoBGPPeer{Address: lab.Router.LAN4, ASN: 64512})
	svc := lab.BGPPool4.Addr().Next()
	_ = g.Announce(ctx, routers.Announcement{Prefix: netip.PrefixFrom(svc, 32), NextHop: n1.LAN4,
		Communities: []string{"65000:100"}, LargeCommunities: []string{"65000:1:2"}})

	_, _ = lab.StartBackend(ctx, n1.Name, netip.AddrPortFrom(svc, 80))
	_ = netlab.Eventually(ctx, 100*time.Millisecond, func(ctx context.Context) error {
		_, err := lab.HTTPGetFromClient(ctx, netlab.ServiceURL(netip.AddrPortFrom(svc, 80)))
		return err
	})
	rs, _ := r.Routes(ctx)
	if rt, ok := routers.FindRoute(rs, netip.PrefixFrom(svc, 32)); ok {
		best, _ := rt.Best()
		fmt.Println(rt.Prefix, rt.NextHops, best.ASPath, best.Communities, best.LargeCommunities)
	}
	state, _ := r.SessionState(ctx, n1.LAN4)
	bfd, _ := r.BFDState(ctx, n1.LAN4) // "down": GoBGP does not run BFD
	fmt.Println(state, bfd)
	fmt.Println(r.CLI(), "-c 'show bgp ipv4 unicast'")
}

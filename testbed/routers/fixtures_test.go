package routers

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/heraldlb/herald/testbed/netlab"
)

// TestCaptureFixtures refreshes testdata/ from real FRR and BIRD output
// (HERALD_CAPTURE_FIXTURES=1, root). Lab-specific address bytes are
// rewritten to lab ID 7 so the parser tests have stable expectations.
func TestCaptureFixtures(t *testing.T) {
	if os.Getenv("HERALD_CAPTURE_FIXTURES") == "" {
		t.Skip("set HERALD_CAPTURE_FIXTURES=1 to refresh testdata/ from live routers")
	}
	lab := netlab.NewForTest(t, netlab.Options{Nodes: 2})
	n1, n2, cl, rt := lab.Nodes[0], lab.Nodes[1], lab.Client, lab.Router
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	prof := &BFDProfile{ReceiveInterval: 100 * time.Millisecond, TransmitInterval: 100 * time.Millisecond}
	frr := newRouter(t, "frr", lab, rt.NS, routerASN, []Neighbor{
		{Address: n1.LAN4, ASN: nodeASN}, {Address: n1.LAN6, ASN: nodeASN},
		{Address: n2.LAN4, ASN: routerASN}, {Address: cl.LAN4, ASN: routerASN, BFD: prof},
	})
	bird := newRouter(t, "bird", lab, cl.NS, routerASN, []Neighbor{
		{Address: n1.LAN4, ASN: nodeASN}, {Address: n1.LAN6, ASN: nodeASN},
		{Address: n2.LAN4, ASN: routerASN}, {Address: rt.LAN4, ASN: routerASN, BFD: prof},
	})
	g1 := startGoBGP(t, n1, nodeASN,
		GoBGPPeer{Address: rt.LAN4, ASN: routerASN}, GoBGPPeer{Address: rt.LAN6, ASN: routerASN},
		GoBGPPeer{Address: cl.LAN4, ASN: routerASN}, GoBGPPeer{Address: cl.LAN6, ASN: routerASN})
	g2 := startGoBGP(t, n2, routerASN, GoBGPPeer{Address: rt.LAN4, ASN: routerASN}, GoBGPPeer{Address: cl.LAN4, ASN: routerASN})
	svc := lab.BGPPool4.Addr().Next()
	for _, a := range []struct {
		g *GoBGP
		a Announcement
	}{
		{g1, Announcement{Prefix: netip.PrefixFrom(svc, 32), NextHop: n1.LAN4, ASPath: []uint32{65001},
			Communities: []string{"65000:100", "65000:200"}, LargeCommunities: []string{"65000:1:2", "65000:3:4"}, MED: 7, HasMED: true}},
		{g1, Announcement{Prefix: netip.PrefixFrom(lab.BGPPool6.Addr().Next(), 128), NextHop: n1.LAN6, Communities: []string{"65000:600"}}},
		{g2, Announcement{Prefix: netip.PrefixFrom(svc.Next(), 32), NextHop: n2.LAN4, LocalPref: 250, Communities: []string{"65000:300"}}},
	} {
		if err := a.g.Announce(ctx, a.a); err != nil {
			t.Fatal(err)
		}
	}
	for _, r := range []Router{frr, bird} {
		waitRoute(ctx, t, r, netip.PrefixFrom(svc, 32))
		waitRoute(ctx, t, r, netip.PrefixFrom(svc.Next(), 32))
		waitRoute(ctx, t, r, netip.PrefixFrom(lab.BGPPool6.Addr().Next(), 128))
	}
	waitBFD(ctx, t, frr, cl.LAN4, "up")
	waitBFD(ctx, t, bird, rt.LAN4, "up")

	id := fmt.Sprint(lab.ID)
	norm := strings.NewReplacer(
		"10.240."+id+".", "10.240.7.", "10.241."+id+".", "10.241.7.", "10.242."+id+".", "10.242.7.",
		"fd00:240:"+id+":", "fd00:240:7:", "fd00:241:"+id+":", "fd00:241:7:", "fd00:242:"+id+":", "fd00:242:7:",
		lab.Dir, "/run/herald-testbed/hb7", lab.Name, "hb7")
	save := func(name string, r Router, cmd string) {
		out, err := r.Exec(ctx, cmd)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join("testdata", name), []byte(norm.Replace(out)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.MkdirAll("testdata", 0o755); err != nil {
		t.Fatal(err)
	}
	save("frr-table-v4.json", frr, "show bgp ipv4 unicast json")
	save("frr-prefix-ebgp.json", frr, "show bgp ipv4 unicast "+netip.PrefixFrom(svc, 32).String()+" json")
	save("frr-prefix-ibgp.json", frr, "show bgp ipv4 unicast "+netip.PrefixFrom(svc.Next(), 32).String()+" json")
	save("frr-prefix-v6.json", frr, "show bgp ipv6 unicast "+netip.PrefixFrom(lab.BGPPool6.Addr().Next(), 128).String()+" json")
	save("frr-neighbor.json", frr, "show bgp neighbors "+n1.LAN4.String()+" json")
	save("frr-bfd-peers.json", frr, "show bfd peers json")
	save("bird-routes-v4.txt", bird, "show route all table master4 where source = RTS_BGP")
	save("bird-routes-v6.txt", bird, "show route all table master6 where source = RTS_BGP")
	save("bird-protocol.txt", bird, "show protocols all peer1")
	save("bird-bfd.txt", bird, "show bfd sessions")
}

package e2e

import (
	"context"
	"fmt"
	"net/netip"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/heraldlb/herald/api/v1beta1"
	"github.com/heraldlb/herald/testbed/labtest"
	"github.com/heraldlb/herald/testbed/netlab"
	"github.com/heraldlb/herald/testbed/routers"
)

// GTSM (RFC 5082) for single-hop eBGP against FRR. node1's BGPPeer sets
// ttlSecurity and FRR has `ttl-security hops 1` for node1: the session
// comes up, and on the wire both sides send with TTL 255. node2's BGPPeer
// sets ttlSecurity but FRR sends node2 its default TTL 1: Herald's kernel
// drops every BGP message FRR sends, so node2 never gets past sending its
// OPEN and the session never comes up at either end. node3 sets nothing and
// FRR sends it TTL 1 too: the session comes up (without ttlSecurity Herald
// accepts any TTL, as MetalLB's configurations expect).
//
// FRR answers a connection with the TTL of its listening socket (255 once
// any neighbor has ttl-security), and only sets the neighbor's TTL on the
// accepted socket: node2's handshake completes, and its BGPSessionState
// sits in OpenSent with no lastError until the OpenSent hold time (4
// minutes) runs out. So the TTL checks below are on segments that carry
// BGP messages.
func TestBGPTTLSecurity(t *testing.T) {
	l := newSpeakerLab(t, speakerLabOptions{nodes: 3, router: "frr", routerASN: bgpRouterASN,
		neighbors: func(lab *netlab.Lab) []routers.Neighbor {
			return []routers.Neighbor{
				{Address: lab.Nodes[0].LAN4, ASN: bgpNodeASN, TTLSecurity: true},
				{Address: lab.Nodes[1].LAN4, ASN: bgpNodeASN},
				{Address: lab.Nodes[2].LAN4, ASN: bgpNodeASN},
			}
		}})
	capture := l.captureBGP("router", "eth0")
	peer := func(name, node string, ttlSecurity bool) string {
		return fmt.Sprintf(`---
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: %s, namespace: metallb-system}
spec:
  myASN: %d
  peerASN: %d
  peerAddress: %s
  connectTime: 2s
  ttlSecurity: %v
  nodeSelectors: [{matchLabels: {kubernetes.io/hostname: %s}}]
`, name, bgpNodeASN, bgpRouterASN, l.lab.Router.LAN4, ttlSecurity, node)
	}
	l.apply(peer("gtsm", "node1", true) + peer("gtsm-peer-sends-ttl-1", "node2", true) + peer("no-gtsm", "node3", false))

	for _, c := range []struct {
		node netlab.Host
		peer string
	}{{l.lab.Nodes[0], "gtsm"}, {l.lab.Nodes[2], "no-gtsm"}} {
		eventually(t, 30*time.Second, fmt.Sprintf("%s's session (%s) Established at FRR", c.node.Name, c.peer), func() (bool, string) {
			s, err := l.router.SessionState(t.Context(), c.node.LAN4)
			return err == nil && s == "Established", fmt.Sprintf("%s %v", s, err)
		})
	}
	n2 := l.lab.Nodes[1]
	l.waitSession(n2.Name, "gtsm-peer-sends-ttl-1", 30*time.Second, "its OPEN sent", func(st v1beta1.BGPSessionStateStatus) bool {
		return st.MessagesSent["OPEN"] > 0
	})
	// The other two came up within seconds; give node2 as long again.
	for end := time.Now().Add(10 * time.Second); time.Now().Before(end); time.Sleep(500 * time.Millisecond) {
		st, err := l.sessionState(n2.Name, "gtsm-peer-sends-ttl-1")
		if err != nil {
			t.Fatal(err)
		}
		if st.BGPState == "Established" || st.MessagesReceived["OPEN"] > 0 {
			t.Fatalf("node2 (GTSM, FRR sending TTL 1) got FRR's OPEN: %+v", st)
		}
		if s, err := l.router.SessionState(t.Context(), n2.LAN4); err == nil && s == "Established" {
			t.Fatalf("FRR's session with node2 (GTSM on Herald's side only) is Established")
		}
	}

	// The wire, at the router's LAN interface: what each side sent, and
	// with which TTL.
	segs, err := capture.Segments()
	if err != nil {
		t.Fatal(err)
	}
	// ttls lists the TTLs of the segments from src to dst that carry BGP
	// bytes (FRR's SYN-ACKs have its listener's TTL; see above).
	ttls := func(src, dst netip.Addr) []uint8 {
		var out []uint8
		for _, s := range segs {
			if s.Src.Addr() == src && s.Dst.Addr() == dst && len(s.Payload) > 0 && !slices.Contains(out, s.TTL) {
				out = append(out, s.TTL)
			}
		}
		slices.Sort(out)
		return out
	}
	rtr := l.lab.Router.LAN4
	for _, c := range []struct {
		what     string
		src, dst netip.Addr
		want     []uint8
	}{
		{"node1 to FRR (GTSM)", l.lab.Nodes[0].LAN4, rtr, []uint8{255}},
		{"FRR to node1 (ttl-security hops 1)", rtr, l.lab.Nodes[0].LAN4, []uint8{255}},
		{"node2 to FRR (GTSM)", n2.LAN4, rtr, []uint8{255}},
		{"FRR to node2 (FRR's default)", rtr, n2.LAN4, []uint8{1}},
		{"node3 to FRR (Herald always sends 255)", l.lab.Nodes[2].LAN4, rtr, []uint8{255}},
		{"FRR to node3 (FRR's default)", rtr, l.lab.Nodes[2].LAN4, []uint8{1}},
	} {
		if got := ttls(c.src, c.dst); !slices.Equal(got, c.want) {
			t.Errorf("%s: TTLs %v on the wire, want %v", c.what, got, c.want)
		}
	}
	// FRR sent node2 its OPEN, and node2 never answered it: its kernel
	// dropped it.
	var frrOpens, n2Opens int
	for _, m := range bgpOnWire(segs) {
		switch {
		case m.Src.Addr() == rtr && m.Dst.Addr() == n2.LAN4 && m.Type == 1:
			frrOpens++
		case m.Src.Addr() == n2.LAN4 && m.Type == 1:
			n2Opens++
		case m.Src.Addr() == n2.LAN4:
			t.Errorf("node2 sent a BGP message of type %d to FRR; with FRR's packets dropped it can only send its OPEN", m.Type)
		}
	}
	if frrOpens == 0 || n2Opens == 0 {
		t.Errorf("on the wire: %d OPENs from FRR to node2 and %d from node2; want both sent", frrOpens, n2Opens)
	}
}

// eBGP multihop (ebgpMultiHop) to a router two hops away: FRR or BIRD in
// the client namespace, which node1 reaches through the lab's router (which
// only forwards here). The client also sits on the LAN, so a host route
// sends its traffic to node1 back through the router too. The session comes
// up, its packets cross the router both ways (node1's reach the client's
// link with TTL 254), and the Service's route arrives with node1's address
// as next hop and node1's AS as path.
func TestBGPMultihop(t *testing.T) {
	for _, router := range []string{"frr", "bird"} {
		t.Run(router, func(t *testing.T) { testBGPMultihop(t, router) })
	}
}

func testBGPMultihop(t *testing.T, router string) {
	l := newSpeakerLab(t, speakerLabOptions{nodes: 1})
	node := l.lab.Nodes[0]
	if out, err := l.lab.Exec(t.Context(), "client", "ip", "route", "add", netip.PrefixFrom(node.LAN4, 32).String(),
		"via", l.lab.Router.Link4.String(), "dev", "eth1"); err != nil {
		t.Fatalf("routing the client's traffic to node1 through the router: %v: %s", err, out)
	}
	cfg := routers.Config{Name: "client-router", Namespace: l.lab.Client.NS, Dir: filepath.Join(l.lab.Dir, "client-router"),
		ASN: bgpRouterASN, RouterID: l.lab.Client.Link4, Log: labtest.Logger(t),
		Neighbors: []routers.Neighbor{{Address: node.LAN4, ASN: bgpNodeASN, Multihop: 2}}}
	var r routers.Router
	var err error
	if router == "frr" {
		r, err = routers.NewFRR(cfg)
	} else {
		r, err = routers.NewBIRD(cfg)
	}
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	if err := r.Start(ctx); err != nil {
		t.Fatal(err)
	}
	// Stopped with the lab, after a failing test's report has read it.
	l.lab.OnClose(r.Stop)
	l.router, l.env.Router = r, r
	capture := l.captureBGP("router", "eth1")
	atNode := l.captureBGP(node.Name, "eth0")

	l.apply(fmt.Sprintf(`
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: bgp, namespace: metallb-system}
spec: {addresses: [%[1]s]}
---
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: multihop, namespace: metallb-system}
spec:
  myASN: %[2]d
  peerASN: %[3]d
  peerAddress: %[4]s
  ebgpMultiHop: true
  connectTime: 2s
---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: {name: bgp, namespace: metallb-system}
spec: {ipAddressPools: [bgp]}
`, l.lab.BGPPool4, bgpNodeASN, bgpRouterASN, l.lab.Client.Link4))

	eventually(t, 30*time.Second, "the multihop session Established at "+router, func() (bool, string) {
		s, err := r.SessionState(t.Context(), node.LAN4)
		return err == nil && s == "Established", fmt.Sprintf("%s %v", s, err)
	})
	ip := l.service("web", nil, "node1")
	got := l.route(netip.PrefixFrom(ip, 32), "the Service's route at "+router, func(r routers.Route, ok bool) bool { return ok && len(r.Paths) == 1 })
	if p := got.Paths[0]; p.NextHop != node.LAN4 || !slices.Equal(p.ASPath, []uint32{bgpNodeASN}) {
		t.Errorf("the route over the multihop session: next hop %v, AS path %v; want %v and [%d]", p.NextHop, p.ASPath, node.LAN4, bgpNodeASN)
	}
	// What each side sent, seen past the router: node1's segments on the
	// client's link, the client's on node1's. Segments carrying BGP bytes
	// only (the kernel's RSTs have its default TTL).
	ttls := func(c *netlab.Capture, src netip.Addr) ([]uint8, string) {
		segs, err := c.Segments()
		if err != nil {
			t.Fatal(err)
		}
		var out []uint8
		var all strings.Builder
		for _, s := range segs {
			if s.Src.Addr() == src && len(s.Payload) > 0 && !slices.Contains(out, s.TTL) {
				out = append(out, s.TTL)
			}
			fmt.Fprintf(&all, "  %v > %v TTL %d flags %#x, %d bytes\n", s.Src, s.Dst, s.TTL, s.Flags, len(s.Payload))
		}
		slices.Sort(out)
		return out, all.String() + c.Output()
	}
	if got, all := ttls(capture, node.LAN4); !slices.Equal(got, []uint8{254}) {
		t.Errorf("node1's BGP segments on the client's link have TTLs %v, want [254]: sent with 255, one router on the way; captured:\n%s", got, all)
	}
	if got, all := ttls(atNode, l.lab.Client.Link4); !slices.Equal(got, []uint8{1}) {
		t.Errorf("%s's BGP segments on node1's link have TTLs %v, want [1]: sent with its multihop TTL 2, one router on the way; captured:\n%s", router, got, all)
	}
}

package e2e

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/heraldlb/herald/testbed/netlab"
	"github.com/heraldlb/herald/testbed/routers"
)

// An unnumbered session with FRR (`neighbor un0 interface`) over a
// point-to-point link of its own between node1 and the router, which has
// IPv6 link-local addresses only (on the shared LAN, Herald would see
// several neighbours and rightly refuse to choose). FRR learns node1's
// link-local address from the Router Advertisements Herald sends; the
// session comes up and carries the Service's IPv4 route with node1's
// link-local address as next hop (RFC 8950 extended next hop), which the
// router's kernel then routes through un0. (IPv6 routes over an unnumbered
// session are not checked here.)
func TestBGPUnnumbered(t *testing.T) {
	l := newSpeakerLab(t, speakerLabOptions{nodes: 1, router: "frr", routerASN: bgpRouterASN, dualStack: true, routerLater: true,
		neighbors: func(lab *netlab.Lab) []routers.Neighbor {
			return []routers.Neighbor{{Interface: "un0", ASN: bgpNodeASN}}
		}})
	node := l.lab.Nodes[0]
	ctx := t.Context()
	// The link, before FRR starts so that zebra knows it from the start.
	if out, err := l.lab.Exec(ctx, node.Name, "ip", "link", "add", "un0", "type", "veth", "peer", "name", "un0", "netns", l.lab.Router.NS); err != nil {
		t.Fatalf("creating the node1-router link: %v: %s", err, out)
	}
	for _, ns := range []string{node.Name, "router"} {
		if out, err := l.lab.Exec(ctx, ns, "ip", "link", "set", "un0", "up"); err != nil {
			t.Fatalf("un0 up in %s: %v: %s", ns, err, out)
		}
	}
	var nodeLL netip.Addr
	eventually(t, 10*time.Second, "node1's link-local address on un0", func() (bool, string) {
		out, err := l.lab.Exec(ctx, node.Name, "ip", "-6", "-br", "addr", "show", "dev", "un0", "scope", "link")
		if err != nil {
			return false, err.Error()
		}
		f := strings.Fields(string(out)) // un0@ifN UP fe80::…/64
		if len(f) < 3 {
			return false, string(out)
		}
		p, err := netip.ParsePrefix(f[2])
		if err != nil {
			return false, string(out)
		}
		nodeLL = p.Addr()
		return true, ""
	})
	frr := l.startRouter().(*routers.FRR)

	l.apply(fmt.Sprintf(`
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: bgp, namespace: metallb-system}
spec: {addresses: [%[1]s, %[2]s]}
---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: {name: bgp, namespace: metallb-system}
spec: {ipAddressPools: [bgp]}
---
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: unnumbered, namespace: metallb-system}
spec:
  myASN: %[3]d
  peerASN: %[4]d
  interface: un0
  connectTime: 1s
`, l.lab.BGPPool4, l.lab.BGPPool6, bgpNodeASN, bgpRouterASN))

	eventually(t, 60*time.Second, "the unnumbered session Established at FRR", func() (bool, string) {
		nb, err := frr.Neighbor(ctx, "un0")
		return err == nil && nb.State == "Established", fmt.Sprintf("%+v %v", nb.State, err)
	})
	ip4 := l.service("web", nil, "node1")
	r4 := l.route(netip.PrefixFrom(ip4, 32), "the IPv4 route over the unnumbered session", func(r routers.Route, ok bool) bool {
		return ok && len(r.Paths) == 1
	})
	t.Logf("%s at FRR: %+v", r4.Prefix, r4.Paths[0])
	if p := r4.Paths[0]; !slices.Equal(p.ASPath, []uint32{bgpNodeASN}) || (p.NextHop.IsValid() && p.NextHop != nodeLL) {
		t.Errorf("%s: next hop %v, AS path %v; want node1's link-local %v (or none shown) and [%d]", r4.Prefix, p.NextHop, p.ASPath, nodeLL, bgpNodeASN)
	}
	// The route is usable: the router's kernel has it through un0.
	eventually(t, 10*time.Second, "the router's kernel routes the IPv4 Service address through un0", func() (bool, string) {
		rt, ok, err := l.lab.RouteTo(ctx, "router", r4.Prefix)
		viaUn0 := ok && len(rt.NextHops) == 1 && rt.NextHops[0].Dev == "un0"
		return err == nil && viaUn0, fmt.Sprintf("%+v %v %v", rt, ok, err)
	})
}

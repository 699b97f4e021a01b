package e2e

import (
	"fmt"
	"net/netip"
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/heraldlb/herald/testbed/netlab"
	"github.com/heraldlb/herald/testbed/routers"
)

// IPv6 sessions and dual-stack sessions, against FRR and BIRD. node1 peers
// with the router over IPv6 only; node2 over IPv4 with
// dualStackAddressFamily, so both families ride its one session. A
// dual-stack Service with endpoints on both nodes gets an IPv4 and an IPv6
// address. At the router: the IPv6 /128 arrives from both nodes, node1's
// over the IPv6 session and node2's over the IPv4 one, each with that
// node's global IPv6 address as next hop; the IPv4 /32 arrives from node2
// only (node1's session carries IPv6 alone), next hop node2's IPv4 address.
// Deleting the Service withdraws both.
func TestBGPIPv6(t *testing.T) {
	for _, router := range []string{"frr", "bird"} {
		t.Run(router, func(t *testing.T) { testBGPIPv6(t, router) })
	}
}

func testBGPIPv6(t *testing.T, router string) {
	l := newSpeakerLab(t, speakerLabOptions{nodes: 2, router: router, routerASN: bgpRouterASN, dualStack: true,
		neighbors: func(lab *netlab.Lab) []routers.Neighbor {
			return []routers.Neighbor{
				{Address: lab.Nodes[0].LAN6, ASN: bgpNodeASN},
				{Address: lab.Nodes[1].LAN4, ASN: bgpNodeASN, DualStack: true},
			}
		}})
	n1, n2 := l.lab.Nodes[0], l.lab.Nodes[1]
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
metadata: {name: v6, namespace: metallb-system}
spec:
  myASN: %[3]d
  peerASN: %[4]d
  peerAddress: %[5]s
  connectTime: 1s
  nodeSelectors: [{matchLabels: {kubernetes.io/hostname: node1}}]
---
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: dual, namespace: metallb-system}
spec:
  myASN: %[3]d
  peerASN: %[4]d
  peerAddress: %[6]s
  dualStackAddressFamily: true
  connectTime: 1s
  nodeSelectors: [{matchLabels: {kubernetes.io/hostname: node2}}]
`, l.lab.BGPPool4, l.lab.BGPPool6, bgpNodeASN, bgpRouterASN, l.lab.Router.LAN6, l.lab.Router.LAN4))

	for _, a := range []netip.Addr{n1.LAN6, n2.LAN4} {
		eventually(t, 30*time.Second, fmt.Sprintf("the session with %s Established at %s", a, router), func() (bool, string) {
			s, err := l.router.SessionState(t.Context(), a)
			return err == nil && s == "Established", fmt.Sprintf("%s %v", s, err)
		})
	}
	require := corev1.IPFamilyPolicyRequireDualStack
	l.service("web", func(s *corev1.Service) {
		s.Spec.IPFamilyPolicy = &require
		s.Spec.IPFamilies = []corev1.IPFamily{corev1.IPv4Protocol, corev1.IPv6Protocol}
	}, "node1", "node2")
	var ip4, ip6 netip.Addr
	eventually(t, 30*time.Second, "the Service gets an IPv4 and an IPv6 address", func() (bool, string) {
		svc, err := l.admin.CoreV1().Services("default").Get(t.Context(), "web", metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		for _, in := range svc.Status.LoadBalancer.Ingress {
			if a, err := netip.ParseAddr(in.IP); err == nil && a.Is4() {
				ip4 = a
			} else if err == nil {
				ip6 = a
			}
		}
		return ip4.IsValid() && ip6.IsValid(), fmt.Sprintf("%+v", svc.Status.LoadBalancer.Ingress)
	})

	nextHops := func(r routers.Route) []netip.Addr {
		var out []netip.Addr
		for _, p := range r.Paths {
			out = append(out, p.NextHop)
		}
		slices.SortFunc(out, netip.Addr.Compare)
		return out
	}
	want6 := []netip.Addr{n1.LAN6, n2.LAN6}
	slices.SortFunc(want6, netip.Addr.Compare)
	r6 := l.route(netip.PrefixFrom(ip6, 128), "the IPv6 route from both nodes at "+router, func(r routers.Route, ok bool) bool {
		return ok && len(r.Paths) == 2
	})
	if got := nextHops(r6); !slices.Equal(got, want6) {
		t.Errorf("%s: next hops %v, want the nodes' global IPv6 addresses %v", r6.Prefix, got, want6)
	}
	for _, p := range r6.Paths {
		if !slices.Equal(p.ASPath, []uint32{bgpNodeASN}) {
			t.Errorf("%s via %v: AS path %v, want [%d]", r6.Prefix, p.NextHop, p.ASPath, bgpNodeASN)
		}
	}
	r4 := l.route(netip.PrefixFrom(ip4, 32), "the IPv4 route at "+router, func(r routers.Route, ok bool) bool { return ok && len(r.Paths) > 0 })
	// node1's session is IPv6 only: give it a moment to (wrongly) add a
	// second IPv4 path.
	time.Sleep(2 * time.Second)
	r4 = l.route(r4.Prefix, "the IPv4 route at "+router, func(r routers.Route, ok bool) bool { return ok })
	if got := nextHops(r4); !slices.Equal(got, []netip.Addr{n2.LAN4}) {
		t.Errorf("%s: next hops %v, want node2's IPv4 address alone (node1's session is IPv6 only)", r4.Prefix, got)
	}

	if err := l.admin.CoreV1().Services("default").Delete(t.Context(), "web", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	l.route(r6.Prefix, "the IPv6 route withdrawn at "+router, func(_ routers.Route, ok bool) bool { return !ok })
	l.route(r4.Prefix, "the IPv4 route withdrawn at "+router, func(_ routers.Route, ok bool) bool { return !ok })
}

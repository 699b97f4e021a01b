package e2e

import (
	"fmt"
	"net/netip"
	"slices"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/heraldlb/herald/testbed/netlab"
	"github.com/heraldlb/herald/testbed/routers"
)

// The lab's BGP autonomous systems: the router's, and node1's (eBGP; node2
// is in the router's AS: iBGP).
const (
	bgpRouterASN = 64512
	bgpNodeASN   = 64513
)

// eBGP from node1 and iBGP from node2, against FRR and BIRD: one Service's
// route arrives from both with its next hop, AS path, standard, well-known
// and large communities and (iBGP) local-pref, the client reaches the
// Service through the router, and the route is withdrawn with the Service.
func TestBGPSessionsAndRoutes(t *testing.T) {
	for _, router := range []string{"frr", "bird"} {
		t.Run(router, func(t *testing.T) { testBGPSessionsAndRoutes(t, router) })
	}
}

func testBGPSessionsAndRoutes(t *testing.T, router string) {
	l := newSpeakerLab(t, speakerLabOptions{nodes: 2, router: router, routerASN: bgpRouterASN,
		neighbors: func(lab *netlab.Lab) []routers.Neighbor {
			return []routers.Neighbor{{Address: lab.Nodes[0].LAN4, ASN: bgpNodeASN}, {Address: lab.Nodes[1].LAN4, ASN: bgpRouterASN}}
		}})
	l.apply(fmt.Sprintf(`
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: bgp, namespace: metallb-system}
spec: {addresses: [%[1]s]}
---
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: ebgp, namespace: metallb-system}
spec:
  myASN: %[2]d
  peerASN: %[3]d
  peerAddress: %[4]s
  nodeSelectors: [{matchLabels: {kubernetes.io/hostname: node1}}]
---
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: ibgp, namespace: metallb-system}
spec:
  myASN: %[3]d
  peerASN: %[3]d
  peerAddress: %[4]s
  nodeSelectors: [{matchLabels: {kubernetes.io/hostname: node2}}]
---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: {name: bgp, namespace: metallb-system}
spec:
  ipAddressPools: [bgp]
  localPref: 150
  communities: ["65000:100", "no-export", "large:64513:1:2"]
`, l.lab.BGPPool4, bgpNodeASN, bgpRouterASN, l.lab.Router.LAN4))

	ip := l.service("web", nil, "node1", "node2")
	prefix := netip.PrefixFrom(ip, 32)
	r := l.route(prefix, "the route from both nodes", func(r routers.Route, ok bool) bool { return ok && len(r.Paths) == 2 })
	for _, p := range r.Paths {
		switch p.NextHop {
		case l.lab.Nodes[0].LAN4:
			// LOCAL_PREF never goes to an external peer: whatever the
			// router shows is its own default, not the 150 we set.
			if !slices.Equal(p.ASPath, []uint32{bgpNodeASN}) || (p.HasLocalPref && p.LocalPref == 150) {
				t.Errorf("eBGP path from node1: AS path %v, local-pref %d (%v); want [%d] and not our 150", p.ASPath, p.LocalPref, p.HasLocalPref, bgpNodeASN)
			}
		case l.lab.Nodes[1].LAN4:
			if len(p.ASPath) != 0 || !p.HasLocalPref || p.LocalPref != 150 {
				t.Errorf("iBGP path from node2: AS path %v, local-pref %d (%v); want [] and 150", p.ASPath, p.LocalPref, p.HasLocalPref)
			}
		default:
			t.Errorf("a path with next hop %v, want node1's %v or node2's %v", p.NextHop, l.lab.Nodes[0].LAN4, l.lab.Nodes[1].LAN4)
		}
		if !slices.Contains(p.Communities, "65000:100") || !slices.Contains(p.Communities, "65535:65281") {
			t.Errorf("path from %v: communities %v, want 65000:100 and no-export (65535:65281)", p.NextHop, p.Communities)
		}
		if !slices.Equal(p.LargeCommunities, []string{"64513:1:2"}) {
			t.Errorf("path from %v: large communities %v, want [64513:1:2]", p.NextHop, p.LargeCommunities)
		}
	}
	eventually(t, 30*time.Second, "the client reaches the Service through the router", func() (bool, string) {
		body, err := l.get(ip)
		if err != nil {
			return false, err.Error()
		}
		return body == "node1" || body == "node2", body
	})

	if err := l.admin.CoreV1().Services("default").Delete(t.Context(), "web", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	l.route(prefix, "the route withdrawn with the Service", func(_ routers.Route, ok bool) bool { return !ok })
}

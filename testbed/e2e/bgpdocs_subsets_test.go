package e2e

import (
	"fmt"
	"net/netip"
	"testing"
	"time"

	"k8s.io/utils/ptr"
)

// The documentation's examples that choose nodes and peers: from which
// nodes a pool is announced, to which peers, from which nodes sessions are
// opened, and a namespace's Services over one session only.

// The OKD "advertising an IP address pool from a subset of nodes" as
// written (the advertisement without a namespace, applied with -n
// metallb-system, and its nodeSelector spelling): with node1 and node2
// having the hostnames NodeA and NodeB, a dual-stack Service of pool1 is
// announced from those two only, over IPv4 and IPv6.
func TestBGPDocNodeSelectorOKD(t *testing.T) {
	for _, router := range bgpRouters {
		t.Run(router, func(t *testing.T) {
			l := bgpModeLab(t, router, speakerLabOptions{})
			l.labelNode("node1", map[string]*string{"kubernetes.io/hostname": ptr.To("NodeA")})
			l.labelNode("node2", map[string]*string{"kubernetes.io/hostname": ptr.To("NodeB")})
			l.kubectlApply(okdNodeSubsetPool)
			l.kubectlApply(okdNodeSubsetAdvertisement, "-n", herald)
			l.kubectlApply(l.labPeers("router"))
			s := l.newSvc("web", svcOpts{dualStack: true})
			for _, ip := range s.ips {
				l.routeVia(netip.PrefixFrom(ip, ip.BitLen()), l.nodeAddrs(ip.Is4(), "node1", "node2"))
				l.reaches(ip)
			}
		})
	}
}

// The blog's "announcing the service from a subset of the nodes": only
// nodes labelled role=serviceAdvertiser are next hops, and the set follows
// the labels as they change.
func TestBGPDocAnnounceFromNodeSubset(t *testing.T) {
	for _, router := range bgpRouters {
		t.Run(router, func(t *testing.T) {
			l := bgpModeLab(t, router, speakerLabOptions{})
			role := map[string]*string{"role": ptr.To("serviceAdvertiser")}
			l.labelNode("node2", role)
			l.labelNode("node3", role)
			l.apply(`apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: first-pool, namespace: metallb-system}
spec: {addresses: [10.30.0.0/24, "fd00:30::/120"]}
`)
			l.kubectlApply(blogNodeSubsetAdvertisement)
			l.kubectlApply(l.labPeers("router"))
			s := l.newSvc("web", svcOpts{dualStack: true})
			for _, ip := range s.ips {
				l.routeVia(netip.PrefixFrom(ip, ip.BitLen()), l.nodeAddrs(ip.Is4(), "node2", "node3"))
			}
			l.labelNode("node1", role)
			l.routeVia(netip.PrefixFrom(s.ip4(), 32), l.nodeAddrs(true))
			l.labelNode("node3", map[string]*string{"role": nil})
			for _, ip := range s.ips {
				l.routeVia(netip.PrefixFrom(ip, ip.BitLen()), l.nodeAddrs(ip.Is4(), "node1", "node2"))
				l.reaches(ip)
			}
		})
	}
}

// The blog's "establishing the BGP session from a subset of nodes" as
// written, peerPort 180 included (the router listens there): only nodes
// labelled rack=frontend open the session, and the router's sessions and
// routes follow the label.
func TestBGPDocSessionNodeSelectors(t *testing.T) {
	for _, router := range bgpRouters {
		t.Run(router, func(t *testing.T) {
			l := bgpModeLab(t, router, speakerLabOptions{routerListenPort: 180})
			frontend := map[string]*string{"rack": ptr.To("frontend")}
			l.labelNode("node1", frontend)
			l.apply(`apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: frontend, namespace: metallb-system}
spec: {addresses: [198.51.100.0/28]}
`)
			l.kubectlApply(blogEmptyAdvertisement)
			l.kubectlApply(fmt.Sprintf(blogSessionSubsetPeer, l.lab.Router.LAN4))
			s := l.newSvc("web", svcOpts{})
			host := netip.PrefixFrom(s.ip4(), 32)
			l.waitSessions(map[string]bool{"node1": true})
			l.routeVia(host, l.nodeAddrs(true, "node1"))
			l.reaches(s.ip4())

			l.labelNode("node3", frontend)
			// node3 had the time to connect: had node2 been trying, it
			// would be up too.
			l.waitSessions(map[string]bool{"node1": true, "node3": true})
			l.routeVia(host, l.nodeAddrs(true, "node1", "node3"))

			l.labelNode("node1", map[string]*string{"rack": nil})
			l.waitSessions(map[string]bool{"node3": true})
			l.routeVia(host, l.nodeAddrs(true, "node3"))
		})
	}
}

// waitSessions waits until the router's IPv4 sessions with exactly the
// nodes marked up are Established.
func (l *speakerLab) waitSessions(up map[string]bool) {
	l.t.Helper()
	what := fmt.Sprintf("sessions Established with exactly %v", up)
	defer l.took(what, time.Now())
	eventually(l.t, 30*time.Second, what, func() (bool, string) {
		var got []string
		ok := true
		for _, n := range l.lab.Nodes {
			s, err := l.router.SessionState(l.t.Context(), n.LAN4)
			if err != nil {
				return false, err.Error()
			}
			got = append(got, n.Name+"="+s)
			if (s == "Established") != up[n.Name] {
				ok = false
			}
		}
		return ok, fmt.Sprint(got)
	})
}

// The blog's "announcing the service only to a subset of peers": its
// advertisement (object names lower-cased) sends pool-a to peer-a and
// peer-b only, while an advertisement without peers sends pool-b to all
// three. peer-a is the lab's router; peer-b and peer-c are GoBGP on the
// router's address at ports 1790 and 1791.
func TestBGPDocPeerSubset(t *testing.T) {
	for _, router := range bgpRouters {
		t.Run(router, func(t *testing.T) {
			l := bgpModeLab(t, router, speakerLabOptions{})
			b := l.goBGPOnRouter(1790, "192.0.2.2")
			c := l.goBGPOnRouter(1791, "192.0.2.3")
			l.apply(fmt.Sprintf(`apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: pool-a, namespace: metallb-system}
spec: {addresses: [198.51.100.0/27]}
---
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: pool-b, namespace: metallb-system}
spec: {addresses: [198.51.100.32/27], autoAssign: false}
---
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: peer-a, namespace: metallb-system}
spec: {myASN: %[1]d, peerASN: %[1]d, peerAddress: %[2]s}
---
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: peer-b, namespace: metallb-system}
spec: {myASN: %[1]d, peerASN: %[1]d, peerAddress: %[2]s, peerPort: 1790}
---
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: peer-c, namespace: metallb-system}
spec: {myASN: %[1]d, peerASN: %[1]d, peerAddress: %[2]s, peerPort: 1791}
---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: {name: pool-b-to-all, namespace: metallb-system}
spec: {ipAddressPools: [pool-b]}
`, bgpModeASN, l.lab.Router.LAN4))
			l.kubectlApply(blogPeerSubsetAdvertisement)
			all := l.nodeAddrs(true)
			sa := l.newSvc("a", svcOpts{})
			sb := l.newSvc("b", svcOpts{annotations: map[string]string{"metallb.universe.tf/address-pool": "pool-b"}})
			pa, pb := netip.PrefixFrom(sa.ip4(), 32), netip.PrefixFrom(sb.ip4(), 32)
			l.routeVia(pa, all)
			l.goBGPVia(b, pa, all)
			l.routeVia(pb, all)
			l.goBGPVia(b, pb, all)
			l.goBGPVia(c, pb, all)
			// peer-c has pool-b's route, sent after pool-a's: pool-a's
			// would be there by now if it were sent at all.
			l.goBGPVia(c, pa, nil)
			l.reaches(sa.ip4())
		})
	}
}

// "Announcing the services belonging to a namespace only via a specific
// BGP session" (the blog's list of combinations), built from the blog's
// pool allocated to namespaces and the platform guide's default pool and
// advertisement: namespace-a's Service takes the namespaced pool and goes
// only over the session ns-session (GoBGP on port 1790), while a Service
// of another namespace goes to every peer.
func TestBGPDocNamespaceSession(t *testing.T) {
	for _, router := range bgpRouters {
		t.Run(router, func(t *testing.T) {
			l := bgpModeLab(t, router, speakerLabOptions{})
			g := l.goBGPOnRouter(1790, "192.0.2.2")
			l.ensureNamespace("namespace-a", nil)
			l.kubectlApply(guideDefaultPool)
			l.kubectlApply(blogNamespacePool)
			l.apply(fmt.Sprintf(`apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: tor, namespace: metallb-system}
spec: {myASN: %[1]d, peerASN: %[1]d, peerAddress: %[2]s}
---
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: ns-session, namespace: metallb-system}
spec: {myASN: %[1]d, peerASN: %[1]d, peerAddress: %[2]s, peerPort: 1790}
---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: {name: namespace-a-only, namespace: metallb-system}
spec:
  ipAddressPools: [ippool-ns-service-alloc-sample]
  peers: [ns-session]
`, bgpModeASN, l.lab.Router.LAN4))
			l.kubectlApply(guideDefaultAdvertisement)
			all := l.nodeAddrs(true)
			inA := l.newSvc("web", svcOpts{ns: "namespace-a"})
			other := l.newSvc("web", svcOpts{})
			if !netip.MustParsePrefix("192.168.20.0/24").Contains(inA.ip4()) || !netip.MustParsePrefix("192.168.12.0/24").Contains(other.ip4()) {
				t.Fatalf("namespace-a/web has %v and default/web %v: want the namespaced pool's and the default pool's", inA.ips, other.ips)
			}
			pa, po := netip.PrefixFrom(inA.ip4(), 32), netip.PrefixFrom(other.ip4(), 32)
			l.goBGPVia(g, pa, all)
			l.goBGPVia(g, po, all)
			l.routeVia(po, all)
			// The router has default/web's route, planned after
			// namespace-a/web's: namespace-a/web's would be there by now.
			l.routeVia(pa, nil)
			l.reaches(other.ip4())
		})
	}
}

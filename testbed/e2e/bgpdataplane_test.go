package e2e

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"
)

// Requests from the client reach a Service through the router and are
// spread over every node that announces it: the router holds one ECMP
// route through the three nodes (its kernel table, where forwarding
// happens), and 60 requests, each on its own connection, are answered by
// all three, over IPv4 and IPv6.
func TestBGPDataPlaneECMP(t *testing.T) {
	for _, router := range bgpRouters {
		t.Run(router, func(t *testing.T) {
			l := bgpModeLab(t, router, speakerLabOptions{})
			l.kubectlApply(okdBasicPool)
			l.kubectlApply(okdBasicAdvertisement)
			l.kubectlApply(l.labPeers("peer"))
			s := l.newSvc("web", svcOpts{dualStack: true})
			for _, ip := range s.ips {
				pfx := netip.PrefixFrom(ip, ip.BitLen())
				l.routeVia(pfx, l.nodeAddrs(ip.Is4()))
				l.kernelRouteVia(pfx, l.nodeAddrs(ip.Is4()))
				seen := map[string]int{}
				for range 60 {
					body, err := l.getFrom(t.Context(), ip, 3*time.Second)
					if err != nil {
						t.Fatalf("GET %s: %v", ip, err)
					}
					seen[body]++
				}
				t.Logf("60 requests to %s answered by %v", ip, seen)
				for _, n := range l.lab.Nodes {
					if seen[n.Name] == 0 {
						t.Errorf("60 requests to %s: answered by %v, none by %s", ip, seen, n.Name)
					}
				}
			}
		})
	}
}

// kernelRouteVia waits until the router namespace's kernel table routes
// prefix over exactly the nodes with addresses want (ECMP when several).
// A gateway may be a node's link-local address (FRR installs IPv6 routes
// through the link-local next hop); it counts as that node's.
func (l *speakerLab) kernelRouteVia(prefix netip.Prefix, want []netip.Addr) {
	l.t.Helper()
	node := map[netip.Addr]netip.Addr{}
	for _, n := range l.lab.Nodes {
		node[n.LAN4], node[n.LAN6], node[l.linkLocal(n.Name)] = n.LAN4, n.LAN6, n.LAN6
	}
	eventually(l.t, 30*time.Second, "the router's kernel routes "+prefix.String(), func() (bool, string) {
		rt, ok, err := l.lab.RouteTo(l.t.Context(), l.lab.Router.NS, prefix)
		if err != nil {
			return false, err.Error()
		}
		var gws []netip.Addr
		for _, nh := range rt.NextHops {
			if a, ok := node[nh.Gateway]; ok {
				gws = append(gws, a)
			} else {
				gws = append(gws, nh.Gateway)
			}
		}
		slices.SortFunc(gws, func(a, b netip.Addr) int { return a.Compare(b) })
		return ok && slices.Equal(gws, want), fmt.Sprint("gateways ", gws)
	})
}

// The OKD basic configuration with a Service of externalTrafficPolicy
// Local whose one endpoint moves from node2 to node3 the way a rollout
// moves a pod (the new one ready first, then the old one gone): the
// router's route follows the endpoints (node2; node2 and node3; node3),
// and so do the client's requests, sent every 10 ms throughout.
func TestBGPLocalTrafficMoves(t *testing.T) {
	for _, router := range bgpRouters {
		t.Run(router, func(t *testing.T) {
			l := bgpModeLab(t, router, speakerLabOptions{})
			l.kubectlApply(okdBasicPool)
			l.kubectlApply(okdBasicAdvertisement)
			l.kubectlApply(l.labPeers("peer"))
			s := l.newSvc("web", svcOpts{dualStack: true, local: true, endpoints: []string{"node2"}})
			via := func(nodes ...string) {
				t.Helper()
				for _, ip := range s.ips {
					l.routeVia(netip.PrefixFrom(ip, ip.BitLen()), l.nodeAddrs(ip.Is4(), nodes...))
					l.kernelRouteVia(netip.PrefixFrom(ip, ip.BitLen()), l.nodeAddrs(ip.Is4(), nodes...))
				}
			}
			via("node2")
			l.answeredOnlyBy(s, "node2")

			var probes []*bgpProber
			for _, ip := range s.ips {
				probes = append(probes, l.probeEvery(ip, 10*time.Millisecond))
			}
			l.startBackends(s, "node3")
			l.setEndpoints(s, "node2", "node3")
			via("node2", "node3")
			l.setEndpoints(s, "node3")
			via("node3")
			l.stopBackends(s, "node2")
			l.answeredOnlyBy(s, "node3")
			for _, p := range probes {
				p.end()
				total, answered, failures := p.counts()
				t.Logf("while the endpoint moved: %d requests to %s, answered by %v, %d failed %v", total, p.ip, answered, len(failures), failures)
				if answered["node2"] == 0 || answered["node3"] == 0 {
					t.Errorf("requests to %s while the endpoint moved were answered by %v, want node2 and then node3", p.ip, answered)
				}
			}
		})
	}
}

// answeredOnlyBy sends 20 requests to each of the Service's IPs and fails
// unless node answered them all.
func (l *speakerLab) answeredOnlyBy(s *lbSvc, node string) {
	l.t.Helper()
	for _, ip := range s.ips {
		for range 20 {
			body, err := l.getFrom(l.t.Context(), ip, 3*time.Second)
			if err != nil || body != node {
				l.t.Fatalf("GET %s: %q, %v; want an answer from %s", ip, body, err, node)
			}
		}
	}
}

// linkLocal returns the link-local address of a node's eth0.
func (l *speakerLab) linkLocal(node string) netip.Addr {
	l.t.Helper()
	out, err := l.lab.Exec(l.t.Context(), node, "ip", "-6", "-o", "addr", "show", "dev", "eth0", "scope", "link")
	if err != nil {
		l.t.Fatal(err)
	}
	for _, f := range strings.Fields(string(out)) {
		if p, err := netip.ParsePrefix(f); err == nil && p.Addr().IsLinkLocalUnicast() {
			return p.Addr()
		}
	}
	l.t.Fatalf("%s's eth0 has no link-local address: %s", node, out)
	return netip.Addr{}
}

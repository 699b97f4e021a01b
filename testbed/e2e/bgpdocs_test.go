package e2e

import (
	"net/netip"
	"testing"
	"time"
)

// bgpRouters are the routers every documentation example runs against.
var bgpRouters = []string{"frr", "bird"}

// The OKD basic case as written, plus BGPPeers towards the lab's router
// (IPv4 and IPv6): a dual-stack Service's two addresses reach the router as
// one /32 and one /128, from every node (each its own next hop), with no
// communities; the client reaches both through the router.
func TestBGPDocBasic(t *testing.T) {
	for _, router := range bgpRouters {
		t.Run(router, func(t *testing.T) {
			l := bgpModeLab(t, router, speakerLabOptions{})
			l.kubectlApply(okdBasicPool)
			l.kubectlApply(okdBasicAdvertisement)
			l.kubectlApply(l.labPeers("peer"))
			s := l.newSvc("web", svcOpts{dualStack: true})
			for _, ip := range s.ips {
				r := l.routeVia(netip.PrefixFrom(ip, ip.BitLen()), l.nodeAddrs(ip.Is4()))
				for _, p := range r.Paths {
					if len(p.Communities) != 0 || len(p.LargeCommunities) != 0 {
						t.Errorf("%s via %s: communities %v %v, want none", r.Prefix, p.NextHop, p.Communities, p.LargeCommunities)
					}
					t.Logf("%s via %s: local-pref %d (sent: %v)", r.Prefix, p.NextHop, p.LocalPref, p.HasLocalPref)
				}
				l.reaches(ip)
			}
		})
	}
}

// reaches waits until a request from the client to ip:80 is answered by
// one of the nodes.
func (l *speakerLab) reaches(ip netip.Addr) string {
	l.t.Helper()
	var got string
	eventually(l.t, 30*time.Second, "the client reaches "+ip.String()+" through the router", func() (bool, string) {
		body, err := l.get(ip)
		if err != nil {
			return false, err.Error()
		}
		got = body
		for _, n := range l.lab.Nodes {
			if body == n.Name {
				return true, ""
			}
		}
		return false, body
	})
	return got
}

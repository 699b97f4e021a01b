package e2e

import (
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/heraldlb/herald/api/v1beta1"
	"github.com/heraldlb/herald/testbed/netlab"
	"github.com/heraldlb/herald/testbed/routers"
)

// manyRoutes is the size of TestBGPThousandRoutes.
const manyRoutes = 1000

// The 1,000-route version of TestBGPSessionsAndRoutes, against FRR and
// BIRD: eBGP from node1, iBGP from node2, 1,000 Services. Everything is in
// place before the router starts, so each session's first table carries all
// of them: every route arrives from both nodes with its next hop, AS path,
// communities and (iBGP) local-pref, in the fewest UPDATEs one attribute
// set allows (counted by the speaker, and for FRR by the router itself),
// and every route is withdrawn when its Service goes.
func TestBGPThousandRoutes(t *testing.T) {
	for _, router := range []string{"frr", "bird"} {
		t.Run(router, func(t *testing.T) { testBGPThousandRoutes(t, router) })
	}
}

func testBGPThousandRoutes(t *testing.T, router string) {
	l := newSpeakerLab(t, speakerLabOptions{nodes: 2, router: router, routerASN: bgpRouterASN, routerLater: true,
		neighbors: func(lab *netlab.Lab) []routers.Neighbor {
			return []routers.Neighbor{{Address: lab.Nodes[0].LAN4, ASN: bgpNodeASN}, {Address: lab.Nodes[1].LAN4, ASN: bgpRouterASN}}
		},
		// ServiceBGPStatus writes say when the speakers have planned every
		// Service; they need not wait behind the default rate limit.
		speakerArgs: []string{"--kube-api-qps", "500", "--kube-api-burst", "500"}})
	// The namespaces are the lab's own: any range will do for routes only
	// the router sees.
	const pool = "172.20.0.0/22"
	l.apply(fmt.Sprintf(`
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: many, namespace: metallb-system}
spec: {addresses: [%[1]s]}
---
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: ebgp, namespace: metallb-system}
spec:
  myASN: %[2]d
  peerASN: %[3]d
  peerAddress: %[4]s
  connectTime: 1s
  nodeSelectors: [{matchLabels: {kubernetes.io/hostname: node1}}]
---
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: ibgp, namespace: metallb-system}
spec:
  myASN: %[3]d
  peerASN: %[3]d
  peerAddress: %[4]s
  connectTime: 1s
  nodeSelectors: [{matchLabels: {kubernetes.io/hostname: node2}}]
---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: {name: many, namespace: metallb-system}
spec:
  ipAddressPools: [many]
  localPref: 150
  communities: ["65000:100", "no-export", "large:64513:1:2"]
`, pool, bgpNodeASN, bgpRouterASN, l.lab.Router.LAN4))

	t0 := time.Now()
	ips := l.manyServices("svc", manyRoutes, "node1", "node2")
	t.Logf("%d Services have IPs after %s", len(ips), time.Since(t0).Round(time.Millisecond))
	for _, n := range l.lab.Nodes {
		eventuallyEvery(t, 2*time.Minute, time.Second, n.Name+" plans every Service", func() (bool, string) {
			c, err := l.bgpStatusCount(n.Name)
			if err != nil {
				return false, err.Error()
			}
			return c == manyRoutes, fmt.Sprintf("%d ServiceBGPStatus objects", c)
		})
	}
	t.Logf("both speakers planned every Service after %s; starting %s", time.Since(t0).Round(time.Millisecond), router)
	l.startRouter()
	t1 := time.Now()

	want := map[netip.Prefix]bool{}
	for _, ip := range ips {
		want[netip.PrefixFrom(ip, 32)] = true
	}
	var rs []routers.Route
	eventuallyEvery(t, time.Minute, time.Second, "every route from both nodes", func() (bool, string) {
		var err error
		if rs, err = l.router.Routes(t.Context()); err != nil {
			return false, err.Error()
		}
		complete := 0
		for _, r := range rs {
			if want[r.Prefix] && len(r.Paths) == 2 {
				complete++
			}
		}
		return complete == len(want), fmt.Sprintf("%d routes, %d of %d with both paths", len(rs), complete, len(want))
	})
	t.Logf("%d routes with both paths at %s %s after it started", len(want), router, time.Since(t1).Round(time.Millisecond))
	if len(rs) != len(want) {
		t.Errorf("%s has %d routes, want exactly the %d of the Services", router, len(rs), len(want))
	}
	bad := 0
	for _, r := range rs {
		for _, p := range r.Paths {
			if problem := checkPath(l, p); problem != "" {
				if bad++; bad <= 10 {
					t.Errorf("%v: %s", r.Prefix, problem)
				}
			}
		}
	}
	if bad > 0 {
		t.Errorf("%d paths with wrong attributes", bad)
	}

	// The fewest UPDATEs: one attribute set per session, so the table is
	// ceil(1000 / what fits in one message) UPDATEs, plus End-of-RIB.
	for i, peerName := range []string{"ebgp", "ibgp"} {
		node := l.lab.Nodes[i]
		st := l.waitSession(node.Name, peerName, 10*time.Second, "every prefix counted", func(st v1beta1.BGPSessionStateStatus) bool {
			return st.PrefixesIPv4 == manyRoutes
		})
		maxLen := 4096
		if router == "bird" {
			pr, err := l.router.(*routers.BIRD).Protocol(t.Context(), node.LAN4)
			if err != nil {
				t.Fatal(err)
			}
			if pr.ExtendedMessage() {
				maxLen = 65535
			}
		}
		if router == "frr" {
			nb, err := l.router.(*routers.FRR).Neighbor(t.Context(), node.LAN4.String())
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("FRR's view of %s: %s, %d UPDATEs received, extended messages %v", node.Name, nb.State, nb.UpdatesReceived, nb.ExtendedMessage)
			if nb.ExtendedMessage {
				maxLen = 65535
			}
			// FRR counts every UPDATE, End-of-RIB included, as the
			// speaker's messagesSent does.
			if int64(nb.UpdatesReceived) != st.MessagesSent["UPDATE"] {
				t.Errorf("%s: FRR received %d UPDATEs, the speaker says it sent %d", node.Name, nb.UpdatesReceived, st.MessagesSent["UPDATE"])
			}
		}
		minimum := minUpdates(manyRoutes, pathAttrBytes(peerName == "ibgp"), maxLen)
		m, err := l.metric(node, "metallb_bgp_updates_total", "name="+peerName)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%s (%s): %d UPDATEs with routes (metric %v), %d in all, the minimum for %d-byte messages is %d",
			node.Name, peerName, st.UpdatesSent, m, st.MessagesSent["UPDATE"], maxLen, minimum)
		if st.UpdatesSent != int64(minimum) || m != float64(minimum) {
			t.Errorf("%s sent %d UPDATEs with routes (metric %v), want the minimum %d", node.Name, st.UpdatesSent, m, minimum)
		}
	}

	t2 := time.Now()
	l.deleteServices(slices.Collect(maps.Keys(ips)))
	eventuallyEvery(t, time.Minute, time.Second, "every route withdrawn", func() (bool, string) {
		rs, err := l.router.Routes(t.Context())
		if err != nil {
			return false, err.Error()
		}
		return len(rs) == 0, fmt.Sprintf("%d routes left", len(rs))
	})
	t.Logf("every route withdrawn %s after the deletions began", time.Since(t2).Round(time.Millisecond))
}

// checkPath says what is wrong with one path of TestBGPThousandRoutes's
// routes: the attributes TestBGPSessionsAndRoutes checks for one route.
func checkPath(l *speakerLab, p routers.Path) string {
	switch p.NextHop {
	case l.lab.Nodes[0].LAN4:
		if !slices.Equal(p.ASPath, []uint32{bgpNodeASN}) || (p.HasLocalPref && p.LocalPref == 150) {
			return fmt.Sprintf("eBGP path from node1: AS path %v, local-pref %d (%v); want [%d] and not our 150", p.ASPath, p.LocalPref, p.HasLocalPref, bgpNodeASN)
		}
	case l.lab.Nodes[1].LAN4:
		if len(p.ASPath) != 0 || !p.HasLocalPref || p.LocalPref != 150 {
			return fmt.Sprintf("iBGP path from node2: AS path %v, local-pref %d (%v); want [] and 150", p.ASPath, p.LocalPref, p.HasLocalPref)
		}
	default:
		return fmt.Sprintf("a path with next hop %v, want node1's %v or node2's %v", p.NextHop, l.lab.Nodes[0].LAN4, l.lab.Nodes[1].LAN4)
	}
	if !slices.Contains(p.Communities, "65000:100") || !slices.Contains(p.Communities, "65535:65281") || len(p.Communities) != 2 {
		return fmt.Sprintf("path from %v: communities %v, want 65000:100 and no-export (65535:65281)", p.NextHop, p.Communities)
	}
	if !slices.Equal(p.LargeCommunities, []string{"64513:1:2"}) {
		return fmt.Sprintf("path from %v: large communities %v, want [64513:1:2]", p.NextHop, p.LargeCommunities)
	}
	return ""
}

// pathAttrBytes is the size of the path attributes of the routes of
// TestBGPThousandRoutes as RFC 4271 lays them out (3-byte headers: flags,
// type, one length octet): ORIGIN 4; AS_PATH 3 (iBGP, empty) or 9 (eBGP,
// one AS_SEQUENCE segment of one 4-octet AS); NEXT_HOP 7; LOCAL_PREF 7
// (iBGP only); COMMUNITIES 3+2*4; LARGE_COMMUNITY 3+12.
func pathAttrBytes(ibgp bool) int {
	if ibgp {
		return 4 + 3 + 7 + 7 + 11 + 15
	}
	return 4 + 9 + 7 + 11 + 15
}

// minUpdates is the fewest UPDATE messages of at most maxLen bytes that
// carry n IPv4 /32 routes sharing attrBytes of path attributes in the NLRI
// field: 19 bytes of header, 2 of withdrawn routes length, 2 of total
// attribute length, then 5 bytes per /32 (length octet and 4 address
// octets).
func minUpdates(n, attrBytes, maxLen int) int {
	perMessage := (maxLen - 19 - 2 - 2 - attrBytes) / 5
	return (n + perMessage - 1) / perMessage
}

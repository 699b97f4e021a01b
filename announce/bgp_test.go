package announce

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

// baseYAML has two pools (blue with IPv4 and IPv6, red with IPv4) and two
// peers (ibgp and ebgp); cases add advertisements and more.
const baseYAML = `
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: blue, labels: {color: blue}}
spec: {addresses: [10.0.1.0/24, "fd00:1::/120"]}
---
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: red, labels: {color: red}}
spec: {addresses: [10.0.2.0/24]}
---
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: ibgp}
spec: {myASN: 64512, peerASN: 64512, peerAddress: 172.30.0.3}
---
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: ebgp}
spec: {myASN: 64512, peerASN: 64513, peerAddress: 172.30.0.4}
`

const allAds = `
---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: {name: all}
`

// twoNodes are n1 in rack a and n2 in rack b.
var twoNodes = []Node{node("n1", "rack", "a"), node("n2", "rack", "b")}

type bgpCase struct {
	name     string
	yaml     string // after baseYAML; a case that replaces the peers starts with "!"
	nodes    []Node // twoNodes when nil
	services []Service
	want     map[string][]string
	// conflicts are LocalPrefConflict.String() values.
	conflicts []string
}

var bgpCases = []bgpCase{
	{
		name:     "an empty advertisement: every pool, node and peer",
		yaml:     allAds,
		services: []Service{svc("a", "10.0.1.1"), svc("b", "10.0.2.1")},
		want: map[string][]string{
			"n1 ebgp": {"10.0.1.1/32", "10.0.2.1/32"}, "n1 ibgp": {"10.0.1.1/32", "10.0.2.1/32"},
			"n2 ebgp": {"10.0.1.1/32", "10.0.2.1/32"}, "n2 ibgp": {"10.0.1.1/32", "10.0.2.1/32"},
		},
	},
	{
		name: "ipAddressPools names the pools",
		yaml: `---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: {name: blue-only}
spec: {ipAddressPools: [blue]}`,
		nodes:    []Node{node("n1")},
		services: []Service{svc("a", "10.0.1.1"), svc("b", "10.0.2.1")},
		want:     map[string][]string{"n1 ebgp": {"10.0.1.1/32"}, "n1 ibgp": {"10.0.1.1/32"}},
	},
	{
		name: "ipAddressPoolSelectors select pools by label",
		yaml: `---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: {name: red-only}
spec: {ipAddressPoolSelectors: [{matchLabels: {color: red}}]}`,
		nodes:    []Node{node("n1")},
		services: []Service{svc("a", "10.0.1.1"), svc("b", "10.0.2.1")},
		want:     map[string][]string{"n1 ebgp": {"10.0.2.1/32"}, "n1 ibgp": {"10.0.2.1/32"}},
	},
	{
		name: "serviceSelectors select Services by label",
		yaml: `---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: {name: web}
spec: {serviceSelectors: [{matchLabels: {app: web}}]}`,
		nodes:    []Node{node("n1")},
		services: []Service{svc("a", "10.0.1.1").withLabels("app", "web"), svc("b", "10.0.1.2").withLabels("app", "db"), svc("c", "10.0.1.3")},
		want:     map[string][]string{"n1 ebgp": {"10.0.1.1/32"}, "n1 ibgp": {"10.0.1.1/32"}},
	},
	{
		name: "nodeSelectors choose the announcing nodes",
		yaml: `---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: {name: rack-a}
spec: {nodeSelectors: [{matchLabels: {rack: a}}]}`,
		services: []Service{svc("a", "10.0.1.1")},
		want: map[string][]string{
			"n1 ebgp": {"10.0.1.1/32"}, "n1 ibgp": {"10.0.1.1/32"},
			"n2 ebgp": {}, "n2 ibgp": {},
		},
	},
	{
		name: "peers choose the receiving peers",
		yaml: `---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: {name: to-ebgp}
spec: {peers: [ebgp]}`,
		nodes:    []Node{node("n1")},
		services: []Service{svc("a", "10.0.1.1")},
		want:     map[string][]string{"n1 ebgp": {"10.0.1.1/32"}, "n1 ibgp": {}},
	},
	{
		name: "aggregationLength: one route for the /24 however many Services",
		yaml: `---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: {name: agg}
spec: {aggregationLength: 24, aggregationLengthV6: 120, peers: [ibgp]}`,
		nodes:    []Node{node("n1")},
		services: []Service{svc("a", "10.0.1.1"), svc("b", "10.0.1.200"), svc("c", "fd00:1::1"), svc("d", "fd00:1::2"), svc("e", "10.0.2.7")},
		want:     map[string][]string{"n1 ebgp": {}, "n1 ibgp": {"10.0.1.0/24", "10.0.2.0/24", "fd00:1::/120"}},
	},
	{
		name: "communities: values, well-known names, aliases and large ones, sorted",
		yaml: `---
apiVersion: metallb.io/v1beta1
kind: Community
metadata: {name: aliases}
spec: {communities: [{name: tag, value: "8000:800"}]}
---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: {name: tagged}
spec: {peers: [ebgp], communities: ["65535:65282", no-export, tag, "large:1:2:3"]}`,
		nodes:    []Node{node("n1")},
		services: []Service{svc("a", "10.0.1.1")},
		want: map[string][]string{"n1 ibgp": {},
			"n1 ebgp": {"10.0.1.1/32 communities=8000:800,65535:65281,65535:65282 largeCommunities=1:2:3"}},
	},
	{
		name: "communities of advertisements giving one prefix merge",
		yaml: `---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: {name: one}
spec: {peers: [ebgp], communities: ["1:1", "3:3", "large:9:9:9"]}
---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: {name: two}
spec: {peers: [ebgp], communities: ["2:2", "3:3", "large:1:1:1"]}`,
		nodes:    []Node{node("n1")},
		services: []Service{svc("a", "10.0.1.1")},
		want: map[string][]string{"n1 ibgp": {},
			"n1 ebgp": {"10.0.1.1/32 communities=1:1,2:2,3:3 largeCommunities=1:1:1,9:9:9"}},
	},
	{
		name: "localPref goes to iBGP peers only",
		yaml: `---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: {name: pref}
spec: {localPref: 150}`,
		nodes:    []Node{node("n1")},
		services: []Service{svc("a", "10.0.1.1")},
		want:     map[string][]string{"n1 ebgp": {"10.0.1.1/32"}, "n1 ibgp": {"10.0.1.1/32 localPref=150"}},
	},
	{
		name: "two localPrefs for one prefix: a conflict, the highest is sent",
		yaml: `---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: {name: base}
spec: {localPref: 100}
---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: {name: web}
spec: {localPref: 200, serviceSelectors: [{matchLabels: {app: web}}]}`,
		nodes:    []Node{node("n1")},
		services: []Service{svc("a", "10.0.1.1").withLabels("app", "web"), svc("b", "10.0.1.2")},
		want: map[string][]string{"n1 ebgp": {"10.0.1.1/32", "10.0.1.2/32"},
			"n1 ibgp": {"10.0.1.1/32 localPref=200", "10.0.1.2/32 localPref=100"}},
		conflicts: []string{"node n1 peer ibgp prefix 10.0.1.1/32: localPref conflict (base=100 web=200), sending 200"},
	},
	{
		name: "an advertisement without localPref conflicts with one that has it",
		yaml: `---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: {name: plain}
---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: {name: web}
spec: {localPref: 50, serviceSelectors: [{matchLabels: {app: web}}]}`,
		nodes:    []Node{node("n1")},
		services: []Service{svc("a", "10.0.1.1").withLabels("app", "web")},
		want: map[string][]string{"n1 ebgp": {"10.0.1.1/32"},
			"n1 ibgp": {"10.0.1.1/32 localPref=50"}},
		conflicts: []string{"node n1 peer ibgp prefix 10.0.1.1/32: localPref conflict (plain=0 web=50), sending 50"},
	},
	{
		name: "BGPPeer nodeSelectors choose which nodes open the session",
		yaml: `---
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: rack-a-router}
spec: {myASN: 64512, peerASN: 64512, peerAddress: 172.30.0.9, nodeSelectors: [{matchLabels: {rack: a}}]}` + allAds,
		services: []Service{svc("a", "10.0.1.1")},
		want: map[string][]string{
			"n1 ebgp": {"10.0.1.1/32"}, "n1 ibgp": {"10.0.1.1/32"}, "n1 rack-a-router": {"10.0.1.1/32"},
			"n2 ebgp": {"10.0.1.1/32"}, "n2 ibgp": {"10.0.1.1/32"},
		},
	},
	{
		name:     "a node labelled exclude-from-external-load-balancers keeps its sessions but announces nothing",
		yaml:     allAds,
		nodes:    []Node{node("n1"), node("n2", ExcludeLabel, "")},
		services: []Service{svc("a", "10.0.1.1")},
		want: map[string][]string{
			"n1 ebgp": {"10.0.1.1/32"}, "n1 ibgp": {"10.0.1.1/32"}, "n2 ebgp": {}, "n2 ibgp": {},
		},
	},
	{
		name:     "a node with NetworkUnavailable announces nothing",
		yaml:     allAds,
		nodes:    []Node{node("n1"), {Name: "n2", NetworkUnavailable: true}},
		services: []Service{svc("a", "10.0.1.1")},
		want: map[string][]string{
			"n1 ebgp": {"10.0.1.1/32"}, "n1 ibgp": {"10.0.1.1/32"}, "n2 ebgp": {}, "n2 ibgp": {},
		},
	},
	{
		name:     "a cordoned node announces nothing",
		yaml:     allAds,
		nodes:    []Node{node("n1"), {Name: "n2", Unschedulable: true}},
		services: []Service{svc("a", "10.0.1.1")},
		want: map[string][]string{
			"n1 ebgp": {"10.0.1.1/32"}, "n1 ibgp": {"10.0.1.1/32"}, "n2 ebgp": {}, "n2 ibgp": {},
		},
	},
	{
		name:  "externalTrafficPolicy Local: only nodes with a serving endpoint",
		yaml:  allAds,
		nodes: []Node{node("n1"), node("n2"), node("n3"), node("n4")},
		services: []Service{svc("a", "10.0.1.1").local(
			Endpoint{Node: "n1", Ready: False, Serving: True}, // terminating, still serving
			Endpoint{Node: "n2", Ready: False},                // not ready
			Endpoint{Node: "n3", Ready: Unset},                // unset means ready
			Endpoint{Node: "n4", Ready: False, Serving: False},
		)},
		want: map[string][]string{
			"n1 ebgp": {"10.0.1.1/32"}, "n1 ibgp": {"10.0.1.1/32"}, "n2 ebgp": {}, "n2 ibgp": {},
			"n3 ebgp": {"10.0.1.1/32"}, "n3 ibgp": {"10.0.1.1/32"}, "n4 ebgp": {}, "n4 ibgp": {},
		},
	},
	{
		name:  "externalTrafficPolicy Cluster: every node while any endpoint serves, wherever it is",
		yaml:  allAds,
		nodes: []Node{node("n1")},
		services: []Service{
			svc("a", "10.0.1.1").withEndpoints(Endpoint{Node: "", Ready: True}),
			svc("b", "10.0.1.2").withEndpoints(Endpoint{Node: "elsewhere", Ready: False, Serving: True}),
			svc("c", "10.0.1.3").withEndpoints(Endpoint{Node: "n1", Ready: False}),
			svc("d", "10.0.1.4").withEndpoints(),
		},
		want: map[string][]string{"n1 ebgp": {"10.0.1.1/32", "10.0.1.2/32"}, "n1 ibgp": {"10.0.1.1/32", "10.0.1.2/32"}},
	},
	{
		name:     "an IP in no pool is not announced",
		yaml:     allAds,
		nodes:    []Node{node("n1")},
		services: []Service{svc("a", "192.0.2.1"), svc("b", "10.0.1.1", "fd00:2::1")},
		want:     map[string][]string{"n1 ebgp": {"10.0.1.1/32"}, "n1 ibgp": {"10.0.1.1/32"}},
	},
	{
		name:     "a dual-stack Service announces both IPs; a mapped IPv4 address is IPv4",
		yaml:     allAds,
		nodes:    []Node{node("n1")},
		services: []Service{svc("a", "fd00:1::5", "::ffff:10.0.1.1")},
		want: map[string][]string{"n1 ebgp": {"10.0.1.1/32", "fd00:1::5/128"},
			"n1 ibgp": {"10.0.1.1/32", "fd00:1::5/128"}},
	},
	{
		name: "Services sharing an IP: one route, attributes of both",
		yaml: `---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: {name: all}
spec: {peers: [ebgp], communities: ["2:2"]}
---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: {name: web}
spec: {peers: [ebgp], communities: ["1:1"], serviceSelectors: [{matchLabels: {app: web}}]}`,
		nodes:    []Node{node("n1")},
		services: []Service{svc("http", "10.0.1.1").withLabels("app", "web"), svc("dns", "10.0.1.1")},
		want:     map[string][]string{"n1 ibgp": {}, "n1 ebgp": {"10.0.1.1/32 communities=1:1,2:2"}},
	},
}

func TestBGP(t *testing.T) {
	for _, tc := range bgpCases {
		t.Run(tc.name, func(t *testing.T) {
			in := Input{Config: compileYAML(t, baseYAML+tc.yaml), Nodes: tc.nodes, Services: tc.services}
			if in.Nodes == nil {
				in.Nodes = twoNodes
			}
			plan := Compute(in)
			if d := cmp.Diff(tc.want, bgpView(plan)); d != "" {
				t.Errorf("routes (-want +got):\n%s", d)
			}
			var conflicts []string
			for _, c := range plan.Conflicts {
				conflicts = append(conflicts, c.String())
			}
			if d := cmp.Diff(tc.conflicts, conflicts); d != "" {
				t.Errorf("conflicts (-want +got):\n%s", d)
			}
			// The speaker's view of each node is that node's part of the
			// cluster view.
			for _, n := range in.Nodes {
				p := New(n.Name)
				p.SetConfig(in.Config)
				for _, nn := range in.Nodes {
					p.SetNode(nn)
				}
				for _, s := range in.Services {
					p.SetService(s)
				}
				for _, pp := range plan.BGP {
					if pp.Node != n.Name {
						continue
					}
					if d := cmp.Diff(pp.Routes, p.Routes(pp.Node, pp.Peer), cmpOpts); d != "" {
						t.Errorf("New(%s).Routes(%s) differs from the cluster view (-cluster +node):\n%s", pp.Node, pp.Peer, d)
					}
				}
			}
		})
	}
}

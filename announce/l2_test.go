package announce

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

const l2BaseYAML = `
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: blue}
spec: {addresses: [10.0.1.0/24, "fd00:1::/120"]}
---
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: bgp-only}
spec: {addresses: [10.0.9.0/24]}
---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: {name: bgp-only}
spec: {ipAddressPools: [bgp-only]}
`

const emptyL2Ad = `
---
apiVersion: metallb.io/v1beta1
kind: L2Advertisement
metadata: {name: all}
spec: {ipAddressPools: [blue]}
`

// fourNodes are in racks a (n1, n3) and b (n2, n4).
var fourNodes = []Node{node("n1", "rack", "a"), node("n2", "rack", "b"), node("n3", "rack", "a"), node("n4", "rack", "b")}

// The orders by sha256(node + "#" + ip), computed with sha256sum:
//
//	10.0.1.1:  n2 n3 n4 n1
//	10.0.1.2:  n2 n1 n3 n4
//	fd00:1::1: n2 n1 n3 n4
type l2Case struct {
	name     string
	yaml     string
	nodes    []Node    // fourNodes when nil
	speakers []Speaker // every node with eth0 when nil
	services []Service
	want     map[string]string // l2View
}

var l2Cases = []l2Case{
	{
		name:     "an L2Advertisement without selectors: every node, by sha256(node#ip)",
		yaml:     emptyL2Ad,
		services: []Service{svc("a", "10.0.1.1", "fd00:1::1"), svc("b", "10.0.1.2")},
		want:     map[string]string{"10.0.1.1": "n2 <- n2,n3,n4,n1", "10.0.1.2": "n2 <- n2,n1,n3,n4", "fd00:1::1": "n2 <- n2,n1,n3,n4"},
	},
	{
		name: "nodeSelectors restrict the candidates",
		yaml: `---
apiVersion: metallb.io/v1beta1
kind: L2Advertisement
metadata: {name: rack-a}
spec: {nodeSelectors: [{matchLabels: {rack: a}}]}`,
		services: []Service{svc("a", "10.0.1.1")},
		want:     map[string]string{"10.0.1.1": "n3 <- n3,n1"},
	},
	{
		name: "serviceSelectors choose the Services; others have no L2 entry",
		yaml: `---
apiVersion: metallb.io/v1beta1
kind: L2Advertisement
metadata: {name: web}
spec: {serviceSelectors: [{matchLabels: {app: web}}]}`,
		services: []Service{svc("a", "10.0.1.1").withLabels("app", "web"), svc("b", "10.0.1.2")},
		want:     map[string]string{"10.0.1.1": "n2 <- n2,n3,n4,n1"},
	},
	{
		name: "preferredNodeSelectors rank before the hash",
		yaml: `---
apiVersion: metallb.io/v1beta1
kind: L2Advertisement
metadata: {name: prefer-a}
spec:
  preferredNodeSelectors: [{weight: 10, preference: {matchLabels: {rack: a}}}]`,
		services: []Service{svc("a", "10.0.1.1")},
		want:     map[string]string{"10.0.1.1": "n3 <- n3,n1,n2,n4"},
	},
	{
		name: "preferred weights add up across selectors and advertisements",
		yaml: `---
apiVersion: metallb.io/v1beta1
kind: L2Advertisement
metadata: {name: one}
spec:
  preferredNodeSelectors:
  - {weight: 10, preference: {matchLabels: {rack: a}}}
  - {weight: 15, preference: {matchLabels: {disk: ssd}}}
---
apiVersion: metallb.io/v1beta1
kind: L2Advertisement
metadata: {name: two}
spec:
  preferredNodeSelectors: [{weight: 10, preference: {matchLabels: {disk: ssd}}}]`,
		nodes:    []Node{node("n1", "rack", "a"), node("n2"), node("n3", "rack", "a", "disk", "ssd"), node("n4", "disk", "ssd")},
		services: []Service{svc("a", "10.0.1.1")},
		want:     map[string]string{"10.0.1.1": "n3 <- n3,n4,n1,n2"}, // 35, 25, 10, 0
	},
	{
		name: "a preference counts only on nodes its advertisement selects",
		yaml: emptyL2Ad + `---
apiVersion: metallb.io/v1beta1
kind: L2Advertisement
metadata: {name: rack-b}
spec:
  nodeSelectors: [{matchLabels: {rack: b}}]
  preferredNodeSelectors: [{weight: 50, preference: {matchLabels: {rack: a}}}]`,
		services: []Service{svc("a", "10.0.1.1")},
		want:     map[string]string{"10.0.1.1": "n2 <- n2,n3,n4,n1"},
	},
	{
		name:     "a node labelled exclude-from-external-load-balancers is no candidate",
		yaml:     emptyL2Ad,
		nodes:    []Node{node("n1"), node("n2", ExcludeLabel, "true"), node("n3"), node("n4")},
		services: []Service{svc("a", "10.0.1.1")},
		want:     map[string]string{"10.0.1.1": "n3 <- n3,n4,n1"},
	},
	{
		name:     "a node with NetworkUnavailable is no candidate",
		yaml:     emptyL2Ad,
		nodes:    []Node{node("n1"), {Name: "n2", NetworkUnavailable: true}, node("n3"), node("n4")},
		services: []Service{svc("a", "10.0.1.1")},
		want:     map[string]string{"10.0.1.1": "n3 <- n3,n4,n1"},
	},
	{
		name:     "a cordoned node is no candidate",
		yaml:     emptyL2Ad,
		nodes:    []Node{node("n1"), {Name: "n2", Unschedulable: true}, node("n3"), node("n4")},
		services: []Service{svc("a", "10.0.1.1")},
		want:     map[string]string{"10.0.1.1": "n3 <- n3,n4,n1"},
	},
	{
		name:     "a node whose speaker is not alive, or that has no Node, is no candidate",
		yaml:     emptyL2Ad,
		speakers: speakers("n1", "n3", "n5"),
		services: []Service{svc("a", "10.0.1.1")},
		want:     map[string]string{"10.0.1.1": "n3 <- n3,n1"},
	},
	{
		name:     "externalTrafficPolicy Local: nodes with a serving endpoint",
		yaml:     emptyL2Ad,
		services: []Service{svc("a", "10.0.1.1").local(Endpoint{Node: "n1"}, Endpoint{Node: "n4", Ready: False, Serving: True}, Endpoint{Node: "n2", Ready: False})},
		want:     map[string]string{"10.0.1.1": "n4 <- n4,n1"},
	},
	{
		name:     "externalTrafficPolicy Cluster without a serving endpoint: no owner",
		yaml:     emptyL2Ad,
		services: []Service{svc("a", "10.0.1.1").withEndpoints(Endpoint{Node: "n1", Ready: False})},
		want:     map[string]string{"10.0.1.1": "- <- "},
	},
	{
		name: "interfaces: only speakers with an allowed interface up; the owner gets the list",
		yaml: `---
apiVersion: metallb.io/v1beta1
kind: L2Advertisement
metadata: {name: eth1}
spec: {interfaces: [eth1]}`,
		speakers: []Speaker{{Node: "n1", Interfaces: []string{"eth0", "eth1"}}, {Node: "n2", Interfaces: []string{"eth0"}},
			{Node: "n3", Interfaces: []string{"eth1"}}, {Node: "n4"}},
		services: []Service{svc("a", "10.0.1.1")},
		want:     map[string]string{"10.0.1.1": "n3[eth1] <- n3,n1"},
	},
	{
		name: "interfaces of several advertisements are a union",
		yaml: `---
apiVersion: metallb.io/v1beta1
kind: L2Advertisement
metadata: {name: one}
spec: {interfaces: [eth1]}
---
apiVersion: metallb.io/v1beta1
kind: L2Advertisement
metadata: {name: two}
spec: {interfaces: [eth2, eth0]}`,
		services: []Service{svc("a", "10.0.1.1")},
		want:     map[string]string{"10.0.1.1": "n2[eth0 eth1 eth2] <- n2,n3,n4,n1"},
	},
	{
		name: "an advertisement without interfaces allows any",
		yaml: emptyL2Ad + `---
apiVersion: metallb.io/v1beta1
kind: L2Advertisement
metadata: {name: eth1}
spec: {interfaces: [eth1]}`,
		services: []Service{svc("a", "10.0.1.1")},
		want:     map[string]string{"10.0.1.1": "n2 <- n2,n3,n4,n1"},
	},
	{
		name: "the owner's interfaces come from the advertisements that select it",
		yaml: `---
apiVersion: metallb.io/v1beta1
kind: L2Advertisement
metadata: {name: rack-a-eth1}
spec: {interfaces: [eth1], nodeSelectors: [{matchLabels: {rack: a}}]}
---
apiVersion: metallb.io/v1beta1
kind: L2Advertisement
metadata: {name: eth0}
spec: {interfaces: [eth0]}`,
		nodes:    []Node{node("n1", "rack", "a"), node("n2", "rack", "b", ExcludeLabel, ""), node("n3", "rack", "a"), node("n4", "rack", "b")},
		services: []Service{svc("a", "10.0.1.1")},
		want:     map[string]string{"10.0.1.1": "n3[eth0 eth1] <- n3,n4,n1"},
	},
	{
		name:  "an IP shared by Services: the node that can announce more of them first",
		yaml:  emptyL2Ad,
		nodes: fourNodes,
		services: []Service{
			svc("http", "10.0.1.1").local(Endpoint{Node: "n1"}, Endpoint{Node: "n3"}),
			svc("dns", "10.0.1.1").local(Endpoint{Node: "n1"}),
		},
		want: map[string]string{"10.0.1.1": "n1 <- n1,n3"},
	},
	{
		name: "an advertisement's preference counts once on an IP shared by Services it selects",
		yaml: `---
apiVersion: metallb.io/v1beta1
kind: L2Advertisement
metadata: {name: prefer-a}
spec:
  preferredNodeSelectors: [{weight: 10, preference: {matchLabels: {rack: a}}}]
---
apiVersion: metallb.io/v1beta1
kind: L2Advertisement
metadata: {name: web-prefers-b}
spec:
  serviceSelectors: [{matchLabels: {app: web}}]
  preferredNodeSelectors: [{weight: 15, preference: {matchLabels: {rack: b}}}]`,
		services: []Service{svc("http", "10.0.1.1").withLabels("app", "web"), svc("dns", "10.0.1.1")},
		want:     map[string]string{"10.0.1.1": "n2 <- n2,n4,n3,n1"},
	},
	{
		name: "an IP shared by Services: any interface when one of them allows any",
		yaml: `---
apiVersion: metallb.io/v1beta1
kind: L2Advertisement
metadata: {name: web-anywhere}
spec: {serviceSelectors: [{matchLabels: {app: web}}]}
---
apiVersion: metallb.io/v1beta1
kind: L2Advertisement
metadata: {name: eth1}
spec: {interfaces: [eth1]}`,
		speakers: []Speaker{{Node: "n1", Interfaces: []string{"eth0", "eth1"}}, {Node: "n2", Interfaces: []string{"eth0", "eth1"}}},
		services: []Service{svc("a-http", "10.0.1.1").withLabels("app", "web"), svc("b-dns", "10.0.1.1")},
		want:     map[string]string{"10.0.1.1": "n2 <- n2,n1"},
	},
	{
		name:     "an IP in no pool, or in a pool without L2Advertisement, has no L2 entry",
		yaml:     emptyL2Ad,
		services: []Service{svc("a", "192.0.2.1"), svc("b", "10.0.9.1")},
		want:     map[string]string{},
	},
}

func TestL2(t *testing.T) {
	for _, tc := range l2Cases {
		t.Run(tc.name, func(t *testing.T) {
			in := Input{Config: compileYAML(t, l2BaseYAML+tc.yaml), Nodes: tc.nodes, Speakers: tc.speakers, Services: tc.services}
			if in.Nodes == nil {
				in.Nodes = fourNodes
			}
			if in.Speakers == nil {
				for _, n := range in.Nodes {
					in.Speakers = append(in.Speakers, speakers(n.Name)...)
				}
			}
			if d := cmp.Diff(tc.want, l2View(Compute(in))); d != "" {
				t.Errorf("L2 (-want +got):\n%s", d)
			}
		})
	}
}

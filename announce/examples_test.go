package announce

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

// The configurations of MetalLB's documentation as users read it (OKD's
// "Advertising the IP address pools" and the Red Hat blog "Advanced MetalLB
// configuration", in /work/shared/seeds), with what they must announce.
// Where a document's YAML is not valid as printed (upper-case names, a list
// indented into another), the case says what was mended.

const routerPeer = `
---
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata:
  name: peer
  namespace: metallb-system
spec:
  myASN: 64512
  peerASN: 64512
  peerAddress: 172.30.0.3
`

type exampleCase struct {
	name     string
	yaml     string
	nodes    []Node
	speakers []Speaker // every node with eth0 when nil
	services []Service
	bgp      map[string][]string
	l2       map[string]string
}

var exampleCases = []exampleCase{
	{
		name: "OKD: a BGP advertisement and a basic use case",
		yaml: `
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata:
  namespace: metallb-system
  name: doc-example-bgp-basic
spec:
  addresses:
    - 203.0.113.200/30
    - fc00:f853:ccd:e799::/124
---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata:
  name: bgpadvertisement-basic
  namespace: metallb-system
spec:
  ipAddressPools:
  - doc-example-bgp-basic
` + routerPeer,
		nodes:    []Node{node("worker-0")},
		services: []Service{svc("a", "203.0.113.200", "fc00:f853:ccd:e799::1")},
		// "one 203.0.113.200/32 route and one fc00:f853:ccd:e799::1/128
		// route ... localPref set to 0 and no BGP communities"
		bgp: map[string][]string{"worker-0 peer": {"203.0.113.200/32", "fc00:f853:ccd:e799::1/128"}},
		l2:  map[string]string{},
	},
	{
		name:  "OKD: a BGP advertisement and an advanced use case",
		yaml:  advancedYAML + routerPeer,
		nodes: []Node{node("worker-0"), node("worker-1")},
		services: []Service{svc("a", "203.0.113.200"), svc("b", "203.0.113.201"), svc("c", "203.0.113.203", "fc00:f853:ccd:e799::1"),
			svc("d", "fc00:f853:ccd:e799::e")},
		// Each /32 with localPref 100 and NO_ADVERTISE (65535:65282), the
		// /30 aggregate once with 8000:800; the same for IPv6 with /124.
		bgp: map[string][]string{
			"worker-0 peer": advancedRoutes,
			"worker-1 peer": advancedRoutes,
		},
		l2: map[string]string{},
	},
	{
		name: "OKD: advertising an IP address pool from a subset of nodes (nodeSelector, as the page spells it)",
		yaml: `
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata:
  namespace: metallb-system
  name: pool1
spec:
  addresses:
    - 4.4.4.100-4.4.4.200
    - 2001:100:4::200-2001:100:4::400
---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata:
  name: example
spec:
  ipAddressPools:
  - pool1
  nodeSelector:
  - matchLabels:
      kubernetes.io/hostname: NodeA
  - matchLabels:
      kubernetes.io/hostname: NodeB
` + routerPeer,
		nodes:    []Node{node("NodeA"), node("NodeB"), node("NodeC")},
		services: []Service{svc("a", "4.4.4.150"), svc("b", "2001:100:4::300")},
		bgp: map[string][]string{
			"NodeA peer": {"4.4.4.150/32", "2001:100:4::300/128"},
			"NodeB peer": {"4.4.4.150/32", "2001:100:4::300/128"},
			"NodeC peer": {},
		},
		l2: map[string]string{},
	},
	{
		name: "Red Hat blog: announcing the service from a subset of the nodes",
		yaml: `
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: first-pool, namespace: metallb-system}
spec: {addresses: [192.168.10.0/24]}
---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata:
  name: advertisement
  namespace: metallb-system
spec:
  aggregationLength: 32
  aggregationLengthV6: 128
  ipAddressPools:
  - first-pool
  nodeSelectors:
  - matchLabels:
      role: serviceAdvertiser
` + routerPeer,
		nodes:    []Node{node("n1", "role", "serviceAdvertiser"), node("n2")},
		services: []Service{svc("a", "192.168.10.7")},
		bgp:      map[string][]string{"n1 peer": {"192.168.10.7/32"}, "n2 peer": {}},
		l2:       map[string]string{},
	},
	{
		// The blog names them PoolA, PeerA and PeerB; object names must be
		// lower case.
		name: "Red Hat blog: announcing the service only to a subset of peers",
		yaml: `
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: poola, namespace: metallb-system}
spec: {addresses: [192.168.10.0/24]}
---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata:
   name: example
   namespace: metallb-system
spec:
   ipAddressPools:
   - poola
   peers:
   - peera
   - peerb
---
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: peera, namespace: metallb-system}
spec: {myASN: 64512, peerASN: 64512, peerAddress: 172.30.0.3}
---
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: peerb, namespace: metallb-system}
spec: {myASN: 64512, peerASN: 64512, peerAddress: 172.30.0.4}
---
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: peerc, namespace: metallb-system}
spec: {myASN: 64512, peerASN: 64512, peerAddress: 172.30.0.5}
`,
		nodes:    []Node{node("n1")},
		services: []Service{svc("a", "192.168.10.7")},
		bgp:      map[string][]string{"n1 peera": {"192.168.10.7/32"}, "n1 peerb": {"192.168.10.7/32"}, "n1 peerc": {}},
		l2:       map[string]string{},
	},
	{
		name: "Red Hat blog: establishing the BGP session from a subset of nodes",
		yaml: `
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: first-pool, namespace: metallb-system}
spec: {addresses: [192.168.10.0/24]}
---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: {name: empty, namespace: metallb-system}
---
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata:
   name: example
   namespace: metallb-system
spec:
  myASN: 64512
  peerASN: 64512
  peerAddress: 172.30.0.3
  peerPort: 180
  nodeSelectors:
  - matchLabels:
      rack: frontend
`,
		nodes:    []Node{node("n1", "rack", "frontend"), node("n2", "rack", "backend")},
		services: []Service{svc("a", "192.168.10.7")},
		bgp:      map[string][]string{"n1 example": {"192.168.10.7/32"}},
		l2:       map[string]string{},
	},
	{
		name: "OKD: an L2 advertisement",
		yaml: `
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata:
  namespace: metallb-system
  name: doc-example-l2
spec:
  addresses:
    - 4.4.4.0/24
  autoAssign: false
---
apiVersion: metallb.io/v1beta1
kind: L2Advertisement
metadata:
  name: l2advertisement
  namespace: metallb-system
spec:
  ipAddressPools:
   - doc-example-l2
`,
		nodes:    []Node{node("n1"), node("n2"), node("n3")},
		services: []Service{svc("a", "4.4.4.4")},
		bgp:      map[string][]string{},
		l2:       map[string]string{"4.4.4.4": hashOrderView("4.4.4.4", "n1", "n2", "n3")},
	},
	{
		name: "OKD: an L2 advertisement with labels (ipAddressPoolSelectors)",
		yaml: `
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata:
  namespace: metallb-system
  name: doc-example-l2-label
  labels:
    zone: east
spec:
  addresses:
    - 172.31.249.87/32
---
apiVersion: metallb.io/v1beta1
kind: L2Advertisement
metadata:
  name: l2advertisement-label
  namespace: metallb-system
spec:
  ipAddressPoolSelectors:
    - matchExpressions:
        - key: zone
          operator: In
          values:
            - east
`,
		nodes:    []Node{node("n1"), node("n2"), node("n3")},
		services: []Service{svc("a", "172.31.249.87")},
		bgp:      map[string][]string{},
		l2:       map[string]string{"172.31.249.87": hashOrderView("172.31.249.87", "n1", "n2", "n3")},
	},
	{
		// The page indents interfaces under ipAddressPools; read as the
		// spec field it describes. "The chosen node does not announce the
		// service if the node does not have the selected interface":
		// Herald does not choose it.
		name: "OKD: an L2 advertisement for selected interfaces",
		yaml: `
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata:
  namespace: metallb-system
  name: doc-example-l2
spec:
  addresses:
    - 4.4.4.0/24
  autoAssign: false
---
apiVersion: metallb.io/v1beta1
kind: L2Advertisement
metadata:
  name: l2advertisement
  namespace: metallb-system
spec:
  ipAddressPools:
   - doc-example-l2
  interfaces:
   - interfaceA
   - interfaceB
`,
		nodes:    []Node{node("n1"), node("n2"), node("n3")},
		speakers: []Speaker{{Node: "n1", Interfaces: []string{"eth0"}}, {Node: "n2", Interfaces: []string{"interfaceB"}}, {Node: "n3", Interfaces: []string{"eth0", "interfaceA"}}},
		services: []Service{svc("a", "4.4.4.4")},
		bgp:      map[string][]string{},
		// n3 before n2 by sha256(node#ip); n1 has neither interface.
		l2: map[string]string{"4.4.4.4": "n3[interfaceA interfaceB] <- n3,n2"},
	},
	{
		name: "Red Hat blog: limit the nodes advertising the service via L2",
		yaml: `
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: first-pool, namespace: metallb-system}
spec: {addresses: [192.168.10.0/24]}
---
apiVersion: metallb.io/v1beta1
kind: L2Advertisement
metadata:
   name: example
   namespace: metallb-system
spec:
   nodeSelectors:
   - matchLabels:
      network: controlplane
`,
		nodes:    []Node{node("n1", "network", "controlplane"), node("n2"), node("n3", "network", "controlplane")},
		services: []Service{svc("a", "192.168.10.7")},
		bgp:      map[string][]string{},
		l2:       map[string]string{"192.168.10.7": hashOrderView("192.168.10.7", "n1", "n3")},
	},
}

const advancedYAML = `
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata:
  namespace: metallb-system
  name: doc-example-bgp-adv
  labels:
    zone: east
spec:
  addresses:
    - 203.0.113.200/30
    - fc00:f853:ccd:e799::/124
  autoAssign: false
---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata:
  name: bgpadvertisement-adv-1
  namespace: metallb-system
spec:
  ipAddressPools:
    - doc-example-bgp-adv
  communities:
    - 65535:65282
  aggregationLength: 32
  localPref: 100
---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata:
  name: bgpadvertisement-adv-2
  namespace: metallb-system
spec:
  ipAddressPools:
    - doc-example-bgp-adv
  communities:
    - 8000:800
  aggregationLength: 30
  aggregationLengthV6: 124
`

var advancedRoutes = []string{
	"203.0.113.200/30 communities=8000:800",
	"203.0.113.200/32 localPref=100 communities=65535:65282",
	"203.0.113.201/32 localPref=100 communities=65535:65282",
	"203.0.113.203/32 localPref=100 communities=65535:65282",
	"fc00:f853:ccd:e799::/124 communities=8000:800",
	"fc00:f853:ccd:e799::1/128 localPref=100 communities=65535:65282",
	"fc00:f853:ccd:e799::e/128 localPref=100 communities=65535:65282",
}

func TestDocumentationExamples(t *testing.T) {
	for _, tc := range exampleCases {
		t.Run(tc.name, func(t *testing.T) {
			in := Input{Config: compileYAML(t, tc.yaml), Nodes: tc.nodes, Speakers: tc.speakers, Services: tc.services}
			if in.Speakers == nil {
				for _, n := range in.Nodes {
					in.Speakers = append(in.Speakers, speakers(n.Name)...)
				}
			}
			plan := Compute(in)
			if d := cmp.Diff(tc.bgp, bgpView(plan)); d != "" {
				t.Errorf("routes (-want +got):\n%s", d)
			}
			if d := cmp.Diff(tc.l2, l2View(plan)); d != "" {
				t.Errorf("L2 (-want +got):\n%s", d)
			}
			if len(plan.Conflicts) > 0 {
				t.Errorf("conflicts: %v", plan.Conflicts)
			}
		})
	}
}

// TestAdvancedAggregateSentOnce follows the OKD advanced example Service by
// Service: "Each service that you add generates the /30 route, but MetalLB
// deduplicates the routes to one BGP advertisement".
func TestAdvancedAggregateSentOnce(t *testing.T) {
	p := New("worker-0")
	p.SetConfig(compileYAML(t, advancedYAML+routerPeer))
	if got := p.SetNode(node("worker-0")); len(got.Sessions) != 1 || !got.Sessions[0].Open || len(got.Routes) != 0 {
		t.Fatalf("SetNode: %+v, want the session to peer opened, no routes", got)
	}
	adv1 := "localPref=100 communities=65535:65282"
	steps := []struct {
		do               func() Changes
		added, withdrawn []string
	}{
		{func() Changes { return p.SetService(svc("a", "203.0.113.200")) },
			[]string{"203.0.113.200/30 communities=8000:800", "203.0.113.200/32 " + adv1}, nil},
		{func() Changes { return p.SetService(svc("b", "203.0.113.201")) },
			[]string{"203.0.113.201/32 " + adv1}, nil},
		{func() Changes { return p.SetService(svc("c", "203.0.113.202")) },
			[]string{"203.0.113.202/32 " + adv1}, nil},
		{func() Changes { return p.DeleteService(ServiceKey{"default", "a"}) },
			nil, []string{"203.0.113.200/32"}},
		{func() Changes { return p.DeleteService(ServiceKey{"default", "c"}) },
			nil, []string{"203.0.113.202/32"}},
		{func() Changes { return p.DeleteService(ServiceKey{"default", "b"}) },
			nil, []string{"203.0.113.200/30", "203.0.113.201/32"}},
	}
	for i, s := range steps {
		c := s.do()
		var added, withdrawn []string
		for _, rc := range c.Routes {
			if rc.Node != "worker-0" || rc.Peer != "peer" || len(rc.Changed) > 0 {
				t.Fatalf("step %d: unexpected %+v", i, rc)
			}
			for _, r := range rc.Added {
				added = append(added, r.String())
			}
			for _, pfx := range rc.Removed {
				withdrawn = append(withdrawn, pfx.String())
			}
		}
		if d := cmp.Diff(s.added, added); d != "" {
			t.Errorf("step %d: added (-want +got):\n%s", i, d)
		}
		if d := cmp.Diff(s.withdrawn, withdrawn); d != "" {
			t.Errorf("step %d: withdrawn (-want +got):\n%s", i, d)
		}
	}
}

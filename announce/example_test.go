package announce_test

import (
	"fmt"
	"net/netip"

	"github.com/heraldlb/herald/announce"
	"github.com/heraldlb/herald/config"
	"github.com/heraldlb/herald/config/manifest"
)

// The speaker on node worker-0 plans its own BGP routes and every L2 owner,
// and hands each step's changes to its peers and interfaces.
func Example() {
	s := manifest.Set{DefaultNamespace: "metallb-system"}
	s.Add("config.yaml", []byte(`
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: pool}
spec: {addresses: [203.0.113.0/24]}
---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: {name: bgp}
spec: {communities: [no-export]}
---
apiVersion: metallb.io/v1beta1
kind: L2Advertisement
metadata: {name: l2}
---
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: tor}
spec: {myASN: 64512, peerASN: 64512, peerAddress: 192.0.2.1}
`))
	cfg, err := config.Compile(s.Input)
	if err != nil {
		panic(err)
	}

	p := announce.New("worker-0")
	p.SetConfig(cfg)
	for _, n := range []string{"worker-0", "worker-1"} {
		c := p.SetNode(announce.Node{Name: n})
		for _, sc := range c.Sessions {
			fmt.Printf("session to %s open=%v\n", sc.Peer, sc.Open)
		}
	}
	p.SetSpeakers([]announce.Speaker{{Node: "worker-0", Interfaces: []string{"eth0"}}, {Node: "worker-1", Interfaces: []string{"eth0"}}})

	c := p.SetService(announce.Service{
		Key:       announce.ServiceKey{Namespace: "default", Name: "web"},
		IPs:       []netip.Addr{netip.MustParseAddr("203.0.113.10")},
		Endpoints: []announce.Endpoint{{Node: "worker-1", Ready: announce.True}},
	})
	for _, rc := range c.Routes {
		for _, r := range rc.Added {
			fmt.Printf("to %s: announce %s\n", rc.Peer, r)
		}
	}
	for _, l := range c.L2 {
		a, _ := p.L2(l.IP)
		fmt.Printf("%s: owner %s, candidates %v\n", l.IP, l.New.Node, a.Candidates)
	}
	// Output:
	// session to tor open=true
	// to tor: announce 203.0.113.10/32 communities=65535:65281
	// 203.0.113.10: owner worker-1, candidates [worker-1 worker-0]
}

package announce

import (
	"fmt"
	"net/netip"
	"runtime"
	"testing"

	"github.com/heraldlb/herald/config"
)

// The benchmark world: 10,000 Services with one IPv4 address each in a /16
// pool that a BGPAdvertisement (to an iBGP and an eBGP peer, with a
// community and a localPref) and an L2Advertisement both cover, on
// benchNodes nodes whose speakers are all alive. A tenth of the Services
// are Local with endpoints on two nodes; the rest are Cluster.
const (
	benchServices = 10000
	benchNodes    = 50
)

const benchYAML = `
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: big}
spec: {addresses: [10.0.0.0/16]}
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
---
apiVersion: metallb.io/v1beta1
kind: L2Advertisement
metadata: {name: l2}
spec:
  preferredNodeSelectors: [{weight: 10, preference: {matchLabels: {rack: a}}}]
---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: {name: bgp}
spec: {localPref: 100, communities: [no-export]`

func benchConfig(b *testing.B, aggregate bool) *config.Config {
	y := benchYAML + "}"
	if aggregate {
		y = benchYAML + ", aggregationLength: 24}"
	}
	return compileYAML(b, y)
}

func benchNodeName(i int) string { return fmt.Sprintf("node-%03d", i) }

func benchService(i int, localOn int) Service {
	s := Service{Key: ServiceKey{"bench", fmt.Sprint("svc-", i)},
		IPs:       []netip.Addr{netip.AddrFrom4([4]byte{10, 0, byte(i / 250), byte(1 + i%250)})},
		Labels:    map[string]string{"app": fmt.Sprint("app-", i%100)},
		Endpoints: []Endpoint{{Node: benchNodeName(i % benchNodes)}, {Node: benchNodeName((i + 1) % benchNodes)}}}
	if localOn >= 0 {
		s.TrafficPolicy = Local
		s.Endpoints = []Endpoint{{Node: benchNodeName(localOn)}, {Node: benchNodeName((localOn + 7) % benchNodes)}}
	}
	return s
}

func benchInput(b *testing.B, nodes int) Input {
	in := Input{Config: benchConfig(b, false)}
	for i := range nodes {
		rack := "b"
		if i%5 == 0 {
			rack = "a"
		}
		in.Nodes = append(in.Nodes, Node{Name: benchNodeName(i), Labels: map[string]string{"rack": rack}})
		in.Speakers = append(in.Speakers, Speaker{Node: benchNodeName(i), Interfaces: []string{"eth0"}})
	}
	for i := range benchServices {
		local := -1
		if i%10 == 0 {
			local = i % nodes
		}
		in.Services = append(in.Services, benchService(i, local))
	}
	return in
}

func load(p *Planner, in Input) {
	p.SetConfig(in.Config)
	for _, n := range in.Nodes {
		p.SetNode(n)
	}
	p.SetSpeakers(in.Speakers)
	for _, s := range in.Services {
		p.SetService(s)
	}
}

func heapInUse() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// BenchmarkFullPlan loads every input into an empty planner: the speaker's
// start (one node's routes, every L2 owner), and the cluster view of
// `kubectl herald` (every node's routes). heap-MB is what the loaded
// planner keeps.
func BenchmarkFullPlan(b *testing.B) {
	for _, tc := range []struct {
		name  string
		nodes int
		new   func() *Planner
	}{
		{"speaker-50-nodes", benchNodes, func() *Planner { return New(benchNodeName(0)) }},
		{"cluster-10-nodes", 10, NewAll},
	} {
		b.Run(tc.name, func(b *testing.B) {
			in := benchInput(b, tc.nodes)
			var p *Planner
			before := heapInUse()
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				p = tc.new()
				load(p, in)
			}
			b.StopTimer()
			b.ReportMetric(float64(heapInUse()-before)/(1<<20), "heap-MB")
			runtime.KeepAlive(p)
		})
	}
}

// BenchmarkSetService changes one Service among 10,000: its endpoints move
// between two nodes (Local), so each change withdraws or adds its route on
// the planned node and moves its L2 owner.
func BenchmarkSetService(b *testing.B) {
	for _, tc := range []struct {
		name  string
		nodes int
		new   func() *Planner
	}{
		{"speaker-50-nodes", benchNodes, func() *Planner { return New(benchNodeName(0)) }},
		{"cluster-10-nodes", 10, NewAll},
	} {
		b.Run(tc.name, func(b *testing.B) {
			in := benchInput(b, tc.nodes)
			p := tc.new()
			load(p, in)
			variants := [2]Service{benchService(4242, 0), benchService(4242, 1)}
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				if c := p.SetService(variants[i%2]); c.Empty() {
					b.Fatal("a change changed nothing")
				}
			}
		})
	}
}

// BenchmarkSetServiceAggregate adds and removes a Service inside a /24
// aggregate that 249 other Services keep announced: the route only counts.
func BenchmarkSetServiceAggregate(b *testing.B) {
	in := benchInput(b, benchNodes)
	in.Config = benchConfig(b, true)
	p := New(benchNodeName(0))
	load(p, in)
	s := benchService(4242, -1)
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		if i%2 == 0 {
			p.DeleteService(s.Key)
		} else {
			p.SetService(s)
		}
	}
}

// BenchmarkSpeakerLoss takes one speaker out of the alive set and brings it
// back: the IPs it owns are elected again, and it is tested against the
// owner of every other IP when it returns.
func BenchmarkSpeakerLoss(b *testing.B) {
	in := benchInput(b, benchNodes)
	p := New(benchNodeName(0))
	load(p, in)
	without := in.Speakers[1:]
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		sp := in.Speakers
		if i%2 == 0 {
			sp = without
		}
		if c := p.SetSpeakers(sp); len(c.L2) == 0 {
			b.Fatal("no owner moved")
		}
	}
}

// BenchmarkSetConfig replaces the configuration with one that aggregates,
// and back: every decision is made again and diffed.
func BenchmarkSetConfig(b *testing.B) {
	in := benchInput(b, benchNodes)
	p := New(benchNodeName(0))
	load(p, in)
	cfgs := [2]*config.Config{benchConfig(b, true), in.Config}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		p.SetConfig(cfgs[i%2])
	}
}

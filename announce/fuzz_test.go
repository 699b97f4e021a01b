package announce

import (
	"fmt"
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/heraldlb/herald/config"
)

// fuzzConfigs are the configurations a fuzzed step sequence switches
// between; index 0 is no configuration.
func fuzzConfigs(t testing.TB) []*config.Config {
	var out []*config.Config
	for _, y := range []string{
		"",
		baseYAML + allAds + emptyL2Ad,
		baseYAML + `---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: {name: agg}
spec: {aggregationLength: 24, aggregationLengthV6: 120, communities: ["8000:800"], localPref: 100}
---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: {name: host}
spec: {communities: [no-advertise], localPref: 100, nodeSelectors: [{matchLabels: {rack: a}}]}
---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: {name: web}
spec: {localPref: 200, peers: [ibgp], serviceSelectors: [{matchLabels: {app: web}}], communities: ["large:1:2:3"]}
---
apiVersion: metallb.io/v1beta1
kind: L2Advertisement
metadata: {name: web}
spec:
  serviceSelectors: [{matchLabels: {app: web}}]
  interfaces: [eth1]
  preferredNodeSelectors: [{weight: 10, preference: {matchLabels: {rack: b}}}]`,
		baseYAML + `---
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: rack-a-router}
spec: {myASN: 64512, peerASN: 64512, peerAddress: 172.30.0.9, nodeSelectors: [{matchLabels: {rack: a}}]}
---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: {name: red}
spec: {ipAddressPools: [red], peers: [rack-a-router, ebgp], communities: ["1:1"]}
---
apiVersion: metallb.io/v1beta1
kind: L2Advertisement
metadata: {name: blue-rack-a}
spec: {ipAddressPools: [blue], nodeSelectors: [{matchLabels: {rack: a}}], interfaces: [eth0]}
---
apiVersion: metallb.io/v1beta1
kind: L2Advertisement
metadata: {name: blue-ssd}
spec:
  ipAddressPools: [blue]
  preferredNodeSelectors: [{weight: 5, preference: {matchLabels: {disk: ssd}}}]`,
	} {
		if y == "" {
			out = append(out, nil)
			continue
		}
		out = append(out, compileYAML(t, y))
	}
	return out
}

// stepReader hands out the fuzzer's bytes; past the end it returns zeros.
type stepReader struct{ b []byte }

func (r *stepReader) next() byte {
	if len(r.b) == 0 {
		return 0
	}
	c := r.b[0]
	r.b = r.b[1:]
	return c
}

var fuzzAddrs = []string{"10.0.1.1", "10.0.1.2", "10.0.1.200", "10.0.2.1", "fd00:1::1", "fd00:1::2", "192.0.2.1", "10.0.2.2"}

func fuzzService(r *stepReader) Service {
	b := r.next()
	s := Service{Key: ServiceKey{"default", fmt.Sprint("s", b%4)}}
	if b&4 != 0 {
		s.Labels = map[string]string{"app": "web"}
	}
	if b&8 != 0 {
		s.TrafficPolicy = Local
	}
	ipBits := r.next()
	for i, a := range fuzzAddrs {
		if ipBits&(1<<i) != 0 {
			s.IPs = append(s.IPs, netip.MustParseAddr(a))
		}
	}
	for range (b >> 4) % 4 {
		e := r.next()
		s.Endpoints = append(s.Endpoints, Endpoint{Node: []string{"", "n1", "n2", "n3"}[e%4], Ready: Condition((e >> 2) % 3), Serving: Condition((e >> 4) % 3)})
	}
	return s
}

func fuzzNode(r *stepReader) Node {
	b := r.next()
	n := Node{Name: fmt.Sprint("n", 1+b%3), Labels: map[string]string{}}
	if b&4 != 0 {
		n.Labels["rack"] = "a"
	} else {
		n.Labels["rack"] = "b"
	}
	if b&8 != 0 {
		n.Labels["disk"] = "ssd"
	}
	n.Unschedulable = b&0x30 == 0x10
	n.NetworkUnavailable = b&0x30 == 0x20
	if b&0x30 == 0x30 {
		n.Labels[ExcludeLabel] = ""
	}
	return n
}

// FuzzPlannerSteps: any sequence of inputs leaves the cluster planner
// planning what the reference plans from the inputs alone, with Changes
// that turn each plan into the next.
func FuzzPlannerSteps(f *testing.F) {
	f.Add([]byte{0, 1, 1, 0x05, 1, 0x0a, 3, 0x3f, 4, 0x13, 0x01, 0x04})
	f.Add([]byte{0, 2, 1, 0x04, 1, 0x0d, 1, 0x06, 3, 0x7f, 4, 0x04, 0x03, 4, 0x05, 0x03, 4, 0x98, 0x11, 0x05, 0x0d})
	configs := fuzzConfigs(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		r := &stepReader{data}
		p := NewAll()
		w := &inputs{nodes: map[string]Node{}, services: map[ServiceKey]Service{}}
		var prev Plan
		for step := 0; len(r.b) > 0 && step < 64; step++ {
			var c Changes
			switch op := r.next(); op % 6 {
			case 0:
				w.in.Config = configs[int(r.next())%len(configs)]
				c = p.SetConfig(w.in.Config)
			case 1:
				n := fuzzNode(r)
				w.nodes[n.Name] = n
				c = p.SetNode(n)
			case 2:
				name := fmt.Sprint("n", 1+r.next()%3)
				delete(w.nodes, name)
				c = p.DeleteNode(name)
			case 3:
				bits := r.next()
				var sp []Speaker
				for i, name := range []string{"n1", "n2", "n3", "n4"} {
					if bits&(1<<i) != 0 {
						s := Speaker{Node: name, Interfaces: []string{"eth0"}}
						if bits&(0x10<<i) != 0 {
							s.Interfaces = []string{"eth1"}
						}
						sp = append(sp, s)
					}
				}
				w.in.Speakers = sp
				c = p.SetSpeakers(sp)
			case 4:
				s := fuzzService(r)
				w.services[s.Key] = s
				c = p.SetService(s)
			case 5:
				key := ServiceKey{"default", fmt.Sprint("s", r.next()%4)}
				delete(w.services, key)
				c = p.DeleteService(key)
			}
			got := p.Plan()
			if d := cmp.Diff(refPlan(w.input()), got, cmpOpts); d != "" {
				t.Fatalf("step %d: plan (-reference +planner):\n%s", step, d)
			}
			if d := cmp.Diff(ownersOnly(got), apply(t, ownersOnly(prev), c), cmpOpts); d != "" {
				t.Fatalf("step %d: changes applied (-plan +applied):\n%s", step, d)
			}
			prev = got
		}
	})
}

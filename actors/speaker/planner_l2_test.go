package speaker

import (
	"net/netip"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/heraldlb/herald/actors"
	"github.com/heraldlb/herald/announce"
	"github.com/heraldlb/herald/config"
	"github.com/heraldlb/herald/config/manifest"
	"github.com/heraldlb/herald/internal/testlog"
)

// When the last Service of an IP this node answers for goes, the planner
// actor tells the interfaces actor, which then stops answering ARP for
// it. (It once told it only when a Service still held the IP, so a
// deleted Service's IP stayed answered until the next L2 change.)
func TestPlannerReleasesTheIPOfADeletedService(t *testing.T) {
	s := manifest.Set{DefaultNamespace: testNS}
	s.Add("l2.yaml", []byte(`
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: blue}
spec: {addresses: [10.0.1.0/24]}
---
apiVersion: metallb.io/v1beta1
kind: L2Advertisement
metadata: {name: all}
`))
	if len(s.Errors) > 0 {
		t.Fatal(s.Errors)
	}
	cfg, err := config.Compile(s.Input)
	if err != nil {
		t.Fatal(err)
	}
	log := testlog.New(t)
	system := actors.NewSystem(log)
	owned := make(chan l2Owned, 10)
	e := &env{Runtime: &actors.Runtime{Log: log, Root: system.Root}, node: "n1"}
	e.ifaces = system.Root.Spawn(actor.PropsFromFunc(func(c actor.Context) {
		if m, ok := c.Message().(l2Owned); ok {
			owned <- m
		}
	}))
	if e.metrics, err = NewMetrics(prometheus.NewRegistry()); err != nil {
		t.Fatal(err)
	}
	p := announce.New("n1")
	pa := &plannerActor{e: e, p: p, ann: newAnnouncements(p), owned: map[netip.Addr][]string{}, l2Shown: map[announce.ServiceKey][]string{}}
	web := announce.ServiceKey{Namespace: "app", Name: "web"}
	ip := netip.MustParseAddr("10.0.1.1")
	// Each step runs in an actor, as the planner actor's apply does.
	step := func(ch announce.Changes, touched ...announce.ServiceKey) {
		done := make(chan struct{})
		pid := system.Root.Spawn(actor.PropsFromFunc(func(c actor.Context) {
			if _, ok := c.Message().(*actor.Started); ok {
				pa.apply(c, ch, touched...)
				close(done)
			}
		}))
		<-done
		system.Root.Stop(pid)
	}
	step(p.SetConfig(cfg))
	step(p.SetNode(announce.Node{Name: "n1"}))
	step(p.SetSpeakers([]announce.Speaker{{Node: "n1", Interfaces: []string{"eth0"}}}))
	step(p.SetService(announce.Service{Key: web, IPs: []netip.Addr{ip}, Endpoints: []announce.Endpoint{{Node: "n1"}}}), web)
	next := func(what string) l2Owned {
		t.Helper()
		select {
		case m := <-owned:
			return m
		case <-time.After(5 * time.Second):
			t.Fatalf("the interfaces actor was not told %s", what)
		}
		return l2Owned{}
	}
	if m := next("of the Service's IP"); len(m.ips) != 1 {
		t.Fatalf("owned %v, want 10.0.1.1", m.ips)
	}
	step(p.DeleteService(web), web)
	if m := next("that the IP is no longer owned"); len(m.ips) != 0 {
		t.Errorf("owned %v after the Service went, want nothing", m.ips)
	}
}

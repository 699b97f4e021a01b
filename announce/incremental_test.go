package announce

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

// changesView prints Changes one line per item: "open n1 ibgp", "close ...",
// "+n1 ibgp ROUTE", "~n1 ibgp ROUTE", "-n1 ibgp PREFIX", "conflict ...",
// "l2 IP OLD -> NEW".
func changesView(c Changes) []string {
	var out []string
	for _, s := range c.Sessions {
		verb := "close "
		if s.Open {
			verb = "open "
		}
		out = append(out, verb+s.Node+" "+s.Peer)
	}
	for _, rc := range c.Routes {
		for _, r := range rc.Added {
			out = append(out, "+"+rc.Node+" "+rc.Peer+" "+r.String())
		}
		for _, r := range rc.Changed {
			out = append(out, "~"+rc.Node+" "+rc.Peer+" "+r.String())
		}
		for _, p := range rc.Removed {
			out = append(out, "-"+rc.Node+" "+rc.Peer+" "+p.String())
		}
	}
	for _, cf := range c.Conflicts {
		out = append(out, "conflict "+cf.String())
	}
	for _, l := range c.L2 {
		out = append(out, "l2 "+l.IP.String()+" "+ownerString(l.Old)+" -> "+ownerString(l.New))
	}
	return out
}

type scenarioStep struct {
	do   func(p *Planner) Changes
	want []string
}

func runScenario(t *testing.T, p *Planner, steps []scenarioStep) {
	t.Helper()
	for i, s := range steps {
		if d := cmp.Diff(s.want, changesView(s.do(p))); d != "" {
			t.Errorf("step %d (-want +got):\n%s", i, d)
		}
	}
}

func setConfig(yaml string) func(*testing.T) func(*Planner) Changes {
	return func(t *testing.T) func(*Planner) Changes {
		cfg := compileYAML(t, yaml)
		return func(p *Planner) Changes { return p.SetConfig(cfg) }
	}
}

func setNode(n Node) func(*Planner) Changes { return func(p *Planner) Changes { return p.SetNode(n) } }
func setService(s Service) func(*Planner) Changes {
	return func(p *Planner) Changes { return p.SetService(s) }
}
func deleteService(name string) func(*Planner) Changes {
	return func(p *Planner) Changes { return p.DeleteService(ServiceKey{"default", name}) }
}
func setSpeakers(sp ...Speaker) func(*Planner) Changes {
	return func(p *Planner) Changes { return p.SetSpeakers(sp) }
}

func TestSharedIPChangesAttributes(t *testing.T) {
	runScenario(t, New("n1"), []scenarioStep{
		{setConfig(baseYAML + `---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: {name: all}
spec: {peers: [ebgp], communities: ["2:2"]}
---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: {name: web}
spec: {peers: [ebgp], communities: ["1:1"], serviceSelectors: [{matchLabels: {app: web}}]}`)(t), nil},
		{setNode(node("n1")), []string{"open n1 ebgp", "open n1 ibgp"}},
		{setService(svc("dns", "10.0.1.1")), []string{"+n1 ebgp 10.0.1.1/32 communities=2:2"}},
		{setService(svc("http", "10.0.1.1").withLabels("app", "web")), []string{"~n1 ebgp 10.0.1.1/32 communities=1:1,2:2"}},
		{deleteService("dns"), nil},
		{setService(svc("http", "10.0.1.1").withLabels("app", "db")), []string{"~n1 ebgp 10.0.1.1/32 communities=2:2"}},
		{deleteService("http"), []string{"-n1 ebgp 10.0.1.1/32"}},
	})
}

func TestNodeLabelsOpenAndCloseSessions(t *testing.T) {
	runScenario(t, New("n1"), []scenarioStep{
		{setConfig(baseYAML + allAds + `---
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: rack-a-router}
spec: {myASN: 64512, peerASN: 64512, peerAddress: 172.30.0.9, nodeSelectors: [{matchLabels: {rack: a}}]}`)(t), nil},
		{setService(svc("a", "10.0.1.1")), nil}, // n1 is not known yet
		{setNode(node("n2", "rack", "a")), nil}, // another node
		{setNode(node("n1", "rack", "a")), []string{"open n1 ebgp", "open n1 ibgp", "open n1 rack-a-router",
			"+n1 ebgp 10.0.1.1/32", "+n1 ibgp 10.0.1.1/32", "+n1 rack-a-router 10.0.1.1/32"}},
		{setNode(node("n1", "rack", "a")), nil}, // the same again
		{setNode(node("n1", "rack", "b")), []string{"close n1 rack-a-router", "-n1 rack-a-router 10.0.1.1/32"}},
		{setNode(Node{Name: "n1", Labels: map[string]string{"rack": "b"}, Unschedulable: true}),
			[]string{"-n1 ebgp 10.0.1.1/32", "-n1 ibgp 10.0.1.1/32"}},
		{setNode(node("n1", "rack", "a")), []string{"open n1 rack-a-router",
			"+n1 ebgp 10.0.1.1/32", "+n1 ibgp 10.0.1.1/32", "+n1 rack-a-router 10.0.1.1/32"}},
		{func(p *Planner) Changes { return p.DeleteNode("n1") }, []string{"close n1 ebgp", "close n1 ibgp", "close n1 rack-a-router",
			"-n1 ebgp 10.0.1.1/32", "-n1 ibgp 10.0.1.1/32", "-n1 rack-a-router 10.0.1.1/32"}},
	})
}

func TestEndpointsMoveRoutesAndOwner(t *testing.T) {
	p := NewAll()
	runScenario(t, p, []scenarioStep{
		{setConfig(baseYAML + `---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: {name: to-ebgp}
spec: {peers: [ebgp]}` + emptyL2Ad)(t), nil},
		{setNode(node("n1")), []string{"open n1 ebgp", "open n1 ibgp"}},
		{setNode(node("n2")), []string{"open n2 ebgp", "open n2 ibgp"}},
		{setSpeakers(speakers("n1", "n2")...), nil},
		{setService(svc("a", "10.0.1.1").local(Endpoint{Node: "n1"})), []string{"+n1 ebgp 10.0.1.1/32", "l2 10.0.1.1 - -> n1"}},
		{setService(svc("a", "10.0.1.1").local(Endpoint{Node: "n2"})), []string{"-n1 ebgp 10.0.1.1/32", "+n2 ebgp 10.0.1.1/32", "l2 10.0.1.1 n1 -> n2"}},
		{setService(svc("a", "10.0.1.1").local(Endpoint{Node: "n2", Ready: False})), []string{"-n2 ebgp 10.0.1.1/32", "l2 10.0.1.1 n2 -> -"}},
		// A new IP: the old one is withdrawn and loses its owner.
		{setService(svc("a", "10.0.1.2").local(Endpoint{Node: "n1"})), []string{"+n1 ebgp 10.0.1.2/32", "l2 10.0.1.2 - -> n1"}},
		{setService(svc("a", "10.0.1.3").local(Endpoint{Node: "n1"})), []string{"+n1 ebgp 10.0.1.3/32", "-n1 ebgp 10.0.1.2/32",
			"l2 10.0.1.2 n1 -> -", "l2 10.0.1.3 - -> n1"}},
	})
}

func TestL2Failover(t *testing.T) {
	p := New("n1")
	eth := func(n string, ifs ...string) Speaker { return Speaker{Node: n, Interfaces: ifs} }
	steps := []scenarioStep{{setConfig(l2BaseYAML + emptyL2Ad)(t), nil}}
	for _, n := range fourNodes {
		steps = append(steps, scenarioStep{setNode(n), nil})
	}
	// By sha256(node#10.0.1.1): n2 n3 n4 n1.
	steps = append(steps, []scenarioStep{
		{setService(svc("a", "10.0.1.1")), nil}, // no speaker alive yet
		{setSpeakers(speakers("n1", "n2", "n3", "n4")...), []string{"l2 10.0.1.1 - -> n2"}},
		{setSpeakers(speakers("n1", "n3", "n4")...), []string{"l2 10.0.1.1 n2 -> n3"}},
		{setSpeakers(speakers("n1", "n4")...), []string{"l2 10.0.1.1 n3 -> n4"}},
		{setSpeakers(speakers("n1", "n3", "n4")...), []string{"l2 10.0.1.1 n4 -> n3"}},
		{setSpeakers(eth("n1", "eth0"), eth("n2", "eth0"), eth("n3"), eth("n4", "eth0")), []string{"l2 10.0.1.1 n3 -> n2"}},
		{setSpeakers(eth("n1", "eth0"), eth("n2", "eth9"), eth("n3"), eth("n4", "eth0")), nil},
		{setNode(Node{Name: "n2", NetworkUnavailable: true}), []string{"l2 10.0.1.1 n2 -> n4"}},
		{setNode(Node{Name: "n2"}), []string{"l2 10.0.1.1 n4 -> n2"}},
		{func(p *Planner) Changes { return p.DeleteNode("n2") }, []string{"l2 10.0.1.1 n2 -> n4"}},
		{setSpeakers(), []string{"l2 10.0.1.1 n4 -> -"}},
	}...)
	runScenario(t, p, steps)
	if a, ok := p.L2(ip("10.0.1.1")); !ok || a.Owner.Node != "" || len(a.Candidates) != 0 {
		t.Errorf("L2(10.0.1.1) = %+v, %v; want an entry without owner or candidates", a, ok)
	}
}

func TestConfigChangeIsDiffed(t *testing.T) {
	base := baseYAML + emptyL2Ad + `---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: {name: all}
spec: {peers: [ibgp]`
	p := New("n1")
	runScenario(t, p, []scenarioStep{
		{setConfig(base + "}")(t), nil},
		{setNode(node("n1")), []string{"open n1 ebgp", "open n1 ibgp"}},
		{setSpeakers(speakers("n1")...), nil},
		{setService(svc("a", "10.0.1.1")), []string{"+n1 ibgp 10.0.1.1/32", "l2 10.0.1.1 - -> n1"}},
		{setConfig(base + `, localPref: 300, communities: [no-export]}`)(t), []string{"~n1 ibgp 10.0.1.1/32 localPref=300 communities=65535:65281"}},
		{setConfig(base + `, localPref: 300, communities: [no-export], aggregationLength: 24}`)(t),
			[]string{"+n1 ibgp 10.0.1.0/24 localPref=300 communities=65535:65281", "-n1 ibgp 10.0.1.1/32"}},
		{setConfig(baseYAML)(t), []string{"-n1 ibgp 10.0.1.0/24", "l2 10.0.1.1 n1 -> -"}},
		{func(p *Planner) Changes { return p.SetConfig(nil) }, []string{"close n1 ebgp", "close n1 ibgp"}},
	})
}

func TestLocalPrefConflictReportedOnce(t *testing.T) {
	runScenario(t, New("n1"), []scenarioStep{
		{setConfig(baseYAML + `---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: {name: base}
spec: {localPref: 100, peers: [ibgp]}
---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: {name: web}
spec: {localPref: 200, peers: [ibgp], serviceSelectors: [{matchLabels: {app: web}}]}`)(t), nil},
		{setNode(node("n1")), []string{"open n1 ebgp", "open n1 ibgp"}},
		{setService(svc("a", "10.0.1.1")), []string{"+n1 ibgp 10.0.1.1/32 localPref=100"}},
		{setService(svc("a", "10.0.1.1").withLabels("app", "web")), []string{"~n1 ibgp 10.0.1.1/32 localPref=200",
			"conflict node n1 peer ibgp prefix 10.0.1.1/32: localPref conflict (base=100 web=200), sending 200"}},
		{setService(svc("b", "10.0.1.1")), nil}, // the same conflict, already reported
		{deleteService("a"), []string{"~n1 ibgp 10.0.1.1/32 localPref=100"}},
	})
}

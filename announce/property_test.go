package announce

import (
	"maps"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
	"pgregory.net/rapid"
)

// TestPlanMatchesReference: for random worlds, the planner's plan of every
// node is the reference's.
func TestPlanMatchesReference(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		in := genInput(t)
		if d := cmp.Diff(refPlan(in), Compute(in), cmpOpts); d != "" {
			t.Fatalf("plan (-reference +planner):\n%s", d)
		}
	})
}

// inputs is the inputs of the incremental test as plain values.
type inputs struct {
	in       Input
	nodes    map[string]Node
	services map[ServiceKey]Service
}

func (w *inputs) input() Input {
	in := Input{Config: w.in.Config, Speakers: w.in.Speakers}
	for _, name := range slices.Sorted(maps.Keys(w.nodes)) {
		in.Nodes = append(in.Nodes, w.nodes[name])
	}
	for _, s := range w.services {
		in.Services = append(in.Services, s)
	}
	return in
}

// nodeView is the part of a cluster plan that New(node) plans.
func nodeView(p Plan, node string) Plan {
	out := Plan{L2: p.L2}
	for _, pp := range p.BGP {
		if pp.Node == node {
			out.BGP = append(out.BGP, pp)
		}
	}
	for _, c := range p.Conflicts {
		if c.Node == node {
			out.Conflicts = append(out.Conflicts, c)
		}
	}
	return out
}

// TestIncrementalMatchesScratch feeds random changes to a cluster planner
// and to n1's planner. After every step each plans what the reference
// plans from the inputs alone, and the Changes returned, applied to the
// previous plan, give the new one.
func TestIncrementalMatchesScratch(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		all, one := NewAll(), New("n1")
		w := &inputs{nodes: map[string]Node{}, services: map[ServiceKey]Service{}}
		// Start from a whole world, so that most steps have something to
		// change.
		start := genInput(t)
		w.in = Input{Config: start.Config, Speakers: start.Speakers}
		for _, p := range []*Planner{all, one} {
			p.SetConfig(start.Config)
			p.SetSpeakers(start.Speakers)
			for _, n := range start.Nodes {
				w.nodes[n.Name] = n
				p.SetNode(n)
			}
			for _, s := range start.Services {
				w.services[s.Key] = s
				p.SetService(s)
			}
		}
		prevAll, prevOne := all.Plan(), one.Plan()
		for step := range rapid.IntRange(1, 30).Draw(t, "steps") {
			var what string
			var ca, co Changes
			switch rapid.IntRange(0, 11).Draw(t, "op") {
			case 0:
				cfg := genConfig(t)
				what, w.in.Config = "SetConfig", cfg
				ca, co = all.SetConfig(cfg), one.SetConfig(cfg)
			case 1, 2:
				n := genNode(t, rapid.SampledFrom(genNodeNames).Draw(t, "node"))
				what, w.nodes[n.Name] = "SetNode "+n.Name, n
				ca, co = all.SetNode(n), one.SetNode(n)
			case 3:
				name := rapid.SampledFrom(genNodeNames).Draw(t, "node")
				what = "DeleteNode " + name
				delete(w.nodes, name)
				ca, co = all.DeleteNode(name), one.DeleteNode(name)
			case 4:
				sp := genSpeakers(t)
				what, w.in.Speakers = "SetSpeakers", sp
				ca, co = all.SetSpeakers(sp), one.SetSpeakers(sp)
			case 5:
				key := ServiceKey{"ns", rapid.SampledFrom(genServiceNames).Draw(t, "svc")}
				what = "DeleteService " + key.String()
				delete(w.services, key)
				ca, co = all.DeleteService(key), one.DeleteService(key)
			case 6, 7:
				// The same IPs, new labels and endpoints: advertisements
				// with serviceSelectors come and go on routes that stay.
				key := ServiceKey{"ns", rapid.SampledFrom(genServiceNames).Draw(t, "svc")}
				s, ok := w.services[key]
				if !ok {
					continue
				}
				r := genService(t, key.Name)
				s.Labels, s.Endpoints, s.TrafficPolicy = r.Labels, r.Endpoints, r.TrafficPolicy
				what, w.services[key] = "SetService (same IPs) "+key.String(), s
				ca, co = all.SetService(s), one.SetService(s)
			default:
				s := genService(t, rapid.SampledFrom(genServiceNames).Draw(t, "svc"))
				what, w.services[s.Key] = "SetService "+s.Key.String(), s
				ca, co = all.SetService(s), one.SetService(s)
			}
			want := refPlan(w.input())
			gotAll, gotOne := all.Plan(), one.Plan()
			if d := cmp.Diff(want, gotAll, cmpOpts); d != "" {
				t.Fatalf("step %d %s: cluster plan (-reference +incremental):\n%s", step, what, d)
			}
			if d := cmp.Diff(nodeView(want, "n1"), gotOne, cmpOpts); d != "" {
				t.Fatalf("step %d %s: n1's plan (-reference +incremental):\n%s", step, what, d)
			}
			if d := cmp.Diff(ownersOnly(gotAll), apply(t, ownersOnly(prevAll), ca), cmpOpts); d != "" {
				t.Fatalf("step %d %s: cluster changes %+v applied (-plan +applied):\n%s", step, what, ca, d)
			}
			if d := cmp.Diff(ownersOnly(gotOne), apply(t, ownersOnly(prevOne), co), cmpOpts); d != "" {
				t.Fatalf("step %d %s: n1's changes %+v applied (-plan +applied):\n%s", step, what, co, d)
			}
			// Changes report exactly the conflicts that are new or differ.
			var fresh []LocalPrefConflict
			for _, c := range gotAll.Conflicts {
				if !slices.ContainsFunc(prevAll.Conflicts, func(x LocalPrefConflict) bool { return x.equal(&c) }) {
					fresh = append(fresh, c)
				}
			}
			if d := cmp.Diff(fresh, ca.Conflicts, cmpOpts); d != "" {
				t.Fatalf("step %d %s: conflicts reported (-new in plan +reported):\n%s", step, what, d)
			}
			prevAll, prevOne = gotAll, gotOne
		}
	})
}

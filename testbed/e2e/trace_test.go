package e2e

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/heraldlb/herald/testbed/jaeger"
	"github.com/heraldlb/herald/testbed/netlab"
	"github.com/heraldlb/herald/testbed/routers"
	"github.com/heraldlb/herald/tracing"
)

// One Service, one trace, across the controller and every speaker that
// announces it, read back from the lab's Jaeger: BGP mode with three
// speakers ends in an UPDATE-sent span per peer session, each under its
// node's plan, under the controller's status write; L2 mode ends in the
// owner's gratuitous announcement.
func TestServiceJourneyIsOneTrace(t *testing.T) {
	j := jaeger.StartForTest(t, jaeger.Options{})
	l := newSpeakerLab(t, speakerLabOptions{nodes: 3, router: "frr", routerASN: bgpRouterASN, jaeger: j,
		neighbors: func(lab *netlab.Lab) []routers.Neighbor {
			var ns []routers.Neighbor
			for _, n := range lab.Nodes {
				ns = append(ns, routers.Neighbor{Address: n.LAN4, ASN: bgpRouterASN})
			}
			return ns
		}})
	l.apply(fmt.Sprintf(`
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: bgp, namespace: metallb-system}
spec: {addresses: [10.100.0.0/28]}
---
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: l2, namespace: metallb-system}
spec: {addresses: [%s]}
---
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: router, namespace: metallb-system}
spec: {myASN: %d, peerASN: %d, peerAddress: %s}
---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: {name: bgp, namespace: metallb-system}
spec: {ipAddressPools: [bgp]}
---
apiVersion: metallb.io/v1beta1
kind: L2Advertisement
metadata: {name: l2, namespace: metallb-system}
spec: {ipAddressPools: [l2]}
`, l.lab.L2Pool4, bgpRouterASN, bgpRouterASN, l.lab.Router.LAN4))
	nodes := []string{"node1", "node2", "node3"}

	t.Run("bgp", func(t *testing.T) {
		ip := l.service("traced-bgp", func(s *corev1.Service) {
			s.Annotations = map[string]string{"metallb.io/address-pool": "bgp"}
		}, nodes...)
		l.route(netip.PrefixFrom(ip, 32), "the route from three nodes", func(r routers.Route, ok bool) bool { return ok && len(r.NextHops) == 3 })
		// Complete when every node's UPDATE went out: a count of
		// spans would be reached early by a retried status write's
		// extra reconcile spans.
		tr := l.journey(t, j, "traced-bgp", func(tr journeyTrace) bool {
			for _, n := range nodes {
				if tr.count(tracing.SpanUpdateSent, n) == 0 {
					return false
				}
			}
			return tr.count(tracing.SpanStatusWrite, "") > 0
		})
		write := tr.one(t, "herald-controller", tracing.SpanStatusWrite, "")
		// A write retried after a conflict hangs under the reconcile of
		// the failed write's outcome: one or more reconcile steps, then
		// the allocation and the informer event.
		tr.chain(t, "herald-controller", write, tracing.SpanPoolAllocate, tracing.SpanServiceReconcile, tracing.SpanInformerEvent)
		for _, node := range nodes {
			plan := tr.one(t, "herald-speaker", tracing.SpanPlan, node)
			if plan.Parent() != write.SpanID {
				t.Errorf("%s: speaker.plan's parent %q, want the controller's status.write %q", node, plan.Parent(), write.SpanID)
			}
			upd := tr.child(t, plan, tracing.SpanPeerUpdate)
			sent := tr.child(t, upd, tracing.SpanUpdateSent)
			if v, _ := sent.Tag(string(tracing.AttrBGPPeer)); v != "router" {
				t.Errorf("%s: bgp.update.send names peer %q", node, v)
			}
			if v, _ := sent.Tag(string(tracing.AttrPrefixes)); v != "1" {
				t.Errorf("%s: bgp.update.send carries %s prefixes, want 1", node, v)
			}
		}
	})

	t.Run("l2", func(t *testing.T) {
		// After the first speaker's start hold (docs/l2.md): a Service
		// that arrives during it is answered when the hold ends, a mesh
		// change that no Service event caused and so no part of its
		// trace.
		l.meshConverged(3)
		l.service("traced-l2", func(s *corev1.Service) {
			s.Annotations = map[string]string{"metallb.io/address-pool": "l2"}
		}, nodes...)
		tr := l.journey(t, j, "traced-l2", func(tr journeyTrace) bool {
			return tr.count(tracing.SpanGratuitousSent, "") > 0 && tr.count(tracing.SpanStatusWrite, "") > 0
		})
		write := tr.one(t, "herald-controller", tracing.SpanStatusWrite, "")
		var owners []string
		for _, s := range tr.Spans {
			if s.OperationName == tracing.SpanPlan {
				owners = append(owners, tr.node(s))
				if s.Parent() != write.SpanID {
					t.Errorf("speaker.plan on %s is not under the controller's status.write", tr.node(s))
				}
				owner := tr.child(t, s, tracing.SpanL2OwnerChange)
				tr.child(t, owner, tracing.SpanGratuitousSent)
			}
		}
		if len(owners) != 1 {
			t.Errorf("L2 plans on %v, want exactly the owner's", owners)
		}
	})
}

// journeyTrace is a trace from Jaeger with the lookups the journey test
// needs.
type journeyTrace struct{ jaeger.Trace }

// journey reads the traceparent the controller wrote on Service name and
// waits until Jaeger holds a complete trace of it, every span's parent
// among them: each process exports its spans when they end, so the
// speakers' spans can arrive before the controller's status.write, which
// ends only once the write has returned, and one speaker's after
// another's.
func (l *speakerLab) journey(t *testing.T, j *jaeger.Jaeger, name string, complete func(journeyTrace) bool) journeyTrace {
	t.Helper()
	var id string
	eventually(t, 30*time.Second, "the traceparent annotation on "+name, func() (bool, string) {
		s, err := l.admin.CoreV1().Services("default").Get(t.Context(), name, metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		sc, err := tracing.ParseTraceparent(s.Annotations[tracing.TraceparentAnnotation])
		if err != nil {
			return false, err.Error()
		}
		id = sc.TraceID().String()
		return true, ""
	})
	var tr journeyTrace
	eventually(t, 30*time.Second, "trace "+id+" in Jaeger", func() (bool, string) {
		got, err := j.Client.Trace(t.Context(), id)
		if err != nil {
			return false, err.Error()
		}
		tr = journeyTrace{got}
		if missing := tr.MissingParents(); len(missing) > 0 {
			return false, fmt.Sprintf("parents %v not in Jaeger yet:\n%s", missing, tr.summary())
		}
		return complete(tr), tr.summary()
	})
	t.Logf("trace %s:\n%s", id, tr.summary())
	return tr
}

// count is how many spans named name the trace holds from node ("": any).
func (tr journeyTrace) count(name, node string) int {
	n := 0
	for _, s := range tr.Spans {
		if s.OperationName == name && (node == "" || tr.node(s) == node) {
			n++
		}
	}
	return n
}

func (tr journeyTrace) node(s jaeger.Span) string {
	v, _ := tr.Processes[s.ProcessID].Tag("k8s.node.name")
	return v
}

func (tr journeyTrace) summary() string {
	var b strings.Builder
	for _, s := range tr.SortedSpans() {
		fmt.Fprintf(&b, "  %s %s/%s %s parent %s\n", s.SpanID, tr.Service(s), tr.node(s), s.OperationName, s.Parent())
	}
	return b.String()
}

// one is the single span named name from service (on node, when given).
func (tr journeyTrace) one(t *testing.T, service, name, node string) jaeger.Span {
	t.Helper()
	var got []jaeger.Span
	for _, s := range tr.Spans {
		if s.OperationName == name && tr.Service(s) == service && (node == "" || tr.node(s) == node) {
			got = append(got, s)
		}
	}
	if len(got) != 1 {
		t.Fatalf("%d %s spans from %s %s, want 1:\n%s", len(got), name, service, node, tr.summary())
	}
	return got[0]
}

// child is the single child of parent named name.
func (tr journeyTrace) child(t *testing.T, parent jaeger.Span, name string) jaeger.Span {
	t.Helper()
	var got []jaeger.Span
	for _, s := range tr.Spans {
		if s.OperationName == name && s.Parent() == parent.SpanID {
			got = append(got, s)
		}
	}
	if len(got) != 1 {
		t.Fatalf("%d %s children of %s %s, want 1:\n%s", len(got), name, parent.OperationName, parent.SpanID, tr.summary())
	}
	return got[0]
}

// chain checks that s hangs under one or more service.reconcile spans and,
// above them, spans named names up to the root.
func (tr journeyTrace) chain(t *testing.T, service string, s jaeger.Span, names ...string) {
	t.Helper()
	byID := map[string]jaeger.Span{}
	for _, x := range tr.Spans {
		byID[x.SpanID] = x
	}
	var got []string
	for p, ok := byID[s.Parent()]; ok; p, ok = byID[p.Parent()] {
		if tr.Service(p) != service {
			t.Errorf("%s comes from %s, want %s", p.OperationName, tr.Service(p), service)
		}
		got = append(got, p.OperationName)
	}
	// Leading reconcile steps (a retried write) all belong to the step
	// that decided.
	for len(got) > 1 && got[0] == tracing.SpanServiceReconcile && got[1] == tracing.SpanServiceReconcile {
		got = got[1:]
	}
	if len(got) == 0 || got[0] != tracing.SpanServiceReconcile {
		t.Errorf("the parent of %s is not a service.reconcile: %v", s.OperationName, got)
		return
	}
	got = got[1:]
	if !slices.Equal(got, names) {
		t.Errorf("ancestors of %s: %v, want %v", s.OperationName, got, names)
	}
}

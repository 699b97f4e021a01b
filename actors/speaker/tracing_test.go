package speaker

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	kubefake "k8s.io/client-go/kubernetes/fake"

	mlbfake "github.com/heraldlb/herald/api/client/clientset/versioned/fake"
	"github.com/heraldlb/herald/api/v1beta1"
	"github.com/heraldlb/herald/api/v1beta2"
	"github.com/heraldlb/herald/internal/testlog"
	"github.com/heraldlb/herald/tracing"
)

// A Service whose status the controller wrote with a traceparent: the
// speaker's spans continue that trace (speaker.plan under the controller's
// status.write, bgp.peer.update under it, bgp.update.send under that), and
// one UPDATE carrying two Services' routes links to the second journey. A
// Service without a traceparent starts a trace of its own here.
func TestSpeakerContinuesTheServiceTrace(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	router := startTestRouter(t, 64513)
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1"},
		Status: corev1.NodeStatus{Addresses: []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "192.0.2.10"}}}}
	controllerWrite := trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: trace.TraceID{1, 2, 3}, SpanID: trace.SpanID{4, 5, 6}, TraceFlags: trace.FlagsSampled})
	web := lbService("web", "10.10.0.1")
	web.Annotations = map[string]string{tracing.TraceparentAnnotation: tracing.FormatTraceparent(controllerWrite)}
	kube := kubefake.NewClientset(node, web, endpoints("web", "n1"))
	mlb := mlbfake.NewSimpleClientset(
		&v1beta1.IPAddressPool{ObjectMeta: metav1.ObjectMeta{Namespace: testNS, Name: "p"},
			Spec: v1beta1.IPAddressPoolSpec{Addresses: []string{"10.10.0.0/24"}}},
		&v1beta2.BGPPeer{ObjectMeta: metav1.ObjectMeta{Namespace: testNS, Name: "r"},
			Spec: v1beta2.BGPPeerSpec{MyASN: 64512, ASN: 64513, Address: "127.0.0.1", Port: router.port()}},
		&v1beta1.BGPAdvertisement{ObjectMeta: metav1.ObjectMeta{Namespace: testNS, Name: "adv"}},
	)
	runSpeaker(t, Options{Kube: kube, Metallb: mlb, Registry: prometheus.NewRegistry(), NodeName: "n1", NoL2: true, LivenessPort: -1,
		Namespace: testNS, BackoffInitial: 10 * time.Millisecond, BackoffMax: 100 * time.Millisecond, Logger: testlog.New(t),
		TracerProvider: tp})
	ctx := context.Background()
	eventually(t, "the route", func() bool { return slices.Equal(router.routes(), []string{"10.10.0.1/32"}) })

	byName := func(name string, traceID trace.TraceID) []sdktrace.ReadOnlySpan {
		var out []sdktrace.ReadOnlySpan
		for _, s := range rec.Ended() {
			if s.Name() == name && s.SpanContext().TraceID() == traceID {
				out = append(out, s)
			}
		}
		return out
	}
	one := func(name string, traceID trace.TraceID) sdktrace.ReadOnlySpan {
		t.Helper()
		var got []sdktrace.ReadOnlySpan
		eventually(t, "a "+name+" span", func() bool { got = byName(name, traceID); return len(got) > 0 })
		if len(got) != 1 {
			t.Fatalf("%d %s spans in the trace, want 1", len(got), name)
		}
		return got[0]
	}
	tid := controllerWrite.TraceID()
	plan := one(tracing.SpanPlan, tid)
	if plan.Parent().SpanID() != controllerWrite.SpanID() {
		t.Errorf("speaker.plan's parent %v, want the controller's status.write %v", plan.Parent().SpanID(), controllerWrite.SpanID())
	}
	upd := one(tracing.SpanPeerUpdate, tid)
	if upd.Parent().SpanID() != plan.SpanContext().SpanID() {
		t.Errorf("bgp.peer.update is not a child of speaker.plan")
	}
	sent := one(tracing.SpanUpdateSent, tid)
	if sent.Parent().SpanID() != upd.SpanContext().SpanID() {
		t.Errorf("bgp.update.send is not a child of bgp.peer.update")
	}
	if !spanHas(sent, tracing.AttrPrefixes.Int(1)) || !spanHas(sent, tracing.AttrBGPPeer.String("r")) {
		t.Errorf("bgp.update.send attributes %v", sent.Attributes())
	}

	// The session coming up is a trace of its own.
	var up []sdktrace.ReadOnlySpan
	for _, s := range rec.Ended() {
		if s.Name() == tracing.SpanSessionStateChange && spanHas(s, tracing.AttrBGPState.String("Established")) {
			up = append(up, s)
		}
	}
	if len(up) != 1 || up[0].Parent().IsValid() || !spanHas(up[0], tracing.AttrBGPPeer.String("r")) {
		t.Errorf("%d bgp.session.state.change spans to Established, want 1, a root, naming peer r", len(up))
	}

	// Two Services at once, with no traceparent: each starts its own
	// trace; an UPDATE that carries both links to the other.
	for _, name := range []string{"a", "b"} {
		ip := map[string]string{"a": "10.10.0.2", "b": "10.10.0.3"}[name]
		if _, err := kube.DiscoveryV1().EndpointSlices("app").Create(ctx, endpoints(name, "n1"), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		if _, err := kube.CoreV1().Services("app").Create(ctx, lbService(name, ip), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, "three routes", func() bool { return len(router.routes()) == 3 })
	var sends []sdktrace.ReadOnlySpan
	eventually(t, "the new Services' UPDATE spans", func() bool {
		sends = nil
		for _, s := range rec.Ended() {
			if s.Name() == tracing.SpanUpdateSent && s.SpanContext().TraceID() != tid {
				sends = append(sends, s)
			}
		}
		n := 0
		for _, s := range sends {
			n += 1 + len(s.Links())
		}
		return n >= 2 // each journey reached the wire, as parent or link
	})
	for _, s := range sends {
		if s.Parent().TraceID() == tid {
			t.Errorf("a new Service's UPDATE span hangs under web's trace")
		}
	}
}

func spanHas(s sdktrace.ReadOnlySpan, kv attribute.KeyValue) bool {
	for _, a := range s.Attributes() {
		if a.Key == kv.Key && a.Value == kv.Value {
			return true
		}
	}
	return false
}

package controller

import (
	"context"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/heraldlb/herald/tracing"
)

// A Service's first allocation is one trace: informer.event at the root,
// service.reconcile under it, pool.allocate under that, then the reconcile
// of the decision and its status.write; the traceparent the write put on
// the Service names the status.write span, so a speaker continues this
// trace. The echo of our own write starts no new trace.
func TestAllocationIsOneTrace(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	f := newFixture(pool("a", "10.0.0.0/30"), lbService("first", nil))
	f.start(t, "r1", func(o *Options) { o.TracerProvider = tp })
	// Once the allocator is ready (it restored and served "first"), a new
	// Service goes through pool.allocate.
	f.waitIngress(t, "first", "10.0.0.0")
	if _, err := f.kube.CoreV1().Services("default").Create(context.Background(), lbService("web", nil), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	f.waitIngress(t, "web", "10.0.0.1")
	eventually(t, "the traceparent annotation", func() bool {
		return f.service(t, "web").Annotations[tracing.TraceparentAnnotation] != ""
	})
	eventually(t, "the IPAllocated Event", func() bool {
		_, ok := f.rec.find("default/web", ReasonIPAllocated, "10.0.0.1")
		return ok
	})

	spans := map[trace.SpanID]sdktrace.ReadOnlySpan{}
	var write, alloc sdktrace.ReadOnlySpan
	for _, s := range rec.Ended() {
		if !hasAttr(s, tracing.AttrServiceName.String("web")) {
			continue
		}
		spans[s.SpanContext().SpanID()] = s
		switch s.Name() {
		case tracing.SpanStatusWrite:
			write = s
		case tracing.SpanPoolAllocate:
			alloc = s
		}
	}
	if write == nil || alloc == nil {
		t.Fatalf("no status.write or pool.allocate span among %d spans about web", len(spans))
	}
	if !hasAttr(alloc, tracing.AttrPool.String("a")) || !hasAttr(write, tracing.AttrIPs.StringSlice([]string{"10.0.0.1"})) {
		t.Errorf("allocate attributes %v, write attributes %v", alloc.Attributes(), write.Attributes())
	}
	// Walk from the write to the root: the chain names the journey.
	var chain []string
	for s := write; s != nil; {
		chain = append([]string{s.Name()}, chain...)
		if s.SpanContext().TraceID() != write.SpanContext().TraceID() {
			t.Fatalf("span %s is in another trace", s.Name())
		}
		if !s.Parent().IsValid() {
			break
		}
		p, ok := spans[s.Parent().SpanID()]
		if !ok {
			t.Fatalf("the parent of %s was not recorded", s.Name())
		}
		s = p
	}
	want := []string{tracing.SpanInformerEvent, tracing.SpanServiceReconcile, tracing.SpanPoolAllocate,
		tracing.SpanServiceReconcile, tracing.SpanStatusWrite}
	if len(chain) != len(want) {
		t.Fatalf("journey %v, want %v", chain, want)
	}
	for i := range want {
		if chain[i] != want[i] {
			t.Fatalf("journey %v, want %v", chain, want)
		}
	}
	got, err := tracing.ParseTraceparent(f.service(t, "web").Annotations[tracing.TraceparentAnnotation])
	if err != nil {
		t.Fatal(err)
	}
	if got.SpanID() != write.SpanContext().SpanID() || got.TraceID() != write.SpanContext().TraceID() {
		t.Errorf("traceparent %v does not name the status.write span %v", got, write.SpanContext())
	}
	roots := 0
	for _, s := range spans {
		if s.Name() == tracing.SpanInformerEvent {
			roots++
		}
	}
	if roots != 1 {
		t.Errorf("%d informer.event roots about web, want 1 (our own writes' echoes start none)", roots)
	}
}

func hasAttr(s sdktrace.ReadOnlySpan, kv attribute.KeyValue) bool {
	for _, a := range s.Attributes() {
		if a.Key == kv.Key && a.Value == kv.Value {
			return true
		}
	}
	return false
}

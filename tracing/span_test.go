package tracing

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// recorder returns a Tracer whose ended spans land in the returned
// SpanRecorder.
func recorder(t *testing.T) (Tracer, *tracetest.SpanRecorder) {
	t.Helper()
	return recorderB(t)
}

func recorderB(tb testing.TB) (Tracer, *tracetest.SpanRecorder) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	tb.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	return NewTracer(tp, "test"), rec
}

// sc builds a SpanContext from small numbers, so tables stay readable.
func sc(traceID, spanID byte, remote bool) trace.SpanContext {
	return trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: trace.TraceID{15: traceID}, SpanID: trace.SpanID{7: spanID},
		TraceFlags: trace.FlagsSampled, Remote: remote,
	})
}

func TestStartParentAndLinks(t *testing.T) {
	parent := sc(1, 1, true)
	other := sc(2, 5, false)
	third := sc(1, 9, false)
	for _, tc := range []struct {
		name      string
		parent    trace.SpanContext
		links     []trace.SpanContext
		wantTrace trace.TraceID // zero: a new trace
		wantLinks []trace.SpanContext
	}{
		{name: "root", parent: trace.SpanContext{}},
		{name: "child of a remote parent", parent: parent, wantTrace: parent.TraceID()},
		{name: "links in order", parent: parent, links: []trace.SpanContext{other, third},
			wantTrace: parent.TraceID(), wantLinks: []trace.SpanContext{other, third}},
		{name: "duplicates, invalid and the parent are dropped", parent: parent,
			links:     []trace.SpanContext{other, {}, parent, other, third, parent.WithRemote(false), third},
			wantTrace: parent.TraceID(), wantLinks: []trace.SpanContext{other, third}},
		{name: "a root may link", parent: trace.SpanContext{}, links: []trace.SpanContext{other, other},
			wantLinks: []trace.SpanContext{other}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr, rec := recorder(t)
			span := tr.Start(SpanPlan, tc.parent, tc.links...)
			if !span.IsRecording() {
				t.Fatal("span is not recording")
			}
			span.End()
			ended := rec.Ended()
			if len(ended) != 1 {
				t.Fatalf("%d spans ended, want 1", len(ended))
			}
			got := ended[0]
			if got.Name() != SpanPlan {
				t.Errorf("name %q, want %q", got.Name(), SpanPlan)
			}
			if !got.Parent().Equal(tc.parent) {
				t.Errorf("parent %v, want %v", got.Parent(), tc.parent)
			}
			if tc.wantTrace.IsValid() && got.SpanContext().TraceID() != tc.wantTrace {
				t.Errorf("trace %v, want the parent's %v", got.SpanContext().TraceID(), tc.wantTrace)
			}
			if !tc.wantTrace.IsValid() && (got.SpanContext().TraceID() == parent.TraceID() || !got.SpanContext().IsValid()) {
				t.Errorf("a root span has trace %v", got.SpanContext().TraceID())
			}
			var links []trace.SpanContext
			for _, l := range got.Links() {
				links = append(links, l.SpanContext)
			}
			if diff := cmp.Diff(tc.wantLinks, links, cmp.Comparer(func(a, b trace.SpanContext) bool { return a.Equal(b) })); diff != "" {
				t.Errorf("links (-want +got):\n%s", diff)
			}
		})
	}
}

func TestStartWithKindAndTime(t *testing.T) {
	tr, rec := recorder(t)
	at := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	tr.StartWith(SpanInformerEvent, trace.SpanContext{}, SpanOptions{Kind: trace.SpanKindConsumer, Time: at,
		Links: []trace.SpanContext{sc(3, 3, true)}}).End()
	tr.StartWith(SpanStatusWrite, trace.SpanContext{}, SpanOptions{}).End()
	ended := rec.Ended()
	if len(ended) != 2 {
		t.Fatalf("%d spans, want 2", len(ended))
	}
	if ended[0].SpanKind() != trace.SpanKindConsumer || !ended[0].StartTime().Equal(at) || len(ended[0].Links()) != 1 {
		t.Errorf("kind %v start %v links %d, want consumer at %v with 1 link", ended[0].SpanKind(), ended[0].StartTime(), len(ended[0].Links()), at)
	}
	if ended[1].SpanKind() != trace.SpanKindInternal || ended[1].StartTime().Before(at.Add(time.Hour)) {
		t.Errorf("default kind %v start %v, want internal, now", ended[1].SpanKind(), ended[1].StartTime())
	}
}

func TestOffTracer(t *testing.T) {
	for name, tp := range map[string]trace.TracerProvider{
		"nil": nil, "noop": noop.NewTracerProvider(), "noop pointer": &noop.TracerProvider{}, "Off": Off().TracerProvider(),
	} {
		t.Run(name, func(t *testing.T) {
			tr := NewTracer(tp, "test")
			if tr.Enabled() {
				t.Error("Enabled")
			}
			for _, span := range []trace.Span{
				tr.Start(SpanPlan, sc(1, 1, true), sc(2, 2, false)),
				tr.StartWith(SpanPlan, sc(1, 1, true), SpanOptions{Kind: trace.SpanKindProducer}),
				Tracer{}.Start(SpanPlan, trace.SpanContext{}),
			} {
				if span.IsRecording() || span.SpanContext().IsValid() {
					t.Errorf("off span records %v or has a SpanContext %v", span.IsRecording(), span.SpanContext())
				}
				span.End()
			}
		})
	}
	tr, _ := recorder(t)
	if !tr.Enabled() {
		t.Error("an SDK tracer is not Enabled")
	}
}

func TestContext(t *testing.T) {
	ctx := t.Context()
	if got := Context(ctx, trace.SpanContext{}); got != ctx {
		t.Error("an invalid SpanContext changed the context")
	}
	s := sc(4, 4, true)
	if got := trace.SpanContextFromContext(Context(ctx, s)); !got.Equal(s) {
		t.Errorf("context carries %v, want %v", got, s)
	}
}

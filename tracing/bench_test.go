package tracing

import (
	"testing"

	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// hotPath is what an actor does per event on a traced path: start a span
// from the message's SpanContext with links, set attributes only when
// recording, and end it.
func hotPath(tr Tracer, parent trace.SpanContext, links []trace.SpanContext, n int) {
	span := tr.Start(SpanUpdateSent, parent, links...)
	if span.IsRecording() {
		span.SetAttributes(AttrPrefixes.Int(n), AttrMessageBytes.Int(4096), AttrBGPPeer.String("router"))
	}
	span.End()
}

// BenchmarkSpanOff is the cost of tracing a hot path when tracing is not
// configured: it must report 0 allocs/op.
func BenchmarkSpanOff(b *testing.B) {
	tr := NewTracer(Off().TracerProvider(), "bench")
	parent := sc(1, 1, true)
	links := []trace.SpanContext{sc(2, 2, false), sc(3, 3, false)}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		hotPath(tr, parent, links, i)
	}
}

// BenchmarkSpanOn is the same with the SDK recording every span (into a
// recorder), for comparison.
func BenchmarkSpanOn(b *testing.B) {
	tr, _ := recorderB(b)
	parent := sc(1, 1, true)
	links := []trace.SpanContext{sc(2, 2, false), sc(3, 3, false)}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		hotPath(tr, parent, links, i)
	}
}

// TestOffPathAllocatesNothing holds the promise BenchmarkSpanOff shows:
// with tracing off, starting, decorating and ending a span allocates
// nothing, whatever the provider that made it off.
func TestOffPathAllocatesNothing(t *testing.T) {
	parent := sc(1, 1, true)
	links := []trace.SpanContext{sc(2, 2, false)}
	for name, tp := range map[string]trace.TracerProvider{"Off": Off().TracerProvider(), "noop": noop.NewTracerProvider(), "nil": nil} {
		tr := NewTracer(tp, "test")
		if n := testing.AllocsPerRun(100, func() { hotPath(tr, parent, links, 1) }); n != 0 {
			t.Errorf("%s: %v allocations per span, want 0", name, n)
		}
		if n := testing.AllocsPerRun(100, func() {
			tr.StartWith(SpanPlan, parent, SpanOptions{Links: links}).End()
		}); n != 0 {
			t.Errorf("%s: StartWith: %v allocations per span, want 0", name, n)
		}
	}
	// The check can fail: the same path with the SDK on allocates.
	tr, _ := recorder(t)
	if n := testing.AllocsPerRun(10, func() { hotPath(tr, parent, links, 1) }); n == 0 {
		t.Error("the recording path allocates nothing: the measurement is broken")
	}
}

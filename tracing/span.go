package tracing

import (
	"context"
	"time"

	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// offSpan is what every Start returns when tracing is off. It is a
// package variable so that returning it as a trace.Span copies no value
// to the heap.
var offSpan trace.Span = noop.Span{}

// Tracer starts Herald's spans. Actor messages carry a trace.SpanContext,
// never a context.Context, so a span starts from a parent SpanContext (the
// one the message brought) and a list of links (the other events it
// serves), not from a context.
//
// The zero Tracer is off: Start returns a span that records nothing and
// costs no allocation. A Tracer is a small value; copy it freely.
type Tracer struct {
	t trace.Tracer
}

// NewTracer returns the Tracer of one instrumentation scope (the package
// that makes the spans, e.g. "github.com/heraldlb/herald/actors/speaker").
// A nil or no-op TracerProvider gives an off Tracer, so code that traces
// pays nothing when tracing is not configured.
func NewTracer(tp trace.TracerProvider, scope string) Tracer {
	if isOff(tp) {
		return Tracer{}
	}
	return Tracer{t: tp.Tracer(scope, trace.WithSchemaURL(SchemaURL))}
}

// isOff says whether spans from tp would be thrown away unseen.
func isOff(tp trace.TracerProvider) bool {
	switch tp.(type) {
	case nil, noop.TracerProvider, *noop.TracerProvider:
		return true
	}
	return false
}

// Enabled says whether this Tracer records anything. Code that would
// compute attributes for a span only to have them dropped can test it, or
// the span's IsRecording, first.
func (t Tracer) Enabled() bool { return t.t != nil }

// Start begins a span named name (one of the Span* constants): a child of
// parent if parent is valid, else the root of a new trace; linked to every
// valid link that is not the parent, each once. The caller ends the span.
//
// Attributes are set on the returned span, behind IsRecording when they
// cost anything to build:
//
//	span := tr.Start(tracing.SpanUpdateSent, msg.Trace, msg.Links...)
//	if span.IsRecording() {
//		span.SetAttributes(tracing.AttrPrefixes.Int(n), tracing.AttrMessageBytes.Int(len(b)))
//	}
//	defer span.End()
func (t Tracer) Start(name string, parent trace.SpanContext, links ...trace.SpanContext) trace.Span {
	if t.t == nil {
		return offSpan
	}
	return t.start(name, parent, SpanOptions{Links: links})
}

// SpanOptions are Start's rarer settings.
type SpanOptions struct {
	// Kind is the span's kind (default internal).
	Kind trace.SpanKind
	// Time is when the span began, when that was before the call (an
	// informer event received earlier, a packet's receive time).
	Time time.Time
	// Links are the other spans this one serves.
	Links []trace.SpanContext
}

// StartWith is Start with a kind or a start time.
func (t Tracer) StartWith(name string, parent trace.SpanContext, o SpanOptions) trace.Span {
	if t.t == nil {
		return offSpan
	}
	return t.start(name, parent, o)
}

func (t Tracer) start(name string, parent trace.SpanContext, o SpanOptions) trace.Span {
	ctx := context.Background()
	if parent.IsValid() {
		ctx = trace.ContextWithSpanContext(ctx, parent)
	}
	opts := make([]trace.SpanStartOption, 0, 3)
	if o.Kind != trace.SpanKindUnspecified {
		opts = append(opts, trace.WithSpanKind(o.Kind))
	}
	if !o.Time.IsZero() {
		opts = append(opts, trace.WithTimestamp(o.Time))
	}
	if ls := uniqueLinks(parent, o.Links); len(ls) > 0 {
		opts = append(opts, trace.WithLinks(ls...))
	}
	_, span := t.t.Start(ctx, name, opts...)
	return span
}

// uniqueLinks turns the valid SpanContexts among links, other than parent,
// into links, each span once, in the order given. One UPDATE may serve
// hundreds of Services whose messages brought the same SpanContext.
func uniqueLinks(parent trace.SpanContext, links []trace.SpanContext) []trace.Link {
	if len(links) == 0 {
		return nil
	}
	type key struct {
		t trace.TraceID
		s trace.SpanID
	}
	seen := make(map[key]bool, len(links)+1)
	if parent.IsValid() {
		seen[key{parent.TraceID(), parent.SpanID()}] = true
	}
	out := make([]trace.Link, 0, len(links))
	for _, l := range links {
		k := key{l.TraceID(), l.SpanID()}
		if !l.IsValid() || seen[k] {
			continue
		}
		seen[k] = true
		out = append(out, trace.Link{SpanContext: l})
	}
	return out
}

// Context returns a context carrying sc, for APIs that take one: a log
// call (so the log handler adds trace_id and span_id) or a client that
// propagates the trace. Actors keep the SpanContext and call this at the
// edge.
func Context(ctx context.Context, sc trace.SpanContext) context.Context {
	if !sc.IsValid() {
		return ctx
	}
	return trace.ContextWithSpanContext(ctx, sc)
}

package tracing

import (
	"context"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// FuzzParseTraceparent checks ParseTraceparent against OpenTelemetry's own
// W3C propagator, written separately: both must accept the same strings
// and read the same IDs and flags from them. Whatever parses must format
// back to a version 00 traceparent that parses to the same SpanContext.
//
// One difference is known and kept: the propagator takes a version 00
// traceparent followed by a lone '-' (56 characters); the specification
// says version 00 is exactly 55, so ParseTraceparent refuses it.
func FuzzParseTraceparent(f *testing.F) {
	f.Add("00-" + tid + "-" + sid + "-01")
	f.Add("01-" + tid + "-" + sid + "-09-extra")
	f.Add("ff-" + tid + "-" + sid + "-01")
	f.Add("00-" + tid + "-" + sid + "-0g")
	f.Fuzz(func(t *testing.T, s string) {
		got, err := ParseTraceparent(s)
		ref := propagation.TraceContext{}.Extract(context.Background(), propagation.MapCarrier{"traceparent": s})
		want := traceSpanContext(ref)
		if len(s) == traceparentLen+1 && strings.HasPrefix(s, "00-") && strings.HasSuffix(s, "-") {
			if err == nil {
				t.Fatalf("%q: version 00 with 56 characters accepted", s)
			}
			return
		}
		if (err == nil) != want.IsValid() {
			t.Fatalf("%q: ParseTraceparent error %v, OpenTelemetry's propagator valid %v", s, err, want.IsValid())
		}
		if err != nil {
			if got.IsValid() {
				t.Fatalf("%q: error %v with a valid SpanContext", s, err)
			}
			return
		}
		if !got.Equal(want) {
			t.Fatalf("%q: got %v, OpenTelemetry's propagator read %v", s, got, want)
		}
		back, err := ParseTraceparent(FormatTraceparent(got))
		if err != nil || !back.Equal(got) {
			t.Fatalf("%q: formatted as %q, which parses to %v, %v", s, FormatTraceparent(got), back, err)
		}
	})
}

func traceSpanContext(ctx context.Context) trace.SpanContext {
	return trace.SpanContextFromContext(ctx)
}

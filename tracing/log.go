package tracing

import (
	"context"
	"log/slog"

	"go.opentelemetry.io/otel/trace"
)

// Log attribute keys the handler adds (the names OpenTelemetry's log data
// model and most log pipelines use for correlation).
const (
	LogTraceID = "trace_id"
	LogSpanID  = "span_id"
)

// LogHandler wraps a slog.Handler: a record logged with a context that
// carries a valid span (see Context) gets trace_id and span_id attributes,
// at the top level even inside groups, so a log line can be found from its
// trace and the trace from the line. Records without one pass through
// unchanged.
type LogHandler struct {
	// root is the wrapped handler with the attributes added before the
	// first group; inner is root with everything since.
	root, inner slog.Handler
	// since are the WithGroup and WithAttrs calls made after the first
	// WithGroup, replayed on a handler that has the trace attributes
	// first, so those stay outside every group.
	since []func(slog.Handler) slog.Handler
}

// NewLogHandler wraps h.
func NewLogHandler(h slog.Handler) *LogHandler { return &LogHandler{root: h, inner: h} }

// Enabled reports the wrapped handler's answer.
func (h *LogHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return h.inner.Enabled(ctx, l)
}

// Handle adds the trace attributes when ctx carries a span.
func (h *LogHandler) Handle(ctx context.Context, r slog.Record) error {
	sc := trace.SpanContextFromContext(ctx)
	if !sc.IsValid() {
		return h.inner.Handle(ctx, r)
	}
	ids := []slog.Attr{slog.String(LogTraceID, sc.TraceID().String()), slog.String(LogSpanID, sc.SpanID().String())}
	if len(h.since) == 0 {
		r = r.Clone()
		r.AddAttrs(ids...)
		return h.inner.Handle(ctx, r)
	}
	// Inside a group, record attributes would land in the group: put the
	// IDs on the handler before the group instead.
	inner := h.root.WithAttrs(ids)
	for _, f := range h.since {
		inner = f(inner)
	}
	return inner.Handle(ctx, r)
}

// WithAttrs returns a handler that adds attrs to every record.
func (h *LogHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	if len(attrs) == 0 {
		return h
	}
	n := &LogHandler{root: h.root, inner: h.inner.WithAttrs(attrs), since: h.since}
	if len(h.since) == 0 {
		n.root = n.inner
	} else {
		n.since = append(h.since[:len(h.since):len(h.since)], func(x slog.Handler) slog.Handler { return x.WithAttrs(attrs) })
	}
	return n
}

// WithGroup returns a handler that nests later attributes under name.
func (h *LogHandler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	return &LogHandler{root: h.root, inner: h.inner.WithGroup(name),
		since: append(h.since[:len(h.since):len(h.since)], func(x slog.Handler) slog.Handler { return x.WithGroup(name) })}
}

// Package tracing sets up OpenTelemetry from the standard OTEL_* environment
// variables and defines Herald's span names, attributes and the carrier that
// moves a trace.SpanContext between actors and, as a W3C traceparent, from the
// controller to the speakers through the Service. When tracing is off, it
// costs nothing on the hot paths.
//
// Its place in the whole: the I/O libraries (shell layer), in docs/architecture.md.
// docs/tracing.md lists the spans, their attributes and the settings.
//
// # What it provides
//
//   - Setup reads the environment once and returns a Provider: its
//     TracerProvider goes into the actor trees' Options, its Shutdown
//     flushes the spans still buffered when the process stops. With no
//     exporter configured it is OpenTelemetry's no-op provider: no
//     exporter, no goroutine, no buffer.
//   - Tracer starts spans from a parent trace.SpanContext plus links,
//     because actor messages carry SpanContexts, never contexts. An off
//     Tracer (from a no-op provider, or the zero value) returns a shared
//     no-op span without allocating.
//   - The Span* and Attr* constants are the vocabulary; ServiceAttrs names
//     a Service.
//   - FormatTraceparent, ParseTraceparent, FromAnnotations and
//     SetAnnotation carry a SpanContext in the TraceparentAnnotation of a
//     Service.
//   - LogHandler adds trace_id and span_id to log records whose context
//     carries a span (Context puts one there).
//
// # What the caller must do
//
//   - Start spans with the Tracer and end every span it returns.
//   - Guard attributes that cost anything to build with span.IsRecording,
//     so the off path stays free of allocations.
//   - Call Provider.Shutdown once, with a deadline, after the actor trees
//     have stopped.
package tracing

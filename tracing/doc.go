// Package tracing sets up OpenTelemetry from the standard OTEL_* environment
// variables and defines Herald's span names, attributes and the carrier that
// moves a trace.SpanContext between actors and, as a W3C traceparent, from the
// controller to the speakers through the Service. When tracing is off, it
// costs nothing on the hot paths.
//
// Its place in the whole: the I/O libraries (shell layer), in docs/architecture.md.
package tracing

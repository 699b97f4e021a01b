// Package otelcol is an OpenTelemetry collector that Herald's tests and lab
// run in-process: it receives traces over OTLP, gRPC and HTTP (protobuf or
// JSON, optionally gzip), on free loopback ports, keeps every span in memory
// for the test to read back (Spans, WaitForSpans, WaitForSpan), and can
// append every received batch to a file as OTLP-JSON lines (the collector's
// file exporter format) or log one line per span (like its debug exporter).
//
// It is built from the collector's own modules: the OTLP wire types and the
// gRPC service of go.opentelemetry.io/collector/pdata (ptraceotlp) and the
// consumer.Traces pipeline contract of go.opentelemetry.io/collector/consumer,
// so Options.Next can be any collector consumer. It does not use
// receiver/otlpreceiver v0.164.0: that module needs
// go.opentelemetry.io/collector/internal/statusutil v0.164.0, whose source the
// module proxy here refuses (403), so it cannot be built on this machine. The
// HTTP handler follows the OTLP/HTTP specification the receiver implements:
// POST /v1/traces, Content-Type application/x-protobuf or application/json,
// the response in the request's encoding, 400 for an undecodable body, 415 for
// another content type and 405 for another method.
//
// Start binds both listeners before returning; Stop closes them and waits
// for in-flight requests. StartForTest registers Stop with t.Cleanup. The
// package keeps no global state and logs only through the Logf it is given.
package otelcol

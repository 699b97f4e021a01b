// Package timeline turns one trace, as Jaeger's query API returns it, into
// text a person reads top to bottom: one span a line, indented by its depth
// in the parent tree, with its start offset from the trace's first span,
// its duration, the process (and node) that made it, its key attributes
// and its links.
//
// Its place in the whole: an I/O library beside tracing (the shell layer
// in docs/architecture.md), though it does no I/O itself.
//
// # Contract
//
//   - Decode reads the body of GET <jaeger>/api/traces/<id>
//     ({"data":[trace], "errors":[...]}) into a Trace; a body with no
//     trace, or with errors, is an error wrapping ErrNoTrace.
//   - Format is a pure function of the Trace: the same trace always gives
//     the same text, byte for byte. Spans are ordered depth first, siblings
//     by start time then span ID; a span whose parent is not in the trace
//     (its parent was dropped or not yet exported) is shown as a root.
//   - Key attributes are the span's tags whose keys start with "herald.",
//     plus the network peer, interface and error ones; a node is the
//     k8s.node.name tag of the span or of its process. Attributes print
//     sorted by key.
//   - The main module's kubectl herald trace and the lab's demo print the
//     same text, so neither may grow its own formatting.
package timeline

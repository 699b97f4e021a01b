// Package inspect is kubectl herald: it reads what Herald wrote into a
// cluster and says, for people, what it means: the pools' usage, the BGP
// sessions, who announces which IP to whom (status), why one Service has
// its IP or why it has none (explain), and the trace of its last change
// (trace). The binary cmd/kubectl-herald is a thin main around Command.
//
// Its place in the whole: an I/O library of the shell layer in
// docs/architecture.md (it talks to the API server and to Jaeger), used
// by the binary and by the lab's tests, which run Command against a real
// API server.
//
// # Contract
//
//   - It never writes to the cluster and never reads Secrets: the local
//     compilation it does (to tell whether any advertisement selects a
//     Service's pool) drops password references first, which do not
//     change which pools are announced.
//   - It prefers what Herald reports over deriving it again: the
//     controller's Events on the Service (classified by the alloc and
//     informers sentinels' texts, never by copied strings), the
//     ConfigurationStates, the IPAddressPool status, and the speakers'
//     ServiceBGPStatus, ServiceL2Status and BGPSessionState. Only the
//     advertisement check compiles the configuration with package config.
//   - Explain and BuildStatus are pure functions of the objects read
//     (Facts, StatusFacts), so every decision is table-tested without a
//     cluster; Gather and GatherStatus do the reads.
//   - Every command prints text by default and -o json or -o yaml gives
//     the same content as a document.
package inspect

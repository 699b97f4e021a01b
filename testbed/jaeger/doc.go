// Package jaeger runs the lab's tracing backend and reads traces back from
// it: Jaeger v2 (github.com/jaegertracing/jaeger, cmd/jaeger, version
// Version) with in-memory storage, receiving OTLP over gRPC and HTTP and
// serving its query API, and a client for that API's /api/traces/<id> and
// /api/traces?service=... .
//
// The binary is built once from the small module in tool/ (Jaeger is a
// `go get -tool` dependency there: `go install` refuses the jaeger module
// because of its replace directives, a tool dependency of a separate module
// resolves) and cached as <cache>/jaeger-<Version>/jaeger, where <cache> is
// the lab's cache directory (kube.CacheDir). The first build takes about 5
// minutes on 2 idle cores (22 minutes measured on this shared machine under
// load); builds are serialised by a file lock and the binary
// appears by atomic rename, so parallel tests and processes share it.
//
// Start binds nothing itself: it picks free loopback ports unless Options
// names them (Jaeger's usual ones are 4317, 4318 and 16686), writes a
// collector configuration, starts the process and returns when the query
// API answers. Stop ends the process. The package keeps no global state.
//
// Its place in the whole: the lab (testbed), in docs/lab.md.
package jaeger

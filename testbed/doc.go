// Package testbed is Herald's local lab: a real kube-apiserver and etcd built
// from pinned Go modules, network namespaces joined by veth pairs and a
// bridge, FRR and BIRD routers from Debian packages, GoBGP as an in-process
// peer, and an OpenTelemetry collector. It has its own go.mod so that the
// heavy test-only modules stay out of the product's.
//
// Subpackages own one component each; cmd/testbed brings the whole lab up
// for a person (up, status, down, demo) and e2e/ holds the tests that use it.
package testbed

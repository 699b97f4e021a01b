// Package e2e holds Herald's end-to-end tests against the lab's real
// kube-apiserver (testbed/kube). The package has no non-test code; its
// tests start their own control plane each, install the chart's CRDs and
// RBAC, and run Herald's components under the chart's ServiceAccounts:
// in-process, or as the `herald` binary built from the checkout
// (controller_binary_test.go, controller_kill_test.go).
//
// Sizes: by default every test runs at a size that fits `make test` on two
// cores. HERALD_SOAK=1 runs the long versions (5,000 Services for the
// restart test, 50 clients for 60 s for the churn test).
package e2e

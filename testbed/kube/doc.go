// Package kube runs a real Kubernetes control plane for Herald's tests and
// lab: etcd and kube-apiserver, built from pinned Go modules and started on
// loopback. There is no controller-manager and no scheduler: tests create
// what controllers would (EndpointSlices, for one), and a deleted Namespace
// stays Terminating.
//
// Binaries. EnsureBinaries builds kube-apiserver and kubectl from
// k8s.io/kubernetes (KubernetesVersion) in a generated module that replaces
// every staging module k8s.io/kubernetes lists with the proxy's v0.x release
// (StagingVersion), and etcd from go.etcd.io/etcd/server/v3 (EtcdVersion)
// through etcdmain.Main. They are cached under CacheDir, one directory per
// name and version, so only the first run pays (about 5 minutes on 2 cores;
// kubectl, which reuses most of kube-apiserver's compiled packages, adds
// about a minute). Paths.Kubectl is a kubectl matching the API server for
// people using the lab (Debian packages none). Builds are serialised by a
// file lock and installed by rename, so parallel tests and processes may
// call it at once. The module templates are embedded in this package.
//
// Control plane. Start gives each ControlPlane its own temporary directory,
// free loopback ports, a fresh CA and serving certificate, a ServiceAccount
// signing key (so the TokenRequest API works), static token authentication
// (--token-auth-file) and RBAC authorization. It returns when /readyz
// answers ok. AdminKubeconfig and AdminRESTConfig are for a member of
// system:masters; KubeconfigFor(ctx, namespace, name) creates a
// ServiceAccount if needed and writes a kubeconfig with a minted token, so
// the speaker and controller run with exactly the rights the chart's RBAC
// gives them. The API server listens on this namespace's loopback only;
// processes in a lab node's network namespace reach it through Relay (a
// listener created inside that namespace, forwarded here, TLS end to end)
// and a kubeconfig from KubeconfigAt naming the relay's address.
// ApplyYAML server-side applies any multi-document manifest as the admin
// (the chart's rendered RBAC, a demo's IPAddressPool) and returns the API
// server's errors wrapped, naming the object. InstallCRDs (or Options.CRDDir) installs CRD manifests and
// waits until they are Established and served. RestartAPIServer, or
// StopAPIServer and StartAPIServer, bounce kube-apiserver on the same port
// with the same keys and data. Kubectl runs that kubectl as the admin, for
// tests that want its output exactly as a user sees it.
//
// Cleanup. Stop kills both process groups and removes the directory.
// StartForTest registers Stop with t.Cleanup. Children are started with
// PR_SET_PDEATHSIG, so they die with a killed test binary, and the next
// Start removes directories whose owner is gone. With Options.Detach the
// processes outlive their starter (`testbed up`); Attach(ctx, dir, logf)
// gives another process a full handle on them (clients, kubeconfigs, Relay,
// RestartAPIServer, Stop), and StopDir stops them. RelayTo serves a relay
// from such a process.
//
// Errors name the step that failed and, for a process that did not become
// ready, include the tail of its log. The package logs only through the
// Logf it is given.
package kube

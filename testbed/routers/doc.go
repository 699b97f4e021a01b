// Package routers runs the BGP peers of Herald's lab: FRR (zebra, bgpd,
// bfdd) and BIRD 2 from the Debian packages, one instance per network
// namespace, configured from text/template, and GoBGP in-process.
//
// Contract:
//   - FRR and BIRD implement Router: Start renders the configuration into
//     Config.Dir, starts the daemons inside Config.Namespace with `ip netns
//     exec` (their own vty/control sockets, pid and log files in Dir, so
//     instances never share state) and returns once they answer. Stop
//     terminates them. zebra (FRR) and the kernel protocols (BIRD) install
//     the received BGP routes into the namespace's kernel table, so traffic
//     through the router namespace follows them.
//   - The configuration covers eBGP and iBGP, multihop, TCP MD5 passwords,
//     BFD profiles (intervals, multiplier, passive), graceful restart per
//     neighbor, hold/keepalive timers, passive neighbors; FRR runs with
//     `no bgp ebgp-requires-policy`. Connect retries are 1 s so sessions come
//     up fast in tests.
//   - Readers parse the routers' own CLIs (vtysh ... json, birdc text) into
//     Route/Path values: prefix, next hops, AS path, communities, large
//     communities, local-pref, MED, origin; plus session and BFD state.
//     Errors name the command and its output; Logs returns log tails for
//     failure reports.
//   - GoBGP (StartGoBGP) runs a BgpServer whose listener lives in a
//     namespace (its main loop runs on a thread that joined it). It is
//     passive: the peer must connect. It announces paths with communities,
//     large communities, local-pref, MED or raw attributes, and reads the
//     paths a peer sent. Binaries using it need GODEBUG multipathtcp=0 (set
//     in testbed/go.mod): on an MPTCP listener TCP MD5 cannot be set.
//     Several GoBGP servers in one process race on GoBGP's package globals
//     when started concurrently with running ones (the race detector says
//     so); start them before traffic flows, or one test at a time.
//   - FRR and BIRD back off for seconds after a refused connection: start
//     passive peers (GoBGP) before the router, or let the peer connect.
//   - CLI returns the command a person runs to inspect an instance.
//
// Everything needs root (network namespaces); tests skip otherwise.
package routers

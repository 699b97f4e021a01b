// Package bgpload measures one BGP session under a large table: Herald's
// session (bgpwire/peer, driven over a real connection the way the
// speaker's peer actor drives it) and GoBGP's server each send the same
// routes with one attribute set to FRR in the lab, one after the other.
// For each it records the time from handing the routes to the sender's
// API until FRR accepted all of them, the UPDATEs the sender and FRR
// counted, the keepalives FRR received meanwhile, and the sender process's
// peak RSS (each sender runs as its own process: the test binary started
// again in the node's namespace).
//
// make test runs TestSessionLoad (1,000 routes); make bench runs
// BenchmarkHundredThousandRoutes (100,000). Both need root.
package bgpload

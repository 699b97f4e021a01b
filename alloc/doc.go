// Package alloc assigns service IPs from address pools.
//
// It is pure: no I/O, clocks or goroutines. A pool's address set covers CIDRs
// and a-b ranges of both families without enumerating them, so a /64 costs
// what a /30 costs; allocate (lowest free address), claim and release are
// O(log n) in the number of allocated addresses. Candidate-pool order and the
// sharing rules are deterministic, so every controller replica and every
// restart makes the same choice.
package alloc

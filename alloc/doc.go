// Package alloc assigns LoadBalancer Service IPs from address pools.
//
// Its place in the whole: the functional core (pure), in docs/architecture.md.
//
// It is pure: no I/O, no clocks, no goroutines, no randomness. The same
// sequence of calls gives the same answers on every replica and after every
// restart. An Allocator is not safe for concurrent use; one owner serialises
// calls. Inputs are alloc's own small types (Pool, Service, Claim), filled by
// the controller from the CRDs, the Service, its Namespace and annotations.
//
// # Address sets
//
// A pool is a set of Ranges (CIDRs or first-last ranges, IPv4 and IPv6;
// overlapping or adjacent ranges of one pool merge). Its usable addresses are
// numbered in address order; with AvoidBuggyIPs, every IPv4 address whose
// last octet is 0 or 255 is not usable, in every /24 the ranges touch,
// whatever their prefix length (MetalLB's rule; IPv6 is unaffected). Used
// addresses are kept as coalesced runs of those numbers in a B+tree, so a
// /64 or /48 costs what a /30 costs: allocate (lowest free address), claim
// and release are O(log n) in the number of IPs in use, and nothing scans a
// pool. A Service with a sharing key also tries, lowest first, the IPs of
// the pool that already carry its key: O(k) in those IPs.
// Capacities are 128-bit Counts; only all of ::/0 (2^128) saturates, to
// 2^128-1.
//
// # Choosing a pool
//
//  1. Requested IPs (at most one per family) must all lie in one pool, be
//     usable there, and that pool must admit the Service; autoAssign does not
//     matter.
//  2. Else a requested pool (metallb.io/address-pool) must exist and admit
//     the Service; autoAssign does not matter; no other pool is tried.
//  3. Else the candidates: autoAssign pools whose serviceAllocation names a
//     criterion (namespaces, namespaceSelectors, serviceSelectors) that
//     selects the Service, by priority ascending with 0 (unset) last, ties by
//     name; then every other autoAssign pool that admits it, by name.
//
// A pool admits a Service unless its serviceAllocation excludes it: the
// namespace must be listed in Namespaces or match a NamespaceSelector (when
// either is set), and the Service's labels must match a ServiceSelector (when
// any is set). A pool that does not admit a Service is never used for it,
// even when requested. Within a pool the lowest usable address is taken that
// is free, or that already carries the Service's sharing key and can take it.
//
// # Sharing
//
// As MetalLB defines it: Services may hold the same IP only if all carry the
// same non-empty allow-shared-ip key, no two use the same (protocol, port),
// and, if any uses externalTrafficPolicy Local, all are Local with the same
// Backend.
//
// # Families
//
// SingleStack takes the primary family of Service.Families; RequireDualStack
// takes both from one pool; PreferDualStack with two families takes both
// from the first candidate pool that has both, else the primary family alone,
// else the secondary alone (every candidate is tried for each before the
// next). Families empty means the families of the requested IPs, or IPv4.
//
// # Stability
//
// An assignment is never moved by a config change (SetPools) unless its pool
// no longer contains or admits its IPs; those are released and returned with
// the reason. After a restart, Restore claims every Service's status IPs
// before any Allocate; conflicting claims are settled oldest first (Created,
// then namespace/name) and the losers are reported.
//
// # Reservations
//
// An IP a Service stops holding is free at once, but the Service's status
// shows it until the controller's clearing write lands. Reserve leaves the
// Service on such IPs as a ghost until Unreserve (the status is clear): an
// IP with only ghosts is given to no one else (the Service itself may take
// it back), an IP still shared by others takes only newcomers that could
// share with the ghost too, and an IP outside every pool keeps its ghost
// in case a config change brings it back. Reserved IPs count as assigned.
// A ghost keeps newcomers out and never evicts: a Service that already holds
// the IP keeps it even if it changes its ports to clash with a ghost, and a
// ghost is the Service as it was when reserved. Each reservation carries a
// generation the caller gives (the controller numbers them per leadership
// term): Unreserve frees only a reservation of the generation it names, so
// an answer about an earlier reservation of an IP that was taken back and
// reserved again frees nothing. The reservations live here alone; the
// caller keeps no copy of them.
//
// The allocator keeps a copy of each Service it holds IPs for, including
// references to its label maps: callers pass immutable snapshots.
//
// # Errors
//
// Every failure wraps a sentinel (ErrPoolExhausted, ErrNoPool,
// ErrNotAdmitted, ErrUnknownPool, ErrIPNotInPool, ErrIPInUse,
// ErrSharingIncompatible, ErrFamilyUnavailable, ErrInvalidRequest,
// ErrInvalidPool, ErrOverlappingPools) and its text names the Service, pool,
// IP, ports or other Services involved, so it can be published as an
// AllocationFailed Event as is. A failed automatic allocation is an
// *AllocationError with one reason per pool tried.
package alloc

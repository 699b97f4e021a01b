// Package controller is the actor tree of `herald controller`: informers that
// always run (so a standby's caches are warm) and, while the replica holds
// the Lease, a tree that allocates IPs and writes Service status, pool
// status, Events and the controller's ConfigurationState. It is built on the
// kit in package actors; docs/architecture.md places it in the whole.
//
// Contract:
//   - Loggers, the event recorder, the Prometheus registry, the clients and
//     the clock every actor timer runs on (Options.Clock) are injected
//     through Options; nothing is global. Leader election alone keeps
//     client-go's real clock, since a Lease is judged against other
//     replicas' real time.
//   - A restarted actor rebuilds its state from the informer caches in
//     Started (the allocator re-runs restore; the router re-kicks every
//     Service; a Service actor re-reads its Service).
//   - Events are best effort in Kubernetes (client-go drops them silently
//     when its sink falls behind), so a Service that keeps waiting repeats
//     its AllocationFailed Event (Options.FailureEventInterval).
//   - The Lease should have a client of its own (ElectionKube): renewals
//     must not queue behind bulk status writes in a shared rate limiter.
//     NewClients builds the three clients as the binary runs them (the
//     informers' reads retried through an API server outage, the Lease's
//     not); anything that runs a Controller, tests included, uses it.
//
// The controller tree, per leadership term (only the Lease holder runs it,
// so only the leader writes):
//
//	controller-N
//	├── allocator ── pool-<name>...   one alloc.Allocator; pool actors write IPAddressPool status
//	├── router ───── svc-<ns>-<name>... one actor per Service: desired vs actual, status writes, Events
//	└── config                        compiles with config/, writes ConfigurationState
//
// Refinement of DESIGN.md's "one supervised actor per pool": allocation is
// global across pools (requested IPs, pool order by serviceAllocation
// priority, sharing and dual-stack each need one view of every pool, and
// alloc.Allocator is built as one value for that reason), so a single
// allocator actor owns the one Allocator and decides; the per-pool actors
// are its children and own what really is per pool, the IPAddressPool
// status counters and the pool gauges.
//
// A new term waits for current caches: before its tree starts, a new leader
// passes Informers.WaitCurrent, a consistent list of every watched kind from
// etcd, and waits until each cache shows every listed object at that version
// or later. That is enough because the previous leader's writes all happened
// before this replica could take the Lease: a crashed leader wrote nothing
// after it died, and a live one stops writing when it fails to renew
// (RenewDeadline), before its Lease can expire (LeaseDuration) and be taken.
// So the list, taken after the Lease, contains them all, and a cache that
// has caught up with it cannot make restore mistake a held IP for a free one.
// Without the fence, a standby whose reflectors were still backing off after
// an API server restart restored from a cache older than those writes, and
// moved Services off IPs it then handed to others.
//
// Restart safety: the allocator does nothing until the first valid
// configuration; then, in one message, it restores every IP already in a
// Service's status.loadBalancer.ingress (conflicts settled by alloc, oldest
// Service first, the loser told with an AllocationFailed Event) and only
// then allocates anything new. A restart with N Services changes no IP and,
// when status and annotation are already right, writes nothing.
//
// No IP in two statuses: an IP the allocator takes from a Service (its
// request changed or became unreadable, a config change evicted it, a
// restored IP was refused, the Service stopped being ours) keeps that
// Service on it as a ghost (alloc.Allocator.Reserve) until the Service's
// status no longer shows it; only then can a Service that could not share
// with it get the IP. Three parts keep it, each tested on its own:
//   - alloc holds each reservation with the generation it was made in (a
//     counter of the leadership term, so a restarted allocator never
//     repeats one) and frees it only on an answer naming that generation;
//   - servicestatus, the Service's pure state machine, never writes a
//     revoked IP back and answers (StatusClear) only once the newest
//     version of the Service known no longer shows the IP and no write is
//     in flight; the Service actor only carries it out;
//   - the router stops an idle Service actor only when its idle report
//     covers every kick and forwarded message sent to it, so a revoked
//     message is never dropped with the actor. A restarted actor asks the
//     allocator for the reservations still waiting for it.
//
// After a restart, every IP in an ours Service's status that it does not
// hold (Invalid Services included) is reserved the same way; a Service of
// another class is not Herald's any more, and its status is not.
package controller

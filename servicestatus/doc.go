// Package servicestatus decides, for one Service, what the controller writes
// to its status and pool annotation, which Events it publishes, what it asks
// the allocator, and when an IP the allocator took from it may go to
// another Service. It is the controller's Service actor without the actor:
// a pure state machine in the style of etcd's raft, stepped with events,
// returning actions. docs/architecture.md places it in the whole.
//
// # Contract
//
// The package does no I/O, reads no clock, starts no goroutine. A Machine
// is one Service's state; the shell (actors/controller's Service actor)
// feeds it:
//
//   - Observe with the cache's view of the Service every time it is kicked
//     (Exists false once it is gone). Object.Ref is the shell's object; the
//     machine keeps the newest version by resourceVersion and hands its
//     Ref back with every Write and Publish.
//   - Decide with each of the allocator's decisions, Revoke with each
//     reservation the allocator made for the Service, Written with the
//     outcome of each Write, Retry and Remind when the timers it asked for
//     fire.
//
// and carries out the actions in order: Ensure, Release and StatusClear go
// to the allocator; Write starts the one status write (never two at once);
// Publish records a Kubernetes Event; RetryLater, ResetBackoff and
// RemindLater drive the shell's backoff and reminder timers; Idle says the
// actor may be stopped.
//
// # Promises
//
//   - No IP in two statuses, the Service's half of it: after Revoke, no
//     Write puts a revoked IP back unless a later decision gives it back,
//     and a reservation is reported clear (StatusClear, with the
//     generation it was made in) only when the newest version of the
//     Service known no longer shows its IP and no write is in flight, or
//     the Service is gone. The allocator's half: alloc.Allocator frees a
//     reservation only for the generation it was made in.
//   - At most one Write in flight; changes meanwhile make one more write
//     when it returns. A conflicting write retries at once with the fresh
//     object, three times in a row, then through the backoff.
//   - Each failure is published once, and again on every Remind while it
//     lasts; a reminder for a failure since resolved does nothing.
//   - Idle only when the Service is gone or not a LoadBalancer of the
//     served class, no write is in flight or owed, and no reservation
//     waits.
package servicestatus

// Package actors is the kit every actor tree of Herald is built with, on
// protoactor-go: the controller's tree (package actors/controller) and the
// speaker's (package actors/speaker). The trees call into the pure cores
// (config, alloc, announce, bgpwire) for every decision; the kit is how they
// reach the world. docs/architecture.md places it in the whole.
//
// Contract:
//   - One constructor (NewProps) builds every Props: a one-for-one
//     supervisor whose decider restarts a panicking child (a broken
//     invariant) and stops one that keeps panicking, a debug-tracing
//     receive middleware, and the injected *slog.Logger. Each call builds a
//     fresh Props.
//   - Actors never block: API calls run on their own goroutines (GoAPI)
//     and report back as messages through the root context; expected
//     failures (API conflicts, timeouts, an API server restarting, a
//     refused connection) retry through a per-actor
//     backoff.ExponentialBackOff (Runtime.NewBackoff, MaxElapsedTime 0) and
//     a timer message to self (Runtime.After, Retry). No Future.Result, no
//     backoff.Retry, no sleeping.
//   - Every timer runs on the Runtime's injected clock, and no result or
//     timer message is delivered once the tree's lifetime (Runtime.Ctx) has
//     ended.
//   - StatusWriter publishes one object's status: the latest value only, at
//     most one write in flight, failures retried on the backoff.
//   - A tree shuts down by poisoning its top actor and waiting for it;
//     ActorSystem.Shutdown alone would stop nothing.
package actors

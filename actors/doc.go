// Package actors is the shell around Herald's pure cores: it builds the
// controller's and the speaker's actor trees on protoactor-go, owns every
// timer, socket and lifetime, and calls into config, alloc, announce and
// bgpwire for every decision.
//
// Contract:
//   - One constructor builds every Props (supervisor, middleware, logger).
//   - Actors never block: expected failures retry through a per-actor
//     exponential backoff and a timer message to self; panics are reserved
//     for broken invariants and are handled by the supervisor's decider.
//   - A restarted actor rebuilds its state and children from the last
//     snapshot it is given in Started.
//   - Messages carry a trace.SpanContext, never a context.Context.
package actors

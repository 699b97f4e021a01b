// Package speaker is the actor tree of `herald speaker`, one per node: it
// watches what its node announces, decides it with the pure cores and
// announces it. It is built on the kit in package actors;
// docs/architecture.md places it in the whole.
//
// Contract:
//   - Every speaker runs its tree all the time (no Lease): each decides
//     for its own node from the same inputs, so all agree without talking
//     to each other or to the API server.
//   - Loggers, the Prometheus registry, the clients and the clock every
//     actor timer runs on (Options.Clock) are injected through Options;
//     nothing is global.
//   - Run returns when its context ends, after the tree has stopped: a
//     stopping actor says what it still has to say (a withdrawal, a BFD
//     AdminDown) before the tree's own context ends.
//   - The speaker's ConfigurationState is speaker-<node>: Valid, or Invalid
//     with the errors while the last valid configuration stays in force.
//
// The tree:
//
//	speaker
//	└── config        compiles with config/, writes ConfigurationState speaker-<node>
//
// The planner (announce), the BGP peers, the BFD sessions and the L2
// interfaces join it as they are built.
package speaker

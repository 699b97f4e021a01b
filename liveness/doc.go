// Package liveness decides which speakers are alive, from BFD sessions
// the speakers run with each other: the set that L2 election and BGP next
// hops read. It is the decision only; the BFD sessions (bgpwire/bfd and
// sockets) and the transport of reports are the shell's.
//
// Its place in the whole: the functional core (pure), in docs/architecture.md.
//
// It is pure: no I/O, no clock, no goroutine, no randomness. Time enters
// as arguments (the shell's monotonic clock).
//
// # The mesh
//
// Speakers are placed on a ring by a hash of their names (Ring). Each runs
// BFD sessions with its Neighbors (default 2) nearest members on each side,
// so a speaker's cost is 2 × Neighbors sessions whatever the size of the
// cluster, and every speaker has as many watchers. The mesh heals: a
// speaker also watches its nearest alive members, so one whose watchers
// all died gets new ones; and when any live watcher sees a speaker Down,
// the next Neighbors alive members on each side of it watch it too, so
// that a majority of independent opinions decides. design.md has the
// reasoning and the numbers of the simulation (mesh_test.go, with real
// bgpwire/bfd machines).
//
// Every speaker publishes a Report: its observations (session Up, or
// failed) of the peers it watches, versioned by (Epoch, Seq). Decide
// turns the members, the local observations and the reports into the
// alive set: a member is dead when more live reporters see it Down than
// Up (ties keep it), and a speaker that sees none of its peers stands
// down. See Decide for every rule.
//
// # How the shell drives a View
//
//	v := liveness.NewView(liveness.Config{}, nodeName, startTime)
//	v.SetMembers(now, speakerNodes)              // from the API: at start (even if empty), on every change
//	for _, p := range v.Sessions() { ... }        // run a BFD session to each
//	v.SetSession(now, peer, liveness.SessionUp)  // on every SessionUp / SessionDown
//	if r, ok := v.Publish(now); ok { ... }       // send r to every other speaker
//	v.Receive(now, report)                       // reports from the others
//	d, ok := v.Deadline()                        // call Tick, then Publish, at d
//	alive := v.Alive()                           // for announce
//
// The shell must:
//   - give the first member list as soon as its caches have synced, even
//     an empty one: it decides the start hold (Config.StartHold), during
//     which Alive leaves Self out;
//   - run a BFD session to each of Sessions() with the liveness profile
//     (100 ms × 3 in the simulation) on the liveness UDP port; disable
//     (AdminDown) and drop a session that leaves Sessions();
//   - answer a session a member opens that it does not want (a passive
//     one, dropped when it goes Down): while views briefly disagree both
//     sides' sessions still come up, and one that is Up shows the speaker
//     is not isolated;
//   - report every session's changes with SetSession: SessionUp, then
//     SessionFailed when bfd.DownCause.Failure is true and
//     SessionWithdrawn when it is not (the peer's AdminDown);
//   - on a clean stop call Leave, send the Publish result, then disable
//     its sessions;
//   - call Publish after every change and at Deadline, and deliver what
//     is new to every other speaker. Reports carry versions and a View
//     keeps the newest per reporter, so order and duplicates do not
//     matter; a lost report must be repaired by the transport (design.md
//     suggests an exchange of versions between ring neighbours).
package liveness

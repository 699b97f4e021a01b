// Package liveness decides which speakers are alive, from BFD sessions
// the speakers run with each other: the set that L2 election and BGP next
// hops read. It is the decision only; the BFD sessions (bgpwire/bfd plus
// sockets) and the transport of reports are the shell's.
//
// It is pure: no I/O, no clock, no goroutine, no randomness. Time enters
// as arguments (the shell's monotonic clock).
//
// # The mesh
//
// Speakers are placed on a ring by a hash of their names (Ring). Each runs
// BFD sessions with its Neighbors (default 2) nearest members on each side,
// and with its Neighbors nearest alive ones, so a speaker's cost is 2 ×
// Neighbors sessions whatever the size of the cluster, and every speaker
// is watched by as many others. The second part heals the mesh: a speaker
// whose watchers all died gets new watchers. design.md has the reasoning
// and the numbers of the simulation in sim_test.go.
//
// Every speaker publishes a Report: its observations (session Up, or
// failed) of the peers it wants, versioned by (Epoch, Seq). Decide turns
// the members, the local observations and the fresh reports into the alive
// set, by majority of the votes about each member from live reporters,
// ties alive; see Decide for the rules, including what a speaker that sees
// none of its peers does (it stands down).
//
// # How the shell drives a View
//
//	v := liveness.NewView(liveness.Config{}, nodeName, startTime)
//	v.SetMembers(now, speakerNodes)          // from the API, on every change
//	for _, p := range v.Sessions() { ... }    // run a BFD session to each
//	v.SetSession(now, peer, liveness.SessionUp) // on SessionUp / SessionDown
//	if r, ok := v.Publish(now); ok { send r to every other speaker }
//	v.Receive(now, report)                   // reports from the others
//	d, ok := v.Deadline()                    // call Tick (and Publish) then
//	alive := v.Alive()                       // for announce
//
// The shell must:
//   - run sessions to exactly Sessions() with the liveness BFD profile
//     (100 ms × 3 in the simulation) on the liveness UDP port, and answer
//     a session a member opens that it does not want (a passive one,
//     removed when it goes Down), so that both sides' sessions come up
//     while their views briefly disagree;
//   - map BFD Down to SessionFailed when bfd.DownCause.Failure is true and
//     to SessionWithdrawn otherwise; disable (AdminDown) and drop a session
//     that leaves Sessions();
//   - on a clean stop call Leave, send the Publish result, then disable
//     its sessions;
//   - call Publish after every mutation and at Deadline and send what is
//     new to every other speaker (the suggested transport, and its cost,
//     are in design.md); the order reports arrive in does not matter, since
//     a View keeps the newest version per reporter.
package liveness

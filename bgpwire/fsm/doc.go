// Package fsm is the BGP-4 finite state machine of RFC 4271 section 8 as a
// pure value, in the style of etcd's raft: the speaker feeds it events and
// carries out the actions it returns.
//
// Its place in the whole: the functional core (pure), in docs/architecture.md.
//
// # Contract
//
// The package does no I/O, reads no clock, starts no goroutine and draws no
// randomness. A Machine handles one TCP connection's session with one
// configured peer. Step (or StepAppend, which appends into a caller-owned
// slice and does not allocate) takes an Event and returns Actions in the
// order they must be carried out: send a message, start or stop a timer,
// initiate or drop the connection, report the session up or down.
//
// Timers are the shell's, and carry tokens. StartTimer carries the
// duration (restarting a running timer) and a Token, never 0 and never
// reused by one Machine; the shell reports the expiry as the matching
// *TimerExpired event echoing that Token. The machine itself drops an
// expiry whose token is not that of the timer's running instance — a timer
// since stopped or restarted, or never started — with no action and no
// change, in every state. So the shell need not cancel anything reliably:
// an expiry already queued in a mailbox when a KEEPALIVE restarted the hold
// timer cannot tear an Established session down. (RFC 4271's rows for the
// expiry of a timer that cannot be running in a state, such as
// KeepaliveTimer_Expires in OpenSent, are therefore unreachable.) A
// StartTimer of IdleHoldTimer with zero Duration asks the shell's restart
// backoff to choose the delay (AllowAutomaticStart with
// DampPeerOscillations).
//
// Values are bgpwire's, the way etcd's raft uses raftpb: a BGPOpen event
// carries the bgpwire.Open the codec decoded, NOTIFICATIONs in events and
// actions are bgpwire.Notification with bgpwire's codes, and BGP
// Identifiers are netip.Addr. bgpwire does not import this package. The
// speaker still does the translating: decoded messages and decoding errors
// become events, and actions become encoded messages.
//
// Each OPEN check is made once. bgpwire's decoder judges the message —
// version 4 (before anything else is parsed), hold time not 1 or 2,
// identifier not 0.0.0.0, well-formed parameters and capabilities — and
// returns a *bgpwire.NotificationError, which the speaker passes in as
// BGPOpenMsgErr. CheckOpen, which the machine runs on BGPOpen, judges the
// peer: its ASN against Config.PeerAS or the PeerASMode, AS 0 and AS_TRANS
// misuse, an internal peer using our identifier. The machine does not
// repeat the decoder's checks, so an OPEN that did not pass the decoder
// must not be stepped as BGPOpen. CheckOpen's documentation lists both
// sets.
//
// # Choices where RFC 4271 leaves room
//
//   - DelayOpen is not implemented; the OPEN goes out when TCP is up.
//   - A passive machine never initiates TCP, even when the ConnectRetryTimer
//     fires in Active.
//   - Collisions (section 6.8): each connection has its own Machine. When an
//     OPEN arrives, the speaker asks the peer's other machine
//     CheckCollision and sends OpenCollisionDump to the loser (NOTIFICATION
//     Cease/Connection Collision Resolution). An OPEN received on a
//     connection already past OpenSent is an FSM error (RFC 6608 subcode).
//   - A Message Header Error in Established sends the header NOTIFICATION the
//     decoder chose (section 6.1), not an FSM error.
//   - The send hold timer of RFC 9687 runs while the shell reports
//     SendBlocked and stops on SendProgressed; its expiry sends NOTIFICATION
//     8 and drops the connection in OpenSent, OpenConfirm and Established.
//   - UpdateSent restarts the KeepaliveTimer in Established (section 4.4).
//
// An RFC 7606 treat-as-withdraw UPDATE is an UpdateMsg; only session-reset
// errors are UpdateMsgErr.
//
// # How the speaker drives it
//
//	m, err := fsm.New(cfg)                 // Idle
//	acts = m.StepAppend(acts[:0], fsm.Event{Kind: fsm.ManualStart})
//	for _, a := range acts { ... }         // dial, arm timers, send, report
//
// Decoded OPEN → Event{Kind: BGPOpen, Open: msg.Open}; decode error →
// BGPHeaderErr / BGPOpenMsgErr / UpdateMsgErr with the NOTIFICATION the
// decoder chose (err.Notification()); a timer's expiry → its
// *TimerExpired event with the StartTimer's Token; received NOTIFICATION →
// NotifMsg (NotifMsgVerErr for 2/1); a blocked or drained write queue → SendBlocked / SendProgressed; an UPDATE
// written → UpdateSent. An incoming connection for a peer whose machine is
// in Connect or Active is TCPConnectionConfirmed on that machine; one that
// arrives later gets a second machine (ManualStartPassive, then
// TCPConnectionConfirmed) and, when its OPEN arrives, the first machine's
// CheckCollision decides which one receives OpenCollisionDump.
//
// bgpwire/peer is Herald's speaker: it keeps one machine for the
// connections it dials and one for the connection the peer opens, and does
// all of the above.
package fsm

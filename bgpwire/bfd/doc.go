// Package bfd is Bidirectional Forwarding Detection (RFC 5880) without the
// sockets: the Control packet codec with its authentication sections, and
// the session state machine with timer negotiation, Poll/Final sequences,
// transmit jitter and the Echo function's timing.
//
// Its place in the whole: the functional core (pure), in docs/architecture.md.
//
// It is pure: no I/O, no clock, no goroutine, no randomness. Received
// packets, timer expiries and random values enter as events; the machine
// returns the packets to send and the timers to arm. Sockets (RFC 5881
// single hop on ControlPort/EchoPort, RFC 5883 multihop on MultihopPort),
// the TTL checks and the Echo packets themselves are the shell's.
//
// # Codec
//
// Decode(b, &p) decodes a UDP payload into a reused Packet without
// allocating (Auth.Data points into b) and applies the packet-only
// discard rules of §6.8.6. AppendPacket(dst, &p) appends an encoding,
// computing Length and, for the keyed types, the MD5 digest or SHA1 hash
// with Auth.Data as the key; with enough capacity it does not allocate.
// CheckAuth verifies a password or digest against a secret in constant
// time. Every discard reason has a sentinel error (ErrBadVersion ...
// ErrAuthSequence) and a DropReason; DropCounts counts errors by reason.
//
// # Session
//
//	m, err := bfd.New(bfd.Config{Profile: bfd.Profile(*cfgProfile), LocalDiscr: d, ...})
//	acts = m.StepAppend(acts[:0], bfd.Event{Kind: bfd.Enable, Rand: rnd()})
//	for _, a := range acts { ... } // send, arm or stop timers, report
//
// The shell must:
//   - give every session a nonzero LocalDiscr unique on the system (random,
//     §6.8.1) and a random InitialAuthSeq;
//   - decode every packet with Decode, count its errors with a DropCounts,
//     find the session by Your Discriminator (or, when it is zero, by
//     addresses and interface) and step Received with the Packet and the
//     raw bytes; a nonzero Your Discriminator that finds no session is
//     ErrNoSession;
//   - check the TTL first: 255 on single-hop sessions (RFC 5881 §5), at
//     least Profile.MinimumTTL on multihop ones;
//   - carry out the actions in order: SendControl (AppendPacket on
//     Action.Packet), SendEcho, StartTimer (Duration, then the event
//     TimerExpired with Timer and Token), StopTimer, and report SessionUp
//     and SessionDown;
//   - draw a uniform random Event.Rand for every event and give it the
//     monotonic clock reading in Event.Now;
//   - validate a Profile before stepping Reconfigure (an invalid one is
//     ignored).
//
// Timers carry tokens: the machine drops an expiry whose token is not the
// one of the timer it has running (Counters.StaleTimers), so the shell
// needs no cancellation that races with expiry.
//
// # What the machine promises
//
//   - The reception procedure and state table of §6.8.6, in its order.
//   - Transmit interval = max(bfd.DesiredMinTxInterval, remote Required Min
//     RX), jittered down by 0–25% (10–25% when Detect Mult is 1) from
//     Event.Rand; Detection Time = remote Detect Mult × max(
//     bfd.RequiredMinRxInterval, remote Desired Min TX) (Asynchronous mode).
//   - bfd.DesiredMinTxInterval is at least 1 s while not Up (§6.8.3).
//   - While Up, a change of the advertised intervals (a new Profile, Echo
//     starting or stopping, the move to the fast rate on reaching Up) runs
//     a Poll Sequence on the periodic packets; a larger transmit interval
//     is used only after the Final, a smaller receive interval enters the
//     Detection Time only after the Final (§6.8.3). Until then the machine
//     goes by the most cautious of every value it sent since the Poll
//     began. If packets with different values went out during one Poll
//     Sequence, its Final cannot say which one the peer has, so another
//     Poll follows the next packet without F; a Final that arrives before
//     the first Poll packet ends nothing. The session stays up (a property
//     test drives two machines through arbitrary profile changes on a
//     clean link and checks that they never go down).
//   - A shorter transmit or Echo interval counts from the last packet sent
//     (Event.Now): the next packet leaves no later than the new interval
//     after the previous one, at once if that time has passed (§6.8.3).
//   - A packet with P is answered at once with F (never P and F together).
//     A change of state or diagnostic is sent at once (the SHOULD of
//     §6.8.7), then periodic packets resume a full interval later.
//   - Passive role: nothing is sent until a packet arrives (§6.1), and
//     again nothing after the remote is forgotten.
//   - Demand mode: never requested (D is always 0). When the peer sets D
//     and both are Up, periodic packets stop (§6.8.7) except during Poll
//     Sequences, Polls are answered, and a changed packet is polled (§6.6).
//   - Disable: AdminDown with its diagnostic, sent at once and then at the
//     slow rate until the shell drops the session (§6.8.16 allows it
//     indefinitely). Packets received in AdminDown are discarded but the
//     Detection Timer runs on, so the peer and its sequence number are
//     still forgotten in time.
//   - A remote AdminDown takes an Up session Down with diag
//     NeighborSignaledSessionDown; SessionDown's DownCause tells it apart
//     from a detection timeout, and DownCause.Failure is false for it
//     (RFC 5882 §3.2: a client must not drop its session for it).
//     The exception, by the RFC's own table: after a Disable and Enable
//     quicker than a round trip, the peer's Init answering a Down sent
//     before the Disable takes the session Up, and the peer's Down (diag
//     3) answering the AdminDown then takes it Down as NeighborDown, a
//     failure no lost packet caused (testdata/admin_down.txt).
//   - Echo (Config.EchoCapable and Profile.EchoMode): Required Min Echo RX
//     is advertised as the EchoInterval; while Up and the peer advertises
//     a nonzero one, SendEcho is paced at max(EchoInterval, the peer's)
//     with the jitter of Control packets, and the session goes Down
//     (EchoFunctionFailed) when no echo returns for Detect Mult × that
//     interval. While Echo is active, Required Min RX is raised to 1 s (the
//     SHOULD of §6.8.3).
//   - Authentication: one key per session. Keyed sequence numbers start
//     at InitialAuthSeq and advance with every packet, for Keyed and
//     Meticulous types alike. The replay window is bfd.RcvAuthSeq to
//     bfd.RcvAuthSeq + 3 × Detect Mult (from +1 for Meticulous), circular;
//     bfd.RcvAuthSeq moves to every accepted number, and is forgotten after
//     two Detection Times without packets (§6.8.1).
//   - After a Detection Time without packets the remote's discriminator is
//     forgotten and its Required Min RX reset to 1 µs (§6.8.1, §6.8.18).
//
// # Choices where the RFC leaves room
//
//   - No Poll Sequence runs while the session is not Up: the intervals
//     change at once (FRR does the same). The restrictions a Poll Sequence
//     protects exist only while Up.
//   - Packets with both P and F are accepted (answered with F, and ending
//     a running Poll Sequence); BIRD discards them, RFC 5880 lists no such
//     discard rule.
//   - The diagnostic is reset to None on reaching Up and on Enable.
//   - Only the Up<->Down transitions are reported (SessionUp,
//     SessionDown); Counters has the rest.
//
// # Interoperability notes
//
// BIRD computes Keyed MD5/SHA1 as RFC 5880 does (the key in the digest
// field, a plain hash over the packet) and uses its own Detect Mult for
// the sequence window. FRR's bfdd (2026 master) authenticates "SHA1" with
// HMAC-SHA1 over the packet with a zeroed hash field, which is not RFC
// 5880 §6.7.4: Herald rejects such packets (ErrAuthMismatch), as BIRD
// does. FRR advertises Required Min RX of at least 1 s while not Up;
// Herald raises only Desired Min TX, as §6.8.3 asks.
package bfd

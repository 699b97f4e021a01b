// Package peer is Herald's BGP session with one configured peer as a pure
// value: its TCP connections (both of a collision) and their RFC 4271 state
// machines (bgpwire/fsm), the restart backoff, the capabilities, the
// validation of everything the peer sends, and the Adj-RIB-Out that turns a
// desired route set into the fewest UPDATEs.
//
// Its place in the whole: the functional core (pure), in docs/architecture.md.
//
// # Contract
//
// The package does no I/O, reads no clock, starts no goroutine and draws no
// randomness; it imports bgpwire and bgpwire/fsm only. A Peer is one
// configured peer. Step (or StepAppend into a caller-owned slice) takes an
// Event and returns Actions in the order they must be carried out. Time and
// randomness come in the event: At (the shell's clock, for the status and
// the backoff) and Jitter (a fraction in [0, 1] the shell draws for each
// step). A Peer is not safe for concurrent use; one actor owns it. Status
// returns a plain value that shares no memory with the Peer.
//
// What the Peer promises:
//
//   - One session at a time. It dials (unless Passive) and accepts the
//     peer's connection; when both reach OpenConfirm it keeps the one RFC
//     4271 section 6.8 keeps and closes the other with Cease/Connection
//     Collision Resolution.
//   - No UPDATE before the session is Established. Then the whole desired
//     table, per attribute set in prefix order, each set packed into the
//     fewest UPDATEs its session allows (4096 bytes, or 65535 with extended
//     messages), then one End-of-RIB per negotiated family. After that, at
//     the end of each step, only the difference: withdrawals (split to fit)
//     before announcements. While the shell reports the connection blocked,
//     changes coalesce and go out when it drains. A ROUTE-REFRESH gets the
//     family's table again (between BoRR and EoRR with enhanced route
//     refresh), never a second End-of-RIB. A new session gets the whole
//     table again.
//   - Every close it initiates sends a NOTIFICATION first: Cease/
//     Administrative Shutdown with an RFC 9003 communication on Stop,
//     Cease/Peer De-configured on Deconfigure, Cease/BFD Down (RFC 9384) on
//     BFDDown, Hold Timer Expired, Send Hold Timer Expired (RFC 9687), the
//     OPEN, UPDATE, header or FSM error that caused it.
//   - Whatever bytes arrive, it frames them (messages may span Received
//     events) and validates them; it never panics on them. A malformed
//     UPDATE gets RFC 7606's treatment from bgpwire's decoder: session reset
//     with the decoder's NOTIFICATION, or treat-as-withdraw and attribute
//     discard (Herald learns no routes, so both only yield a MalformedUpdate
//     report naming the attribute). A received NOTIFICATION yields a report
//     with its decoded reason, RFC 9003 text included.
//   - Timers are actions with tokens: StartTimer carries a Token never used
//     before; an expiry whose token is not the running instance's is
//     dropped (by the Peer, and again by the machine). Each step reports the
//     net change of each timer once.
//   - Nothing it returns or keeps points into Event.Data or Event.Routes;
//     Send bytes belong to the shell.
//
// # How a shell drives it
//
// The peer actor owns the Peer, the sockets, two write queues per
// connection and the timers:
//
//	p, err := peer.New(cfg)
//	acts = p.StepAppend(acts[:0], peer.Event{Kind: peer.Start, At: now, Jitter: rand.Float64()})
//	for _, a := range acts { ... }
//
// Every event carries At and a fresh Jitter. The shell reports:
//
//   - Connected{Conn, Local} or DialFailed{Conn} for each Dial{Conn}; Local
//     holds the socket's local address (Transport) and, for the other
//     family, the node's addresses to use as next hops (IPv4, IPv6,
//     LinkLocal).
//   - Accepted{Local} for a connection accepted from the peer's address
//     (the shell matches the address, applies TCP MD5 and GTSM); the Peer
//     answers Accept{Conn} (from now on the connection is Conn) or Refuse
//     (close it).
//   - Received{Conn, Data} for every read, in any split; Closed{Conn} when
//     a connection fails or the peer closes it.
//   - SendBlocked{Conn} when bytes have been queued unread for a while,
//     SendProgressed{Conn} when the queue drains.
//   - TimerExpired{Timer, Token} when a timer fires, with the token of its
//     StartTimer.
//   - SetRoutes{Routes} with the whole desired set, or ChangeRoutes{Routes,
//     Withdraw} with a difference (what announce computes per peer).
//   - Stop{Reason} when the speaker stops, Deconfigure when the peer is
//     removed, BFDDown when BFD declares the path down, Start to (re)start.
//
// and carries out the actions in order: Dial, Accept, Refuse; Send{Conn,
// Class, Bytes} into the queue of the class (Control holds OPEN, KEEPALIVE
// and NOTIFICATION and is always written before Bulk, so a KEEPALIVE never
// waits behind UPDATEs); Close{Conn}: write the Control queue (a
// NOTIFICATION just sent), drop the Bulk queue, close (a Close of a
// connection the shell already knows failed is a no-op); StartTimer and
// StopTimer keyed by Timer; SessionUp, SessionDown and Report for logs,
// metrics and Kubernetes Events. A speaker that stops withdraws first:
// SetRoutes with no routes, wait for the queue to drain, then Stop.
//
// # Choices where the RFCs leave room
//
//   - Two machines: the one for connections we dial (out) and the one for
//     the connection the peer opened (in). One incoming connection at a
//     time; another is refused while the first is in progress (as BIRD
//     does; RFC 4271 would keep several in OpenSent). An OPEN with another
//     BGP identifier than the other connection's means the peer changed:
//     the newer connection survives. An Established connection wins a
//     collision unless CollisionDetectEstablished is set.
//   - A new connection from a peer that advertised graceful restart while
//     its session is Established means the peer restarted (RFC 4724 section
//     4.2): the old session ends without a NOTIFICATION and the new
//     connection is accepted (BIRD does the same; FRR waits for the OPEN).
//   - While a session is Established no other connection is attempted: a
//     dial in progress is abandoned.
//   - Restart: when every connection is down after a failure, the Peer
//     dials again after Backoff.Initial, doubled for each further failure up
//     to Backoff.Max, and from Initial again once a failure comes Forget
//     after the previous one (BIRD's error wait and forget times; the
//     defaults are 1s, ConnectTime and 5m). The delay, the
//     ConnectRetryTimer and the KeepaliveTimer are shortened by Jitter/4
//     (RFC 4271 section 10: a random 0 to 25% less); the hold timers are not.
//     A connection that fails after our OPEN goes back to Active and dials
//     when the connect retry timer fires, as RFC 4271 says, but the timer
//     is started with the backoff's delay when that is shorter than
//     ConnectTime: a router that has just restarted often takes a
//     connection and closes it while it starts, and the speaker, which does
//     not listen unless told to, would otherwise wait ConnectTime (120s by
//     default) before its next dial. Stop and
//     Deconfigure do not restart. Incoming connections are accepted during
//     the backoff: a peer that is back should not wait for our timer.
//   - Families offered: the transport's own; both with DualStack; IPv4
//     too over an IPv6 link-local transport (unnumbered), where it needs the
//     extended next hop (RFC 8950), which is offered whenever IPv4 is
//     offered over IPv6. A peer without any multiprotocol capability
//     carries IPv4 unicast only (RFC 4760 section 8).
//   - Next hops: IPv4 routes take LocalAddrs.IPv4 (or an IPv4 transport),
//     else, with the extended next hop negotiated, the IPv6 next hop. IPv6
//     routes take the global address, with the link-local one beside it
//     unless Multihop (RFC 2545), or the link-local one alone. A negotiated
//     family without a next hop gets its End-of-RIB and a NoNextHop report,
//     not routes.
//   - Attributes: ORIGIN IGP; towards external peers AS_PATH is the AS we
//     present (LocalAS, else MyAS), without LOCAL_PREF; towards internal
//     peers AS_PATH is empty and LOCAL_PREF always sent (100 unless the
//     route gives one). Routes whose UPDATEs would be identical share an
//     attribute set (so a local-pref does not split sets towards an
//     external peer, and communities are a sorted set).
//   - Capabilities: 4-octet AS always (RFC 6793), route refresh and
//     enhanced route refresh, extended message unless NoExtendedMessage,
//     graceful restart when configured: the restart time, the Forwarding
//     State bit per family (set unless ForwardingNotPreserved: Herald's
//     forwarding does not depend on the speaker process), the Restart State
//     bit in the first OPEN of a Peer with Restarted. The notification bit
//     of RFC 8538 is not sent.
//   - From the peer, besides the decoder's RFC 7606 checks: towards an
//     external peer, an AS_PATH whose first AS is not the peer's is
//     treat-as-withdraw (RFC 4271 section 6.3, as FRR's enforce-first-as)
//     and LOCAL_PREF is discarded (RFC 7606 section 7.5); both are reported.
//     NEXT_HOP semantics are not checked: Herald learns no routes. A
//     ROUTE-REFRESH for a family not negotiated is ignored (RFC 2918), as
//     are BoRR and EoRR from the peer. A ROUTE-REFRESH or UPDATE before
//     Established is an FSM error.
//   - No MinRouteAdvertisementInterval: changes go out at the end of the
//     step that made them (the planner debounces) unless the queue is
//     blocked.
package peer

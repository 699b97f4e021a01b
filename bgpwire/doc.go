// Package bgpwire is Herald's BGP-4 wire format: messages, capabilities,
// path attributes, UPDATE packing and error classification. The RFC 4271
// state machine is in bgpwire/fsm and BFD in bgpwire/bfd.
//
// Its place in the whole: the functional core (pure), in docs/architecture.md.
//
// It is pure: no I/O, no clocks, no goroutines. The contract:
//
// Framing. ParseHeader validates the 19-byte header (RFC 4271 §6.1) of the
// next message on a stream and returns its length and type; it returns
// ErrShortHeader, unwrapped, when fewer than 19 bytes are available.
//
// Encoding. Every encoder appends to a caller-owned []byte and returns it,
// like strconv.Append*: AppendOpen, AppendKeepalive, AppendNotification,
// AppendRouteRefresh, AppendEndOfRIB, AppendUpdate (one message, the inverse
// of decoding) and the packers AppendAnnounce and AppendWithdraw, which put
// every prefix sharing one attribute set into as few UPDATEs as the session's
// maximum message size allows (Session.MaxLen: 4096, or 65535 with the
// extended message capability). Several messages are appended back to back.
// MP_REACH_NLRI or MP_UNREACH_NLRI is the first attribute and no attribute
// appears twice (RFC 7606 §5.1). Towards a peer without 4-octet AS support,
// AS numbers above 65535 become AS_TRANS and AS4_PATH/AS4_AGGREGATOR are
// added (RFC 6793). With a reused buffer of sufficient capacity, encoding
// does not allocate. On error, dst is returned unchanged.
//
// Wire-form packing. A speaker that keeps its Adj-RIB-Out per attribute set
// can encode each route once, when it enters the set, instead of in every
// UPDATE: NLRIList holds prefixes of one family already encoded (Add,
// Remove, Len, Reset; NewNLRIList from []netip.Prefix), and AttrSet.Encode
// encodes an attribute set and next hop for one session and family, with
// AppendAnnounce's rules and errors. AppendAnnounceNLRI and
// AppendWithdrawNLRI then append exactly the bytes AppendAnnounce and
// AppendWithdraw append for the same prefixes in the same order, packed the
// same way, but by copying: each message is a copy of the set's leading
// bytes, one copy of the largest run of prefixes that fits (its end found by
// binary search of the list's boundary index, O(log n) per message) and, for
// MP_REACH_NLRI, a copy of the attributes that follow it. AttrSet.Encode
// takes its bytes from AppendAnnounce itself, and both packers patch lengths
// with the same helpers, so the two cannot drift apart. Packing only reads
// the list and the set; changing them while another goroutine packs from
// them is a data race.
//
// Decoding. Message.Decode (or Update.Decode) decodes one whole message into
// a value the caller reuses: its slices are truncated and refilled, so
// steady-state decoding does not allocate, and byte slices in the result
// (NOTIFICATION data, unknown capabilities and attributes) point into the
// input. Decoded values are valid until the next Decode into the same value.
// Prefixes are net/netip values with host bits cleared.
//
// Errors. Every decoding error is a *NotificationError (use errors.As) that
// carries the NOTIFICATION Code, Subcode and Data and the RFC 7606 Action:
// SessionReset (send e.Notification() and close), TreatAsWithdraw (the UPDATE
// was decoded; handle its NLRI and MP_REACH_NLRI prefixes as withdrawn) or
// AttributeDiscard (the malformed attribute was dropped; use the rest). When
// an UPDATE has several errors the strongest action is returned. Err wraps
// one of the Err* sentinels for errors.Is. An OPEN is judged as a message
// here (version 4, checked before the rest is parsed; hold time not 1 or 2;
// identifier not 0.0.0.0; well-formed parameters and capabilities) and as
// a peer by fsm.CheckOpen (its ASN and identifier against the
// configuration): each check is made once. Checks that need session context
// (NEXT_HOP semantics, first AS of an eBGP AS_PATH, LOCAL_PREF from an eBGP
// peer, the peer's AS and identifier) are the caller's.
//
// Not interpreted: unknown capabilities (kept as RawCapability), unknown
// optional transitive attributes (kept as RawAttribute with the Partial bit
// set and passed on by the encoder), unknown optional non-transitive
// attributes (dropped, RFC 4271 §5), address families other than IPv4 and
// IPv6 unicast (their MP attributes are discarded), ADD-PATH.
package bgpwire

// Package bgpnet opens the TCP connections of Herald's BGP sessions with the
// transport settings of MetalLB's BGPPeer: it dials peers, accepts their
// connections on listeners shared by all peers, finds the peer of an
// unnumbered session, and tells a connection's next hops. It speaks no BGP:
// the bytes on a connection are bgpwire/peer's.
//
// Its place in the whole: the I/O libraries (shell layer), in
// docs/architecture.md. Linux only.
//
// # What a caller uses
//
//	o := bgpnet.OptionsFor(cfgPeer)      // *config.Peer → Options (TTLFor's policy)
//	o.ListenPort = speakerListenPort     // 0: DefaultListenPort (1790)
//	// unnumbered (cfgPeer.Interface != ""):
//	u, err := bgpnet.OpenUnnumbered(cfgPeer.Interface, bgpnet.UnnumberedOptions{})
//	o.Peer, err = u.Neighbour(ctx)       // fe80::…%eth1
//
//	reg, err := listeners.Register(o, func(c *bgpnet.Conn) { send c to the peer's actor })
//	c, err := bgpnet.Dial(ctx, o)        // on its own goroutine; ctx cancelled to abandon
//	local, err := c.NextHops()           // peer.LocalAddrs for Connected / Accepted
//
// The speaker makes one *Listeners (NewListeners) and closes it when it
// stops. Each peer actor registers its Options when it starts (Register),
// closes the Registration when the peer is removed or its Options change
// (then registers again), dials on a goroutine of its own when its
// bgpwire/peer.Peer says Dial and reports the outcome as a message,
// answers peer.Accepted for each *Conn the listener delivers, and owns and
// closes every *Conn it gets. An unnumbered peer's actor also owns an
// Unnumbered for its interface and asks Neighbour again before each dial.
//
// # What it promises
//
//   - Dial sets everything before the SYN leaves: SO_BINDTODEVICE to
//     Options.VRF, the TCP MD5 key for the peer (TCP_MD5SIG_EXT, else
//     TCP_MD5SIG), the TTL it sends with (255 unless told otherwise) and
//     the minimum TTL it accepts (IP_MINTTL / IPV6_MINHOPCOUNT), then the
//     bind to Options.Source.
//   - One listening socket per (ListenPort, VRF), dual-stack where the node
//     has IPv6, opened with its first registration and closed with its
//     last. Each peer's MD5 key is installed for the peer's address alone,
//     so peers with and without passwords share it; keys come and go with
//     registrations.
//   - The kernel itself drops a segment to a listener from an address no
//     registration has, or from a GTSM peer below its minimum TTL (a
//     classic BPF filter on the socket, rebuilt on every change; accepted
//     connections inherit it): such a SYN gets no answer. A connection
//     that is accepted anyway (the same link-local address on another
//     interface) is reset. Every delivered *Conn is from its registration's
//     address (and interface) and already has its TTL and minimum TTL.
//   - Errors are *Error, with a sentinel (errors.Is) and a hint a user can
//     act on: ErrRefused, ErrTimeout (whose text says that a TCP MD5
//     mismatch, or a GTSM one, looks exactly like this: the kernel drops
//     the segments without a word), ErrUnreachable, ErrSourceAddress,
//     ErrNoDevice, ErrPermission (port 179 without CAP_NET_BIND_SERVICE),
//     ErrAddressInUse, ErrMD5Unsupported, ErrInvalidOptions, ...
//
// # TTL policy (TTLFor)
//
// Every session sends with TTL 255 and, by default, accepts any TTL: eBGP
// multihop and iBGP peers may be several hops away, and routers send
// single-hop eBGP with TTL 1 by default. A single-hop eBGP peer whose
// BGPPeer sets ttlSecurity (a Herald addition) gets GTSM (RFC 5082):
// nothing below GTSMMinTTL (254) is accepted. The router must then send
// with TTL 255 too: FRR `neighbor X ttl-security hops 1`, BIRD `ttl
// security yes`. Against a router that does not (FRR's default), the TCP
// handshake completes but its OPEN is dropped and the session never comes
// up (TestFRRPasswordAndGTSM shows both), which is why GTSM is asked for,
// not assumed: a MetalLB configuration moved to Herald as it is keeps
// working.
//
// # Unnumbered
//
// FRR's `neighbor IFNAME interface` learns its neighbour's link-local
// address only from Router Advertisements (zebra records their source),
// and closes a connection from any other address. Unnumbered therefore
// sends RAs on the interface (router lifetime 0, no prefix: no host takes
// the node for a router) and learns the peer from the peer's RAs and from
// an echo probe to all nodes; it refuses to choose between two neighbours.
// FRR derives an IPv4 peer instead when the interface has an IPv4 /30 or
// /31 address; Herald does not: configure FRR with `interface v6only` then.
//
// # Privileges
//
// Listening on port 179 needs CAP_NET_BIND_SERVICE, hence the unprivileged
// DefaultListenPort; routers must then be told the port (FRR `neighbor X
// port 1790`). Unnumbered needs CAP_NET_RAW (an ICMPv6 raw socket).
// Binding to a device (VRF) needs CAP_NET_RAW on kernels before 5.7.
//
// # VRF
//
// Options.VRF is bound with SO_BINDTODEVICE, which treats a VRF device and
// an ordinary interface alike; the test kernel has no VRF support, so the
// tests bind to an interface. A default-VRF listener and a VRF one share a
// port through SO_REUSEPORT. MD5 keys carry no VRF index: the socket's
// device already confines them.
package bgpnet

// Package bfdnet runs BFD sessions on the wire: the UDP sockets of RFC
// 5881 (single hop) and RFC 5883 (multihop), Echo packets, the
// demultiplexing of received packets to sessions, and the timers, for
// sessions whose decisions are bgpwire/bfd's pure state machine. The
// speaker's BGP peers (RFC 5882: BFD Down takes the BGP session down, a
// remote AdminDown does not) and the liveness mesh between speakers run
// their sessions through it.
//
// Its place in the whole: the I/O libraries (shell layer), in
// docs/architecture.md.
//
// # Use
//
//	m, err := bfdnet.New(bfdnet.Options{Notify: onChange}) // router-facing: ports 3784/4784/3785
//	s, err := m.Add(bfdnet.SessionConfig{
//		Key:     bfdnet.Key{Peer: peer, Local: local, Interface: "eth0"}, // Multihop: true for RFC 5883
//		Profile: bfd.Profile(*cfgProfile), // config.BFDProfile converts
//		Tag:     peerName,                 // comes back in every Change
//	})
//	err = s.SetProfile(newProfile) // Poll Sequence, no flap
//	st := s.Stats()                // state, flaps, diagnostics, packets, drops, auth failures
//	s.Remove()                     // AdminDown (three times), then the socket closes
//	m.Close()                      // AdminDown on every session, sockets closed
//
// Add, SetProfile, Remove, Stats and Close return at once (no call waits
// on the network), so an actor may call them from its Receive.
//
// onChange receives a Change for every session that comes Up or goes
// Down: Change.Cause is bfd's DownCause, and Cause.Failure() is false
// for the peer's (or our own) AdminDown, which a client must not treat
// as a path failure (RFC 5882 §3.2), and true for a detection timeout,
// an Echo failure and the peer signalling Down. Notify runs on the
// Manager's notifier goroutine, one change at a time and in order: an
// actor system hands it on with a non-blocking send. It must not call
// Close (Close waits for that goroutine).
//
// The liveness mesh runs its own Manager on its own port (LivenessPort)
// with multihop sessions: nodes need not share a link, and
// Profile.MinimumTTL says how many routers may be between them (255 for
// none). It answers the members that open sessions it did not add through
// Options.Accept, and Removes such a session when it goes Down:
//
//	m, err := bfdnet.New(bfdnet.Options{MultihopPort: bfdnet.LivenessPort, Notify: ..., Accept: ...})
//	err = m.Listen(true, bfdnet.IPv4) // so that Accept hears peers before we add any session
//
// An accepted session that the mesh later wants as its own is found with
// Manager.Session(key); Accept should then set Profile.PassiveMode rather
// than SessionConfig.Passive, so that SetProfile can make it active.
//
// # What the Manager promises
//
//   - Single hop: sent to port 3784 with TTL (hop limit) 255; a received
//     packet whose TTL is not 255 is dropped (RFC 5881 §5), read from
//     IP_RECVTTL / IPV6_RECVHOPLIMIT. Multihop: port 4784, and received
//     packets need a TTL of at least Profile.MinimumTTL (RFC 5883 leaves
//     the value to the implementation; FRR and MetalLB call it minimum TTL).
//     Both send with DSCP CS6.
//   - Every session has its own transmit socket bound to a source port
//     drawn at random in 49152–65535, kept for the session's life (RFC
//     5881 §4), and to its local address and interface when given; and a
//     random nonzero discriminator no other session of the Manager holds.
//   - Received packets go to their session by Your Discriminator, or, when
//     it is zero, by the sender's address, the address it was sent to and
//     the interface it came in on (RFC 5881 §3, RFC 5883). A packet
//     whose Your Discriminator is ours but whose addresses, interface or
//     port are not that session's is not delivered.
//   - Every received datagram is counted once: by the machine
//     (Stats.PacketsIn, its discards in Stats.Drops and AuthFailures),
//     or, before it, as a TTL drop or a malformed packet (bfd.Decode's
//     reasons) on the session its addresses name (Stats.TTLDrops,
//     Stats.Malformed), or on the Manager (ManagerStats). A malformed
//     packet never reaches a machine, so it cannot disturb a session.
//     Datagrams the kernel dropped for a full receive buffer are counted
//     apart (ManagerStats.QueueDrops); the receive sockets ask for 4 MiB
//     (SO_RCVBUFFORCE with CAP_NET_ADMIN, else up to net.core.rmem_max).
//   - Transmission waits for no mailbox: a packet the machine sends in
//     answer (a Final, a new state) leaves from the goroutine that read
//     the packet, and periodic packets from the scheduler goroutine, which
//     sleeps until the earliest deadline of one heap holding every
//     session's timers. ManagerStats.Lateness records how late each
//     transmit timer was stepped. Receiving and sending a periodic packet
//     allocate nothing, so the garbage collector has no per-packet work.
//     A send never waits: when a socket's buffer is full the packet is
//     dropped (Stats.SendErrors) rather than stalling every session.
//   - A Detection Time that expires while the receive socket holds unread
//     datagrams waits for them, 5 ms at a time and at most 100 ms: a
//     packet that arrived in time, on a node whose CPU was busy, is not a
//     path failure. The bound keeps a flood from postponing detection for
//     longer.
//   - Echo (RFC 5881 §4, IPv4 single hop) runs when the profile's
//     EchoMode is on, the session has Local and Interface, and the
//     Network can do Echo (OSNetwork: an AF_PACKET socket, so
//     CAP_NET_RAW). As FRR's bfdd does, Echo packets go to the peer's MAC
//     address with our own address as destination, the peer's kernel
//     forwards them back, and the same packet socket reads them before the
//     IP layer (which would drop a packet from outside with our own source
//     address); they must return with TTL 254. The peer needs
//     net.ipv4.ip_forward=1 and nothing else; this node needs nothing. The
//     peer starts Echo only if we advertise a nonzero Required Min Echo
//     RX, which bfd does only while we run Echo ourselves. Echo is decided
//     at Add: a session added without EchoMode does not start it later.
//   - Passive sessions (SessionConfig.Passive or Profile.PassiveMode)
//     send nothing until the peer's first packet.
//   - Remove sends AdminDown at once and twice more a transmit interval
//     apart (Options.LingerPackets), so one lost packet does not read as
//     a failure at the peer, then closes the session's socket; the key can
//     be added again at once. Close sends AdminDown once on every session.
//
// # What the caller must do
//
//   - Give the Manager exclusive use of its ports (a second Manager on the
//     same ports of the same host fails to listen).
//   - Run the speaker with CAP_NET_RAW for Echo; nothing else is needed
//     (BFD's ports are above 1024). With many sessions, allow a large
//     receive buffer (CAP_NET_ADMIN, or net.core.rmem_max of 4 MiB).
//   - Give a link-local IPv6 peer its Key.Interface (not an address zone).
//   - Make the sockets in the right network namespace: OSNetwork.NetNS
//     names one; without it they are made in the namespace of the thread
//     that runs Add (or Listen), and sessions Accept adds in the
//     process's.
//
// Tests inject a Network (Options.Network) and a clock (Options.Clock);
// OSNetwork is the kernel's.
package bfdnet

package speaker

import (
	"context"
	"net"

	"github.com/heraldlb/herald/bgpwire/peer"
	"github.com/heraldlb/herald/config"
)

// sessionNet opens the transports of BGP sessions: BGPNet (package bgpnet:
// TCP MD5, GTSM, source address, VRF, listeners, unnumbered neighbours).
type sessionNet interface {
	// Open prepares one session's transport: connections the listener
	// accepts from the peer are handed to deliver (which must not block),
	// and an unnumbered peer's neighbour is looked for. Close it when the
	// session goes or its BGPPeer changes.
	Open(p *config.Peer, deliver func(net.Conn)) (sessionTransport, error)
	// Close stops what the sessionNet shares between sessions (the
	// listeners) once every session is closed.
	Close() error
}

// sessionTransport is one session's way to its peer.
type sessionTransport interface {
	// Dial connects to the peer; it is called on a goroutine of its own,
	// and ctx is cancelled to abandon it.
	Dial(ctx context.Context) (net.Conn, error)
	// LocalAddrs are our addresses on c for next hops.
	LocalAddrs(c net.Conn) peer.LocalAddrs
	Close() error
}

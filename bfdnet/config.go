package bfdnet

import (
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"time"

	"github.com/heraldlb/herald/bgpwire/bfd"
	"k8s.io/utils/clock"
)

var (
	// ErrConfig reports a SessionConfig or Options that cannot work.
	ErrConfig = errors.New("bfdnet: invalid configuration")
	// ErrExists reports an Add for a Key that already has a session.
	ErrExists = errors.New("bfdnet: session exists")
	// ErrClosed reports a call on a closed Manager or a removed Session.
	ErrClosed = errors.New("bfdnet: closed")
	// ErrPortInUse is wrapped by Network.OpenSender when the source port
	// is taken.
	ErrPortInUse = errors.New("bfdnet: port in use")
	// ErrNoEcho is wrapped by Network.OpenEcho when it cannot send Echo
	// packets.
	ErrNoEcho = errors.New("bfdnet: no echo sender")
)

// LivenessPort is the default UDP port of the speakers' liveness mesh. The
// mesh is not a router's BFD: it has its own port so that a router's
// sessions and the speakers' never meet in one demultiplexer and a
// firewall can tell them apart. It is next to the multihop port because
// the mesh runs multihop sessions (nodes need not share a link). It is
// none of BFD's IANA ports (3784 control, 3785 echo, whose packets are our
// own looped back, 4784 multihop, 6784 micro-BFD, 7784 S-BFD) and below
// the kernel's ephemeral range (32768 and up), so no outgoing connection
// can hold it when the speaker starts.
const LivenessPort = 4785

// Options configure a Manager. The zero value is a router-facing Manager
// on the kernel's sockets and the real clock.
type Options struct {
	// SingleHopPort and MultihopPort are the UDP ports listened on and
	// sent to, EchoPort the one of Echo packets; zero means
	// bfd.ControlPort, bfd.MultihopPort and bfd.EchoPort. A Manager opens
	// a port's sockets with its first session of that kind (or with
	// Listen).
	SingleHopPort uint16
	MultihopPort  uint16
	EchoPort      uint16
	// Network opens the sockets; nil means OSNetwork{}.
	Network Network
	// Clock times everything; nil means the real clock.
	Clock clock.Clock
	// Notify receives every session's changes (Up, Down), in order, from
	// one goroutine: it may block briefly or call the Manager, but while
	// it runs no other change is delivered.
	Notify func(Change)
	// Accept is asked about a packet that opens a session nobody added
	// (Your Discriminator 0, no session for its addresses). Returning a
	// config and true adds that session and hands it the packet; the
	// liveness mesh answers its members this way (typically passive). It
	// should accept only peers it knows (the mesh's members): every
	// accepted packet costs a session and a socket. It is called on a
	// receive goroutine and must not block. Nil refuses.
	Accept func(Incoming) (SessionConfig, bool)
	// LingerPackets is how many AdminDown packets Remove sends in all, one
	// transmit interval apart, before the session's socket closes; zero
	// means 3. One lost AdminDown must not read as a failure to the peer.
	LingerPackets int
	// Log receives socket errors; nil means slog.Default().
	Log *slog.Logger
}

// Key names a session in its Manager; two sessions cannot share one.
type Key struct {
	// Peer is the remote system's address.
	Peer netip.Addr
	// Local is the source address to send from and the destination address
	// received packets must have; invalid means any.
	Local netip.Addr
	// Interface binds the session to a link (required for a link-local
	// IPv6 peer and for Echo); empty means any.
	Interface string
	// Multihop selects RFC 5883 (MultihopPort, TTL at least the profile's
	// MinimumTTL) instead of RFC 5881 single hop (SingleHopPort, TTL 255).
	Multihop bool
}

func (k Key) String() string {
	s := k.Peer.String()
	if k.Local.IsValid() {
		s += " from " + k.Local.String()
	}
	if k.Interface != "" {
		s += " on " + k.Interface
	}
	if k.Multihop {
		s += " (multihop)"
	}
	return s
}

// SessionConfig is what Add needs.
type SessionConfig struct {
	Key
	// Profile gives the intervals, Echo and passive mode and the minimum
	// TTL (bfd.Profile(*config.BFDProfile) converts a compiled profile).
	Profile bfd.Profile
	// Passive takes the passive role whatever the profile says: send
	// nothing until the peer's first packet (RFC 5880 §6.1).
	Passive bool
	// Auth is the session's authentication (bfd.AuthNone for none).
	Auth bfd.AuthConfig
	// Tag is the caller's, returned with every Change (e.g. the actor or
	// peer name to route it to).
	Tag any
}

// Change is one session's transition, as Options.Notify receives it.
type Change struct {
	Session *Session
	Key     Key
	Tag     any
	// Up: the session reached Up. Otherwise it left Up, for Cause.
	Up bool
	// Cause says why it went down; Cause.Failure() is false for either
	// side's AdminDown (RFC 5882 §3.2: a client such as BGP must not
	// treat it as a path failure) and true for a detection timeout, a
	// failed Echo and the peer signalling Down.
	Cause bfd.DownCause
	// LocalDiag and RemoteDiag are the diagnostics after the change.
	LocalDiag, RemoteDiag bfd.Diag
	At                    time.Time
}

// Incoming describes a packet for Options.Accept.
type Incoming struct {
	Peer     netip.Addr
	Local    netip.Addr
	IfIndex  int
	Multihop bool
	// Packet is the decoded Control packet (Auth.Data is not kept).
	Packet bfd.Packet
}

func (c *SessionConfig) validate() error {
	k := &c.Key
	if !k.Peer.IsValid() || k.Peer.IsUnspecified() || k.Peer.IsMulticast() {
		return fmt.Errorf("%w: peer address %v", ErrConfig, k.Peer)
	}
	k.Peer = k.Peer.Unmap()
	if k.Local.IsValid() {
		k.Local = k.Local.Unmap()
		if familyOf(k.Local) != familyOf(k.Peer) {
			return fmt.Errorf("%w: session %s: local address %s is not of the peer's family", ErrConfig, k, k.Local)
		}
	}
	if k.Peer.Zone() != "" || k.Local.Zone() != "" {
		return fmt.Errorf("%w: session %s: give the interface in Key.Interface, not as an address zone", ErrConfig, k)
	}
	if k.Peer.Is6() && k.Peer.IsLinkLocalUnicast() && k.Interface == "" {
		return fmt.Errorf("%w: session %s: a link-local peer needs an interface", ErrConfig, k)
	}
	if k.Multihop && k.Peer.IsLinkLocalUnicast() {
		return fmt.Errorf("%w: session %s: a multihop session cannot have a link-local peer", ErrConfig, k)
	}
	if err := c.Profile.Validate(); err != nil {
		return fmt.Errorf("session %s: %w", k, err)
	}
	return nil
}

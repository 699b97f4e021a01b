package peer

import (
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/heraldlb/herald/bgpwire/fsm"
)

// DynamicAS is how the peer's AS is learned when it is not configured
// (MetalLB's BGPPeer dynamicASN).
type DynamicAS uint8

// Dynamic AS modes.
const (
	// DynamicNone: the peer must present Config.PeerAS.
	DynamicNone DynamicAS = iota
	// DynamicInternal: any peer in the AS we present (iBGP).
	DynamicInternal
	// DynamicExternal: any peer in another AS (eBGP).
	DynamicExternal
)

// Backoff bounds the delay before the Peer dials again after its session
// failed (BIRD's "error wait time", RFC 4271's DampPeerOscillations).
type Backoff struct {
	// Initial is the first delay (default 1s); each failure doubles it.
	Initial time.Duration
	// Max bounds it (default: ConnectTime, so a dead peer is tried about
	// as often as the connect retry timer would).
	Max time.Duration
	// Forget: a failure that comes at least this long after the previous
	// one starts again from Initial (default 5m, BIRD's "error forget
	// time").
	Forget time.Duration
}

// Defaults for zero Config fields.
const (
	DefaultConnectTime    = 120 * time.Second // RFC 4271 section 10
	DefaultRestartTime    = 120 * time.Second // RFC 4724 suggests no more than the hold time
	DefaultBackoffInitial = time.Second
	DefaultBackoffForget  = 5 * time.Minute
	// DefaultLocalPref is what internal peers get for a route without one
	// (RFC 4271 leaves it to the speaker; 100 is the common default).
	DefaultLocalPref = 100
)

// Config is one configured peer. The zero value of each duration selects
// its default.
type Config struct {
	// MyAS is the speaker's AS; LocalAS, if set, is presented to this peer
	// instead (in the OPEN and the AS_PATH to external peers).
	MyAS, LocalAS uint32
	// PeerAS is the peer's AS; 0 with a DynamicAS mode.
	PeerAS    uint32
	DynamicAS DynamicAS
	// RouterID is the BGP Identifier we send, an IPv4 address.
	RouterID netip.Addr

	// HoldTime is offered in our OPEN (default 90s, whole seconds, 3s to
	// 65535s); NoHoldTime offers 0 (no keepalives, no hold timer).
	HoldTime   time.Duration
	NoHoldTime bool
	// KeepaliveTime caps the keepalive interval below a third of the
	// negotiated hold time.
	KeepaliveTime time.Duration
	// ConnectTime is the ConnectRetryTimer (default 120s).
	ConnectTime time.Duration

	// Passive: never dial, only accept.
	Passive bool
	// DualStack announces both families on the session, whatever its
	// transport (MetalLB's dualStackAddressFamily).
	DualStack bool
	// Multihop: the peer is not on a link we share, so an IPv6 link-local
	// next hop means nothing to it and is not sent.
	Multihop bool
	// NoExtendedMessage: do not offer RFC 8654 extended messages.
	NoExtendedMessage bool
	// CollisionDetectEstablished: compare identifiers against an
	// Established connection too when a new OPEN arrives (RFC 4271
	// CollisionDetectEstablishedState); by default it always wins.
	CollisionDetectEstablished bool

	// GracefulRestart advertises RFC 4724 graceful restart.
	GracefulRestart bool
	// RestartTime is what we advertise (default 120s, at most 4095s).
	RestartTime time.Duration
	// Restarted sets the Restart State bit in the first OPEN this Peer
	// value sends: the shell sets it for peers created when the speaker
	// process started, not on reconfiguration.
	Restarted bool
	// ForwardingNotPreserved clears the Forwarding State bit. Herald's
	// forwarding (the node's service routing) does not depend on the
	// speaker process, so by default the bit is set for every family.
	ForwardingNotPreserved bool

	// Backoff is the restart backoff after a failure.
	Backoff Backoff
}

// ErrConfig wraps every Config validation error.
var ErrConfig = errors.New("bgp peer config")

func (c *Config) localAS() uint32 {
	if c.LocalAS != 0 {
		return c.LocalAS
	}
	return c.MyAS
}

// ibgp reports whether the session is internal. It is known from the
// configuration even with a dynamic AS: the mode says which kind the peer
// must be.
func (c *Config) ibgp() bool {
	switch c.DynamicAS {
	case DynamicInternal:
		return true
	case DynamicExternal:
		return false
	}
	return c.PeerAS == c.localAS()
}

func (c *Config) connectTime() time.Duration {
	if c.ConnectTime == 0 {
		return DefaultConnectTime
	}
	return c.ConnectTime
}

func (c *Config) restartTime() time.Duration {
	if c.RestartTime == 0 {
		return DefaultRestartTime
	}
	return c.RestartTime
}

func (c *Config) backoff() Backoff {
	b := c.Backoff
	if b.Initial == 0 {
		b.Initial = DefaultBackoffInitial
	}
	if b.Max == 0 {
		b.Max = max(b.Initial, c.connectTime())
	}
	if b.Forget == 0 {
		b.Forget = DefaultBackoffForget
	}
	return b
}

// fsmConfig is the machine configuration of both slots. The machines never
// restart on their own: the Peer decides when to dial again.
func (c *Config) fsmConfig(passive bool) fsm.Config {
	f := fsm.Config{
		LocalAS:          c.localAS(),
		RouterID:         c.RouterID,
		PeerAS:           c.PeerAS,
		HoldTime:         c.HoldTime,
		NoHoldTime:       c.NoHoldTime,
		Keepalive:        c.KeepaliveTime,
		ConnectRetryTime: c.connectTime(),
		Passive:          passive,
	}
	switch c.DynamicAS {
	case DynamicInternal:
		f.PeerAS, f.PeerASMode = 0, fsm.PeerASInternal
	case DynamicExternal:
		f.PeerAS, f.PeerASMode = 0, fsm.PeerASExternal
	}
	return f
}

// Validate reports the first field that makes the configuration unusable.
func (c *Config) Validate() error {
	if c.MyAS == 0 {
		return fmt.Errorf("%w: MyAS must not be 0", ErrConfig)
	}
	switch c.DynamicAS {
	case DynamicNone:
		if c.PeerAS == 0 {
			return fmt.Errorf("%w: PeerAS must not be 0 without a DynamicAS mode", ErrConfig)
		}
	case DynamicInternal, DynamicExternal:
		if c.PeerAS != 0 {
			return fmt.Errorf("%w: PeerAS %d and a DynamicAS mode are exclusive", ErrConfig, c.PeerAS)
		}
	default:
		return fmt.Errorf("%w: unknown DynamicAS %d", ErrConfig, c.DynamicAS)
	}
	if c.RestartTime < 0 || c.RestartTime > 4095*time.Second || c.RestartTime%time.Second != 0 {
		return fmt.Errorf("%w: RestartTime %s must be whole seconds up to 4095s", ErrConfig, c.RestartTime)
	}
	b := c.Backoff
	if b.Initial < 0 || b.Max < 0 || b.Forget < 0 || (b.Max != 0 && b.Max < b.Initial) {
		return fmt.Errorf("%w: Backoff %+v must be non-negative with Max at least Initial", ErrConfig, b)
	}
	if c.ConnectTime < 0 {
		return fmt.Errorf("%w: ConnectTime must not be negative", ErrConfig)
	}
	// The machine checks the rest (router ID, hold and keepalive times).
	if err := c.fsmConfig(c.Passive).Validate(); err != nil {
		return fmt.Errorf("%w: %w", ErrConfig, err)
	}
	return nil
}

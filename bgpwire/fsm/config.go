package fsm

import (
	"errors"
	"fmt"
	"net/netip"
	"time"
)

// PeerASMode says how the peer's ASN in its OPEN is checked.
type PeerASMode uint8

const (
	// PeerASExact: the peer must send Config.PeerAS.
	PeerASExact PeerASMode = iota
	// PeerASInternal: any peer whose ASN equals Config.LocalAS (MetalLB's
	// dynamicASN "internal").
	PeerASInternal
	// PeerASExternal: any peer whose ASN differs from Config.LocalAS
	// (dynamicASN "external").
	PeerASExternal
)

// Defaults for zero Config fields (RFC 4271 section 10 suggested values;
// the send hold time floor from RFC 9687).
const (
	DefaultHoldTime          = 90 * time.Second
	DefaultConnectRetryTime  = 120 * time.Second
	DefaultOpenSentHoldTime  = 4 * time.Minute
	DefaultSendHoldTimeFloor = 8 * time.Minute
)

// Config is everything the machine needs to know about the local side and
// the configured peer. The zero value of each duration selects its default.
type Config struct {
	LocalAS    uint32
	RouterID   netip.Addr // the local BGP Identifier, an IPv4 address
	PeerAS     uint32     // with PeerASExact
	PeerASMode PeerASMode

	// HoldTime is offered in our OPEN; whole seconds, 0 or 3s..65535s.
	// Zero selects DefaultHoldTime unless NoHoldTime is set.
	HoldTime   time.Duration
	NoHoldTime bool
	// Keepalive caps the keepalive interval below negotiated hold/3; zero
	// means hold/3.
	Keepalive time.Duration
	// ConnectRetryTime is the ConnectRetryTimer's initial value.
	ConnectRetryTime time.Duration
	// OpenSentHoldTime is the "large value" the HoldTimer runs with while
	// waiting for the peer's OPEN (RFC 4271 suggests 4 minutes).
	OpenSentHoldTime time.Duration
	// SendHoldTime is the RFC 9687 SendHoldTimer; zero means the larger of
	// 8 minutes and twice the negotiated hold time.
	SendHoldTime time.Duration

	// Passive: never initiate TCP; ManualStart and AutomaticStart behave as
	// their passive variants (PassiveTcpEstablishment).
	Passive bool
	// AutomaticRestart: after the session falls to Idle for any reason but a
	// ManualStop or AutomaticStop, ask the shell for an IdleHoldTimer whose
	// expiry restarts it (AllowAutomaticStart with DampPeerOscillations; the
	// backoff is the shell's).
	AutomaticRestart bool
	// SendNotificationWithoutOpen sends the NOTIFICATION of a header or OPEN
	// error even before our OPEN went out (RFC 4271 optional attribute).
	SendNotificationWithoutOpen bool
}

// errConfig wraps every Config validation error.
var errConfig = errors.New("bgp fsm config")

func (c Config) holdTime() time.Duration {
	if c.NoHoldTime {
		return 0
	}
	if c.HoldTime == 0 {
		return DefaultHoldTime
	}
	return c.HoldTime
}

func (c Config) connectRetryTime() time.Duration {
	if c.ConnectRetryTime == 0 {
		return DefaultConnectRetryTime
	}
	return c.ConnectRetryTime
}

func (c Config) openSentHoldTime() time.Duration {
	if c.OpenSentHoldTime == 0 {
		return DefaultOpenSentHoldTime
	}
	return c.OpenSentHoldTime
}

// sendHoldTime is the RFC 9687 timer for a session whose negotiated hold
// time is hold (the large OpenSent value before negotiation).
func (c Config) sendHoldTime(hold time.Duration) time.Duration {
	if c.SendHoldTime != 0 {
		return c.SendHoldTime
	}
	return max(DefaultSendHoldTimeFloor, 2*hold)
}

// Validate reports the first field that makes the configuration unusable.
func (c Config) Validate() error {
	if c.LocalAS == 0 {
		return fmt.Errorf("%w: LocalAS must not be 0", errConfig)
	}
	if !c.RouterID.Is4() || c.RouterID.IsUnspecified() {
		return fmt.Errorf("%w: RouterID %s must be an IPv4 address other than 0.0.0.0", errConfig, c.RouterID)
	}
	switch c.PeerASMode {
	case PeerASExact:
		if c.PeerAS == 0 {
			return fmt.Errorf("%w: PeerAS must not be 0", errConfig)
		}
	case PeerASInternal, PeerASExternal:
	default:
		return fmt.Errorf("%w: unknown PeerASMode %d", errConfig, c.PeerASMode)
	}
	hold := c.holdTime()
	if hold%time.Second != 0 || hold < 0 || (hold > 0 && hold < 3*time.Second) || hold > 65535*time.Second {
		return fmt.Errorf("%w: HoldTime %s must be whole seconds, 0 or 3s..65535s", errConfig, hold)
	}
	if c.Keepalive < 0 || (hold > 0 && c.Keepalive >= hold) {
		return fmt.Errorf("%w: Keepalive %s must be below HoldTime %s", errConfig, c.Keepalive, hold)
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"ConnectRetryTime", c.ConnectRetryTime}, {"OpenSentHoldTime", c.OpenSentHoldTime}, {"SendHoldTime", c.SendHoldTime}} {
		if d.v < 0 {
			return fmt.Errorf("%w: %s must not be negative", errConfig, d.name)
		}
	}
	return nil
}

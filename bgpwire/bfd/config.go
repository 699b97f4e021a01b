package bfd

import (
	"errors"
	"fmt"
)

// Profile is a BFDProfile as the config package compiles it
// (config.BFDProfile): the same fields, names, types and units, so a
// compiled profile converts with a plain type conversion,
// bfd.Profile(*cfgProfile). Intervals are in milliseconds.
type Profile struct {
	Name string
	// ReceiveInterval is the minimum interval at which this system can
	// receive Control packets: bfd.RequiredMinRxInterval.
	ReceiveInterval uint32
	// TransmitInterval is the minimum interval, less jitter, at which this
	// system wants to send Control packets: bfd.DesiredMinTxInterval once
	// the session is Up (at least 1 s before, §6.8.3).
	TransmitInterval uint32
	// DetectMultiplier is bfd.DetectMult.
	DetectMultiplier uint32
	// EchoInterval is both the minimum interval at which this system sends
	// Echo packets and the Required Min Echo RX Interval it advertises
	// when EchoMode is on (FRR's echo-interval, which MetalLB sets).
	EchoInterval uint32
	EchoMode     bool
	// PassiveMode takes the Passive role: send nothing until a packet from
	// the peer arrives (§6.1).
	PassiveMode bool
	// MinimumTTL is for the shell: the lowest TTL (or hop limit) it accepts
	// on received multihop packets. Single-hop packets must arrive with
	// 255 (RFC 5881 §5) whatever this says.
	MinimumTTL uint32
}

// DefaultProfile is MetalLB's and FRR's default profile: 300 ms × 3, echo
// interval 50 ms (off), minimum TTL 254.
func DefaultProfile() Profile {
	return Profile{Name: "default", ReceiveInterval: 300, TransmitInterval: 300, DetectMultiplier: 3,
		EchoInterval: 50, MinimumTTL: 254}
}

// ErrInvalidConfig is wrapped by every Validate error.
var ErrInvalidConfig = errors.New("invalid BFD configuration")

// Validate checks what the state machine relies on. The config package's
// ranges (10 ms to 60 s, multiplier 2 to 255) are narrower; a multiplier of
// 1 is accepted here because RFC 5880 defines its jitter rule.
func (p Profile) Validate() error {
	switch {
	case p.ReceiveInterval == 0 || p.ReceiveInterval > maxIntervalMillis:
		return fmt.Errorf("profile %q: receiveInterval %d ms: %w: must be 1 to %d", p.Name, p.ReceiveInterval, ErrInvalidConfig, maxIntervalMillis)
	case p.TransmitInterval == 0 || p.TransmitInterval > maxIntervalMillis:
		return fmt.Errorf("profile %q: transmitInterval %d ms: %w: must be 1 to %d", p.Name, p.TransmitInterval, ErrInvalidConfig, maxIntervalMillis)
	case p.DetectMultiplier == 0 || p.DetectMultiplier > 255:
		return fmt.Errorf("profile %q: detectMultiplier %d: %w: must be 1 to 255", p.Name, p.DetectMultiplier, ErrInvalidConfig)
	case p.EchoMode && (p.EchoInterval == 0 || p.EchoInterval > maxIntervalMillis):
		return fmt.Errorf("profile %q: echoInterval %d ms: %w: must be 1 to %d with echoMode", p.Name, p.EchoInterval, ErrInvalidConfig, maxIntervalMillis)
	}
	return nil
}

// maxIntervalMillis keeps every interval in microseconds within 32 bits.
const maxIntervalMillis = 4_294_967

// AuthConfig is the session's authentication: one key, used to send and
// the only one accepted.
type AuthConfig struct {
	// Type is AuthNone for no authentication.
	Type  AuthType
	KeyID uint8
	// Secret is the password (1 to 16 bytes) or the key (1 to 16 bytes for
	// MD5, 1 to 20 for SHA1). The machine keeps and sends this slice;
	// the caller must not change it.
	Secret []byte
}

// Config configures one session.
type Config struct {
	Profile Profile
	// LocalDiscr is bfd.LocalDiscr: nonzero and unique among the system's
	// sessions; RFC 5880 §6.8.1 asks for a random value. The shell
	// allocates it.
	LocalDiscr uint32
	Auth       AuthConfig
	// InitialAuthSeq is the first bfd.XmitAuthSeq, which §6.8.1 requires
	// to be random: the shell draws it.
	InitialAuthSeq uint32
	// EchoCapable says the path allows the Echo function: a single-hop IPv4
	// session (RFC 5881 §4; RFC 5883 §3 forbids Echo on multihop). Echo
	// runs only with EchoCapable and Profile.EchoMode.
	EchoCapable bool
}

// Validate checks the configuration New accepts.
func (c Config) Validate() error {
	if err := c.Profile.Validate(); err != nil {
		return err
	}
	if c.LocalDiscr == 0 {
		return fmt.Errorf("local discriminator 0: %w: must be nonzero", ErrInvalidConfig)
	}
	n := len(c.Auth.Secret)
	switch t := c.Auth.Type; {
	case t == AuthNone:
	case t == AuthSimplePassword:
		if n < 1 || n > 16 {
			return fmt.Errorf("simple password of %d bytes: %w: must be 1 to 16", n, ErrInvalidConfig)
		}
	case t.Keyed():
		_, digest := t.sectionLen()
		if n < 1 || n > digest {
			return fmt.Errorf("%s key of %d bytes: %w: must be 1 to %d", t, n, ErrInvalidConfig, digest)
		}
	default:
		return fmt.Errorf("auth type %d: %w", t, ErrInvalidConfig)
	}
	return nil
}

func millis(ms uint32) uint32 { return ms * 1000 }

// slowInterval is the floor of bfd.DesiredMinTxInterval while the session
// is not Up (§6.8.3), and of bfd.RequiredMinRxInterval while Echo is
// active.
const slowInterval = 1_000_000 // µs

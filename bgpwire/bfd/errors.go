package bfd

import (
	"errors"
	"fmt"
)

// Every reason RFC 5880 §6.8.6 (and the authentication procedures of §6.7
// it calls) gives for discarding a received Control packet has its own
// sentinel. Decode returns the packet-only ones; the Machine counts the
// session-dependent ones (Counters.Drops) as it discards. Errors are
// wrapped with detail, so use errors.Is, or DropReasonOf to count.
var (
	ErrBadVersion            = errors.New("version is not 1")
	ErrBadLength             = errors.New("bad length")
	ErrZeroDetectMult        = errors.New("detect mult is zero")
	ErrMultipoint            = errors.New("multipoint (M) bit set")
	ErrZeroMyDiscriminator   = errors.New("my discriminator is zero")
	ErrZeroYourDiscriminator = errors.New("your discriminator is zero in state Init or Up")
	// ErrNoSession: Your Discriminator is nonzero and names no session (the
	// shell's demultiplexer) or another session than the one it reached.
	ErrNoSession = errors.New("your discriminator selects no session")
	// ErrAuthUnexpected: the A bit is set but the session uses no
	// authentication.
	ErrAuthUnexpected = errors.New("authentication present on a session without authentication")
	// ErrAuthMissing: the A bit is clear but the session authenticates.
	ErrAuthMissing = errors.New("authentication missing on an authenticated session")
	// ErrAuthType: the Auth Type is not the session's.
	ErrAuthType = errors.New("authentication type mismatch")
	// ErrAuthLength: the authentication section's length does not fit the
	// packet or is wrong for its type (§4.2 to §4.4).
	ErrAuthLength = errors.New("bad authentication section length")
	// ErrAuthKeyID: the Auth Key ID names no configured key.
	ErrAuthKeyID = errors.New("unknown authentication key ID")
	// ErrAuthMismatch: the password, digest or hash does not match.
	ErrAuthMismatch = errors.New("password or digest mismatch")
	// ErrAuthSequence: a keyed sequence number outside the replay window
	// of §6.7.3 and §6.7.4.
	ErrAuthSequence = errors.New("authentication sequence number out of window")
)

// DropReason indexes the discard reasons, for counters.
type DropReason uint8

// Drop reasons, one per sentinel error, in the order of §6.8.6.
const (
	DropBadVersion DropReason = iota + 1
	DropBadLength
	DropZeroDetectMult
	DropMultipoint
	DropZeroMyDiscriminator
	DropZeroYourDiscriminator
	DropNoSession
	DropAuthUnexpected
	DropAuthMissing
	DropAuthType
	DropAuthLength
	DropAuthKeyID
	DropAuthMismatch
	DropAuthSequence
	numDropReasons
)

var dropErrors = [numDropReasons]error{
	DropBadVersion:            ErrBadVersion,
	DropBadLength:             ErrBadLength,
	DropZeroDetectMult:        ErrZeroDetectMult,
	DropMultipoint:            ErrMultipoint,
	DropZeroMyDiscriminator:   ErrZeroMyDiscriminator,
	DropZeroYourDiscriminator: ErrZeroYourDiscriminator,
	DropNoSession:             ErrNoSession,
	DropAuthUnexpected:        ErrAuthUnexpected,
	DropAuthMissing:           ErrAuthMissing,
	DropAuthType:              ErrAuthType,
	DropAuthLength:            ErrAuthLength,
	DropAuthKeyID:             ErrAuthKeyID,
	DropAuthMismatch:          ErrAuthMismatch,
	DropAuthSequence:          ErrAuthSequence,
}

var dropNames = [numDropReasons]string{"", "BadVersion", "BadLength", "ZeroDetectMult", "Multipoint",
	"ZeroMyDiscriminator", "ZeroYourDiscriminator", "NoSession", "AuthUnexpected", "AuthMissing",
	"AuthType", "AuthLength", "AuthKeyID", "AuthMismatch", "AuthSequence"}

func (r DropReason) String() string {
	if r > 0 && r < numDropReasons {
		return dropNames[r]
	}
	return fmt.Sprintf("DropReason(%d)", uint8(r))
}

// Err is the sentinel error of the reason.
func (r DropReason) Err() error {
	if r > 0 && r < numDropReasons {
		return dropErrors[r]
	}
	return nil
}

// IsAuth reports whether the reason is an authentication failure (§6.7).
func (r DropReason) IsAuth() bool { return r >= DropAuthUnexpected && r <= DropAuthSequence }

// DropReasons lists every reason, for tables and metrics.
func DropReasons() []DropReason {
	out := make([]DropReason, 0, numDropReasons-1)
	for r := DropBadVersion; r < numDropReasons; r++ {
		out = append(out, r)
	}
	return out
}

// DropReasonOf maps an error from Decode or CheckAuth to its reason; 0 if
// it wraps none of the sentinels.
func DropReasonOf(err error) DropReason {
	if err == nil {
		return 0
	}
	for r := DropBadVersion; r < numDropReasons; r++ {
		if errors.Is(err, dropErrors[r]) {
			return r
		}
	}
	return 0
}

// DropCounts counts discarded packets by reason. The shell keeps one for
// packets that fail Decode (they reach no session); every Machine keeps one
// in its Counters.
type DropCounts [numDropReasons]uint64

// Add counts err under its reason and returns the reason (0, uncounted, if
// err is nil or not a discard error).
func (d *DropCounts) Add(err error) DropReason {
	r := DropReasonOf(err)
	if r != 0 {
		d[r]++
	}
	return r
}

// Of returns the count for one reason.
func (d *DropCounts) Of(r DropReason) uint64 {
	if r > 0 && r < numDropReasons {
		return d[r]
	}
	return 0
}

// Total is the sum over every reason.
func (d *DropCounts) Total() uint64 {
	var n uint64
	for _, c := range d {
		n += c
	}
	return n
}

// packetError wraps a sentinel with the offending value, without fmt on the
// hot path of a flood of bad packets (one small allocation per error).
type packetError struct {
	reason DropReason
	what   string
	value  uint32
}

func (e *packetError) Error() string {
	return fmt.Sprintf("bfd control packet: %s %d: %v", e.what, e.value, dropErrors[e.reason])
}

func (e *packetError) Unwrap() error { return dropErrors[e.reason] }

func drop(r DropReason, what string, value uint32) error {
	return &packetError{reason: r, what: what, value: value}
}

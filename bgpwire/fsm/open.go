package fsm

import (
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/heraldlb/herald/bgpwire"
)

// Initiator says which side opened a connection's TCP session; collision
// resolution keeps one side's connection.
type Initiator uint8

const (
	InitiatorUnknown Initiator = iota
	InitiatedLocally
	InitiatedByPeer
)

func (i Initiator) String() string {
	switch i {
	case InitiatedLocally:
		return "local"
	case InitiatedByPeer:
		return "peer"
	}
	return "unknown"
}

// ErrBadPeerAS is the Err of every CheckOpen error about the peer's ASN
// (NOTIFICATION OPEN Message Error / Bad Peer AS).
var ErrBadPeerAS = errors.New("bad peer AS")

// CheckOpen judges the peer of a decoded OPEN (RFC 4271 section 6.2, RFC
// 6286, RFC 6793, RFC 7607): its ASN against the configuration, and its BGP
// Identifier against ours. It returns nil when the peer is acceptable, else
// the error whose Notification() is what to send (Action SessionReset).
//
// Herald checks a received OPEN in two steps, each check once:
//
//   - bgpwire's Message.Decode, the message: version 4 (2/1, with 4 as data,
//     checked before the rest is parsed), hold time not 1 or 2 s (2/6),
//     identifier not 0.0.0.0 (2/3), optional parameters (2/4) and
//     capabilities well formed (2/0). Its *bgpwire.NotificationError reaches
//     the machine as BGPOpenMsgErr.
//   - CheckOpen, the peer, on BGPOpen: AS 0 in either field (RFC 7607),
//     AS_TRANS as the 4-octet capability's value, a 2-octet field that is
//     neither AS_TRANS nor the capability's value, an ASN that is not
//     Config.PeerAS or not of the PeerASMode's kind (all 2/2), and an
//     internal peer using our identifier (2/3).
//
// CheckOpen does not repeat the decoder's checks, so an OPEN must have
// passed the decoder to reach it.
func CheckOpen(cfg Config, o *bgpwire.Open) *bgpwire.NotificationError {
	peerAS := o.AS // the capability's value if present (RFC 6793), else the 2-octet field
	four := o.Capabilities.FourOctetAS
	switch {
	case peerAS == 0 || o.WireAS == 0:
		// AS 0 is never a valid peer (RFC 7607).
		return badPeerAS("AS 0 in the OPEN")
	case four && peerAS == bgpwire.ASTrans:
		// A 4-octet capability carrying AS_TRANS is not a real ASN
		// (RFC 6793 section 4.2.1).
		return badPeerAS("AS_TRANS in the 4-octet AS capability")
	case four && o.WireAS != bgpwire.ASTrans && uint32(o.WireAS) != peerAS:
		// A 2-octet field other than AS_TRANS must match the capability.
		return badPeerAS(fmt.Sprintf("2-octet AS %d contradicts the 4-octet AS capability's %d", o.WireAS, peerAS))
	}
	switch cfg.PeerASMode {
	case PeerASExact:
		if peerAS != cfg.PeerAS {
			return badPeerAS(fmt.Sprintf("AS %d, configured %d", peerAS, cfg.PeerAS))
		}
	case PeerASInternal:
		if peerAS != cfg.LocalAS {
			return badPeerAS(fmt.Sprintf("AS %d is not our AS %d (dynamic ASN internal)", peerAS, cfg.LocalAS))
		}
	case PeerASExternal:
		if peerAS == cfg.LocalAS {
			return badPeerAS(fmt.Sprintf("AS %d is our own AS (dynamic ASN external)", peerAS))
		}
	}
	// RFC 6286 section 2.2: any non-zero value, but an internal peer must
	// not share ours.
	if peerAS == cfg.LocalAS && o.Identifier == cfg.RouterID {
		return &bgpwire.NotificationError{Code: bgpwire.CodeOpenMessage, Subcode: bgpwire.SubcodeBadBGPIdentifier,
			Action: bgpwire.SessionReset,
			Err:    fmt.Errorf("%w: internal peer uses our identifier %s", bgpwire.ErrBadBGPIdentifier, o.Identifier)}
	}
	return nil
}

func badPeerAS(why string) *bgpwire.NotificationError {
	return &bgpwire.NotificationError{Code: bgpwire.CodeOpenMessage, Subcode: bgpwire.SubcodeBadPeerAS,
		Action: bgpwire.SessionReset, Err: fmt.Errorf("%w: %s", ErrBadPeerAS, why)}
}

// NegotiateHold returns the session's hold time and keepalive interval:
// the smaller of the two hold times (0 disables both), and a keepalive of a
// third of it in whole seconds, or the configured keepalive if that is lower.
func NegotiateHold(cfg Config, peerHold uint16) (hold, keepalive time.Duration) {
	hold = min(cfg.holdTime(), time.Duration(peerHold)*time.Second)
	if hold == 0 {
		return 0, 0
	}
	// At least a second, so that a hold time the decoder should have
	// refused (1 or 2 s) cannot arm a zero keepalive timer.
	keepalive = max(time.Second, (hold / 3).Truncate(time.Second))
	if cfg.Keepalive > 0 && cfg.Keepalive < keepalive {
		keepalive = cfg.Keepalive
	}
	return hold, keepalive
}

// KeepLocallyInitiated resolves a connection collision (RFC 4271 section
// 6.8): the connection opened by the speaker with the higher BGP Identifier
// survives. Equal identifiers (legal between external peers) fall back to
// the higher ASN (RFC 6286 section 2.3). It reports whether the connection
// this speaker initiated is the one to keep.
func KeepLocallyInitiated(localID, peerID netip.Addr, localAS, peerAS uint32) bool {
	if c := localID.Compare(peerID); c != 0 {
		// Compare orders IPv4 addresses as 32-bit unsigned integers.
		return c > 0
	}
	return localAS > peerAS
}

// Collision is the outcome of checking a received OPEN against an existing
// connection to the same peer.
type Collision uint8

const (
	// NoCollision: the connections are not for the same peer session; keep
	// both going.
	NoCollision Collision = iota
	// DumpExisting: send OpenCollisionDump to the existing machine and
	// BGPOpen to the new one.
	DumpExisting
	// DumpNew: send OpenCollisionDump to the machine that received the OPEN.
	DumpNew
)

func (c Collision) String() string {
	switch c {
	case DumpExisting:
		return "DumpExisting"
	case DumpNew:
		return "DumpNew"
	}
	return "NoCollision"
}

// CheckCollision is what the shell asks an existing machine when an OPEN
// arrives on another connection to the same peer (RFC 4271 section 6.8). A
// collision exists with a connection in OpenConfirm whose peer sent the same
// BGP Identifier. Connections in OpenSent are not examined: their peer's
// identifier is not known yet. An Established connection always wins
// unless detectEstablished (CollisionDetectEstablishedState) asks for the
// identifier comparison there too.
func (m *Machine) CheckCollision(o *bgpwire.Open, detectEstablished bool) Collision {
	switch m.state {
	case OpenConfirm:
	case Established:
		if !detectEstablished {
			return DumpNew
		}
	default:
		return NoCollision
	}
	if m.peerID != o.Identifier {
		return NoCollision
	}
	keepLocal := KeepLocallyInitiated(m.cfg.RouterID, o.Identifier, m.cfg.LocalAS, o.AS)
	if (m.initiator == InitiatedLocally) == keepLocal {
		return DumpNew
	}
	return DumpExisting
}

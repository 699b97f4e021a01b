package fsm

import "time"

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

// bgpVersion is the only version this speaker talks.
const bgpVersion = 4

// CheckOpen applies the OPEN checks that belong to the session rather than to
// the wire format (RFC 4271 section 6.2, RFC 6286, RFC 6793, RFC 7607): the
// version, the peer's ASN, its BGP Identifier and its hold time. ok is false
// with the NOTIFICATION to send when the OPEN is unacceptable.
func CheckOpen(cfg Config, o Open) (n Notification, ok bool) {
	if o.Version != bgpVersion {
		// The data is the largest version we support, as a 2-octet value.
		return Notification{Code: CodeOpenMessage, Subcode: SubcodeUnsupportedVersion, Data: versionData}, false
	}
	peerAS := o.PeerAS()
	// AS 0 is never a valid peer (RFC 7607); a 4-octet capability carrying
	// AS_TRANS is a peer lying about its ASN (RFC 6793 section 4.2.1).
	if peerAS == 0 || o.MyAS == 0 || (o.FourOctetAS && o.AS4 == ASTrans) {
		return badPeerAS(), false
	}
	// A 2-octet field other than AS_TRANS must match the capability.
	if o.FourOctetAS && o.MyAS != ASTrans && uint32(o.MyAS) != o.AS4 {
		return badPeerAS(), false
	}
	switch cfg.PeerASMode {
	case PeerASExact:
		if peerAS != cfg.PeerAS {
			return badPeerAS(), false
		}
	case PeerASInternal:
		if peerAS != cfg.LocalAS {
			return badPeerAS(), false
		}
	case PeerASExternal:
		if peerAS == cfg.LocalAS {
			return badPeerAS(), false
		}
	}
	// RFC 6286 section 2.2: any non-zero value, but an internal peer must
	// not share ours.
	if o.BGPID == 0 || (peerAS == cfg.LocalAS && o.BGPID == cfg.RouterID) {
		return Notification{Code: CodeOpenMessage, Subcode: SubcodeBadBGPIdentifier}, false
	}
	if o.HoldTime == 1 || o.HoldTime == 2 {
		return Notification{Code: CodeOpenMessage, Subcode: SubcodeUnacceptableHoldTime}, false
	}
	return Notification{}, true
}

var versionData = []byte{0, bgpVersion}

func badPeerAS() Notification {
	return Notification{Code: CodeOpenMessage, Subcode: SubcodeBadPeerAS}
}

// NegotiateHold returns the session's hold time and keepalive interval:
// the smaller of the two hold times (0 disables both), and a keepalive of a
// third of it in whole seconds, or the configured keepalive if that is lower.
func NegotiateHold(cfg Config, peerHold uint16) (hold, keepalive time.Duration) {
	hold = min(cfg.holdTime(), time.Duration(peerHold)*time.Second)
	if hold == 0 {
		return 0, 0
	}
	keepalive = (hold / 3).Truncate(time.Second)
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
func KeepLocallyInitiated(localID, peerID, localAS, peerAS uint32) bool {
	if localID != peerID {
		return localID > peerID
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
func (m *Machine) CheckCollision(o Open, detectEstablished bool) Collision {
	switch m.state {
	case OpenConfirm:
	case Established:
		if !detectEstablished {
			return DumpNew
		}
	default:
		return NoCollision
	}
	if m.peerID != o.BGPID {
		return NoCollision
	}
	keepLocal := KeepLocallyInitiated(m.cfg.RouterID, o.BGPID, m.cfg.LocalAS, o.PeerAS())
	if (m.initiator == InitiatedLocally) == keepLocal {
		return DumpNew
	}
	return DumpExisting
}

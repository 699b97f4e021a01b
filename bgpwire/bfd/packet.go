package bfd

import (
	"crypto/md5"
	"crypto/sha1"
	"crypto/subtle"
	"encoding/binary"
	"fmt"
	"time"
)

// Wire constants of RFC 5880 §4 and RFC 5881.
const (
	Version = 1
	// HeaderLen is the mandatory section's length.
	HeaderLen = 24
	// MaxPacketLen is the longest packet Herald sends: the mandatory section
	// and a Keyed SHA1 authentication section (§4.4).
	MaxPacketLen = HeaderLen + sha1AuthLen
	// ControlPort and EchoPort are the single-hop UDP ports (RFC 5881 §4),
	// MultihopPort the multihop one (RFC 5883 §5).
	ControlPort  = 3784
	EchoPort     = 3785
	MultihopPort = 4784

	simpleAuthMinLen = 3 + 1  // type, len, key ID, 1..16 bytes of password
	simpleAuthMaxLen = 3 + 16 //
	md5AuthLen       = 24     // §4.3
	sha1AuthLen      = 28     // §4.4
	keyedHeaderLen   = 8      // type, len, key ID, reserved, sequence number
)

// State is a session state as carried in the Sta field.
type State uint8

// The values are the wire values of §4.1.
const (
	AdminDown State = 0
	Down      State = 1
	Init      State = 2
	Up        State = 3
)

var stateNames = [4]string{"AdminDown", "Down", "Init", "Up"}

func (s State) String() string {
	if s < 4 {
		return stateNames[s]
	}
	return fmt.Sprintf("State(%d)", uint8(s))
}

// States lists the four states in wire order.
func States() []State { return []State{AdminDown, Down, Init, Up} }

// Diag is a diagnostic code (§4.1): the reason for the sender's last state
// change.
type Diag uint8

// Diagnostic codes of §4.1; 9 to 31 are reserved.
const (
	DiagNone                        Diag = 0
	DiagControlDetectionTimeExpired Diag = 1
	DiagEchoFunctionFailed          Diag = 2
	DiagNeighborSignaledSessionDown Diag = 3
	DiagForwardingPlaneReset        Diag = 4
	DiagPathDown                    Diag = 5
	DiagConcatenatedPathDown        Diag = 6
	DiagAdministrativelyDown        Diag = 7
	DiagReverseConcatenatedPathDown Diag = 8
	maxDiag                         Diag = 31
	numNamedDiags                        = 9
)

var diagNames = [numNamedDiags]string{"None", "ControlDetectionTimeExpired", "EchoFunctionFailed",
	"NeighborSignaledSessionDown", "ForwardingPlaneReset", "PathDown", "ConcatenatedPathDown",
	"AdministrativelyDown", "ReverseConcatenatedPathDown"}

func (d Diag) String() string {
	if d < numNamedDiags {
		return diagNames[d]
	}
	return fmt.Sprintf("Diag(%d)", uint8(d))
}

// AuthType is the Auth Type field (§4.1). AuthNone (the reserved 0) means
// "no authentication section".
type AuthType uint8

// Authentication types of §4.1.
const (
	AuthNone                AuthType = 0
	AuthSimplePassword      AuthType = 1
	AuthKeyedMD5            AuthType = 2
	AuthMeticulousKeyedMD5  AuthType = 3
	AuthKeyedSHA1           AuthType = 4
	AuthMeticulousKeyedSHA1 AuthType = 5
)

var authNames = [6]string{"None", "SimplePassword", "KeyedMD5", "MeticulousKeyedMD5", "KeyedSHA1", "MeticulousKeyedSHA1"}

func (a AuthType) String() string {
	if a < 6 {
		return authNames[a]
	}
	return fmt.Sprintf("AuthType(%d)", uint8(a))
}

// Keyed reports whether the type carries a sequence number and a digest.
func (a AuthType) Keyed() bool { return a >= AuthKeyedMD5 && a <= AuthMeticulousKeyedSHA1 }

// Meticulous reports whether every packet must carry a new sequence number.
func (a AuthType) Meticulous() bool {
	return a == AuthMeticulousKeyedMD5 || a == AuthMeticulousKeyedSHA1
}

// sectionLen is the fixed authentication section length of a keyed type,
// and the digest length within it.
func (a AuthType) sectionLen() (section, digest int) {
	switch a {
	case AuthKeyedMD5, AuthMeticulousKeyedMD5:
		return md5AuthLen, md5.Size
	case AuthKeyedSHA1, AuthMeticulousKeyedSHA1:
		return sha1AuthLen, sha1.Size
	}
	return 0, 0
}

// Auth is the authentication section of a Control packet.
type Auth struct {
	// Type is AuthNone when the A bit is clear (no section).
	Type  AuthType
	KeyID uint8
	// Seq is the sequence number of the keyed types.
	Seq uint32
	// Data is, on decoding, the received password (Simple Password), the
	// received digest or hash (keyed types), or the section after Auth Len
	// (reserved types); it points into the decoded bytes. On encoding it
	// is the secret: the password to send, or the key that is put into
	// the digest field, zero-padded, before hashing (§6.7.3, §6.7.4).
	Data []byte
}

// Packet is a BFD Control packet (§4.1) as plain values. The Multipoint
// bit has no field: Decode rejects it and Herald never sets it.
type Packet struct {
	Diag  Diag
	State State
	Poll  bool
	Final bool
	// ControlPlaneIndependent is the C bit. Herald's BFD runs in the
	// speaker process and shares fate with it, so it sends 0.
	ControlPlaneIndependent bool
	Demand                  bool
	DetectMult              uint8
	// Length is the Length field as decoded; AppendPacket computes its own.
	Length    uint8
	MyDiscr   uint32
	YourDiscr uint32
	// The three intervals in microseconds, as on the wire. Their Duration
	// methods convert.
	DesiredMinTx      uint32
	RequiredMinRx     uint32
	RequiredMinEchoRx uint32
	Auth              Auth
}

// Micros converts a wire interval to a Duration.
func Micros(us uint32) time.Duration { return time.Duration(us) * time.Microsecond }

// Flag bits of the second byte (§4.1).
const (
	flagPoll       = 0x20
	flagFinal      = 0x10
	flagCPI        = 0x08
	flagAuth       = 0x04
	flagDemand     = 0x02
	flagMultipoint = 0x01
)

// Decode decodes one Control packet from b (the UDP payload) into p, which
// the caller may reuse: nothing is allocated on success and Auth.Data
// points into b. It applies every check of RFC 5880 §6.8.6 that needs only
// the packet: version, Length (at least 24, or 26 with the A bit, and no
// more than len(b); bytes after Length are ignored), Detect Mult, the
// Multipoint bit, My Discriminator, and Your Discriminator zero outside
// Down and AdminDown; and the structure of the authentication section
// (ErrAuthLength). The errors wrap the sentinels of errors.go. Checks that
// need the session (Your Discriminator lookup, authentication) are the
// shell's demultiplexer's and the Machine's.
func Decode(b []byte, p *Packet) error {
	if len(b) < HeaderLen {
		return drop(DropBadLength, "payload of length", uint32(len(b)))
	}
	if v := b[0] >> 5; v != Version {
		return drop(DropBadVersion, "version", uint32(v))
	}
	flags := b[1]
	length := int(b[3])
	minLen := HeaderLen
	if flags&flagAuth != 0 {
		minLen = HeaderLen + 2
	}
	if length < minLen || length > len(b) {
		return drop(DropBadLength, "length", uint32(length))
	}
	if b[2] == 0 {
		return drop(DropZeroDetectMult, "detect mult", 0)
	}
	if flags&flagMultipoint != 0 {
		return drop(DropMultipoint, "flags", uint32(flags))
	}
	my := binary.BigEndian.Uint32(b[4:])
	if my == 0 {
		return drop(DropZeroMyDiscriminator, "my discriminator", 0)
	}
	your := binary.BigEndian.Uint32(b[8:])
	state := State(flags >> 6)
	if your == 0 && state != Down && state != AdminDown {
		return drop(DropZeroYourDiscriminator, "state", uint32(state))
	}
	*p = Packet{
		Diag:                    Diag(b[0] & 0x1f),
		State:                   state,
		Poll:                    flags&flagPoll != 0,
		Final:                   flags&flagFinal != 0,
		ControlPlaneIndependent: flags&flagCPI != 0,
		Demand:                  flags&flagDemand != 0,
		DetectMult:              b[2],
		Length:                  uint8(length),
		MyDiscr:                 my,
		YourDiscr:               your,
		DesiredMinTx:            binary.BigEndian.Uint32(b[12:]),
		RequiredMinRx:           binary.BigEndian.Uint32(b[16:]),
		RequiredMinEchoRx:       binary.BigEndian.Uint32(b[20:]),
	}
	if flags&flagAuth == 0 {
		return nil
	}
	return decodeAuth(b[HeaderLen:length], &p.Auth)
}

// decodeAuth decodes the authentication section; a holds the bytes from
// the section's start to the end of the packet (Length).
func decodeAuth(a []byte, auth *Auth) error {
	typ, authLen := AuthType(a[0]), int(a[1])
	if authLen < 2 || authLen > len(a) {
		return drop(DropAuthLength, "auth len", uint32(authLen))
	}
	auth.Type = typ
	switch {
	case typ == AuthSimplePassword:
		if authLen < simpleAuthMinLen || authLen > simpleAuthMaxLen {
			return drop(DropAuthLength, "simple password auth len", uint32(authLen))
		}
		auth.KeyID = a[2]
		auth.Data = a[3:authLen]
	case typ.Keyed():
		want, _ := typ.sectionLen()
		if authLen != want {
			return drop(DropAuthLength, typ.String()+" auth len", uint32(authLen))
		}
		auth.KeyID = a[2]
		auth.Seq = binary.BigEndian.Uint32(a[4:])
		auth.Data = a[keyedHeaderLen:authLen]
	default:
		// A reserved type: kept for the session to reject as a type
		// mismatch (no session can be configured with it).
		auth.Data = a[2:authLen]
	}
	return nil
}

// AppendPacket appends the encoding of p to dst and returns it, like the
// strconv.Append functions: with enough capacity it does not allocate. The
// Length, version and A bit are computed; the Multipoint bit is never set.
// With a keyed Auth.Type, Auth.Data is the key and the digest is computed
// over the whole packet (§6.7.3, §6.7.4). The fields are encoded as given,
// so tests can build packets Decode rejects. It fails, returning dst
// unchanged, on an out-of-range State or Diag, a reserved Auth.Type, or a
// password or key of the wrong length.
func AppendPacket(dst []byte, p *Packet) ([]byte, error) {
	if p.State > Up {
		return dst, fmt.Errorf("bfd: encoding state %d: %w", p.State, errOutOfRange)
	}
	if p.Diag > maxDiag {
		return dst, fmt.Errorf("bfd: encoding diag %d: %w", p.Diag, errOutOfRange)
	}
	authLen := 0
	switch t := p.Auth.Type; {
	case t == AuthNone:
	case t == AuthSimplePassword:
		if n := len(p.Auth.Data); n < 1 || n > 16 {
			return dst, fmt.Errorf("bfd: simple password of %d bytes, want 1 to 16: %w", n, ErrAuthLength)
		}
		authLen = 3 + len(p.Auth.Data)
	case t.Keyed():
		var digest int
		authLen, digest = t.sectionLen()
		if len(p.Auth.Data) > digest {
			return dst, fmt.Errorf("bfd: %s key of %d bytes, at most %d: %w", t, len(p.Auth.Data), digest, ErrAuthLength)
		}
	default:
		return dst, fmt.Errorf("bfd: encoding auth type %d: %w", t, ErrAuthType)
	}
	start := len(dst)
	flags := byte(p.State) << 6
	if p.Poll {
		flags |= flagPoll
	}
	if p.Final {
		flags |= flagFinal
	}
	if p.ControlPlaneIndependent {
		flags |= flagCPI
	}
	if authLen > 0 {
		flags |= flagAuth
	}
	if p.Demand {
		flags |= flagDemand
	}
	dst = append(dst, Version<<5|byte(p.Diag), flags, p.DetectMult, byte(HeaderLen+authLen))
	dst = binary.BigEndian.AppendUint32(dst, p.MyDiscr)
	dst = binary.BigEndian.AppendUint32(dst, p.YourDiscr)
	dst = binary.BigEndian.AppendUint32(dst, p.DesiredMinTx)
	dst = binary.BigEndian.AppendUint32(dst, p.RequiredMinRx)
	dst = binary.BigEndian.AppendUint32(dst, p.RequiredMinEchoRx)
	switch t := p.Auth.Type; {
	case t == AuthSimplePassword:
		dst = append(dst, byte(t), byte(authLen), p.Auth.KeyID)
		dst = append(dst, p.Auth.Data...)
	case t.Keyed():
		dst = append(dst, byte(t), byte(authLen), p.Auth.KeyID, 0)
		dst = binary.BigEndian.AppendUint32(dst, p.Auth.Seq)
		field := len(dst)
		dst = append(dst, p.Auth.Data...)
		for len(dst) < start+HeaderLen+authLen {
			dst = append(dst, 0)
		}
		pkt := dst[start:]
		switch t {
		case AuthKeyedMD5, AuthMeticulousKeyedMD5:
			sum := md5.Sum(pkt)
			copy(dst[field:], sum[:])
		default:
			sum := sha1.Sum(pkt)
			copy(dst[field:], sum[:])
		}
	}
	return dst, nil
}

var errOutOfRange = fmt.Errorf("field out of range")

// CheckAuth verifies the password or digest of p, decoded from raw, against
// the session's secret (§6.7.2 to §6.7.4): for Simple Password the password
// must equal secret; for the keyed types the digest of the packet with the
// zero-padded secret in the digest field must equal the received one. It
// returns nil or an error wrapping ErrAuthMismatch (ErrAuthLength if raw is
// not the packet p was decoded from). Type, key ID and sequence number are
// the session's to check. Comparisons take constant time; nothing is
// allocated.
func CheckAuth(raw []byte, p *Packet, secret []byte) error {
	switch t := p.Auth.Type; {
	case t == AuthSimplePassword:
		if subtle.ConstantTimeCompare(p.Auth.Data, secret) != 1 {
			return drop(DropAuthMismatch, "simple password key ID", uint32(p.Auth.KeyID))
		}
		return nil
	case t.Keyed():
		section, digest := t.sectionLen()
		n := int(p.Length)
		if n > len(raw) || n < HeaderLen+section || len(secret) > digest {
			return drop(DropAuthLength, "packet length", uint32(n))
		}
		var buf [255]byte
		copy(buf[:], raw[:n])
		field := buf[HeaderLen+keyedHeaderLen : HeaderLen+keyedHeaderLen+digest]
		clear(field)
		copy(field, secret)
		var ok int
		if digest == md5.Size {
			sum := md5.Sum(buf[:n])
			ok = subtle.ConstantTimeCompare(sum[:], p.Auth.Data)
		} else {
			sum := sha1.Sum(buf[:n])
			ok = subtle.ConstantTimeCompare(sum[:], p.Auth.Data)
		}
		if ok != 1 {
			return drop(DropAuthMismatch, t.String()+" key ID", uint32(p.Auth.KeyID))
		}
		return nil
	}
	return drop(DropAuthType, "auth type", uint32(p.Auth.Type))
}

// String renders the packet on one line, for transcripts and logs.
func (p *Packet) String() string {
	s := fmt.Sprintf("%s diag=%d", p.State, uint8(p.Diag))
	if p.Poll {
		s += " P"
	}
	if p.Final {
		s += " F"
	}
	if p.ControlPlaneIndependent {
		s += " C"
	}
	if p.Demand {
		s += " D"
	}
	s += fmt.Sprintf(" mult=%d my=%d your=%d tx=%s rx=%s echo=%s", p.DetectMult, p.MyDiscr, p.YourDiscr,
		Micros(p.DesiredMinTx), Micros(p.RequiredMinRx), Micros(p.RequiredMinEchoRx))
	if p.Auth.Type != AuthNone {
		s += fmt.Sprintf(" auth=%s/%d", p.Auth.Type, p.Auth.KeyID)
		if p.Auth.Type.Keyed() {
			s += fmt.Sprintf(" seq=%d", p.Auth.Seq)
		}
	}
	return s
}

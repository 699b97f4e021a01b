package bgpwire

import (
	"encoding/binary"
)

// MessageType is the Type octet of the BGP message header (RFC 4271 §4.1).
type MessageType uint8

// Message types.
const (
	TypeOpen         MessageType = 1
	TypeUpdate       MessageType = 2
	TypeNotification MessageType = 3
	TypeKeepalive    MessageType = 4
	TypeRouteRefresh MessageType = 5 // RFC 2918
)

func (t MessageType) String() string {
	switch t {
	case TypeOpen:
		return "OPEN"
	case TypeUpdate:
		return "UPDATE"
	case TypeNotification:
		return "NOTIFICATION"
	case TypeKeepalive:
		return "KEEPALIVE"
	case TypeRouteRefresh:
		return "ROUTE-REFRESH"
	}
	return "UNKNOWN"
}

// Message sizes.
const (
	HeaderLen = 19 // marker (16) + length (2) + type (1)
	// MaxMessageLen is the largest message without the extended message
	// capability (RFC 4271).
	MaxMessageLen = 4096
	// MaxExtendedMessageLen is the largest message once both sides have
	// advertised the extended message capability (RFC 8654). OPEN and
	// KEEPALIVE stay limited to MaxMessageLen.
	MaxExtendedMessageLen = 65535
	keepaliveLen          = HeaderLen
	minOpenLen            = HeaderLen + 10
	minUpdateLen          = HeaderLen + 4
	minNotificationLen    = HeaderLen + 2
	routeRefreshLen       = HeaderLen + 4
)

// ASTrans is the 2-octet placeholder AS number (RFC 6793) sent to peers that
// did not advertise the 4-octet ASN capability in place of an AS number that
// does not fit in 16 bits.
const ASTrans = 23456

// Header is a decoded BGP message header.
type Header struct {
	Length uint16
	Type   MessageType
}

// Session holds what the two speakers negotiated in their OPEN messages and
// what changes the wire format: the encoder and decoder need it for every
// UPDATE. The zero value is a plain RFC 4271 session (2-octet AS numbers,
// 4096-byte messages).
type Session struct {
	// FourOctetAS is set when both sides advertised capability 65.
	FourOctetAS bool
	// ExtendedMessage is set when both sides advertised capability 6.
	ExtendedMessage bool
}

// MaxLen is the largest UPDATE, NOTIFICATION or ROUTE-REFRESH message the
// session allows.
func (s Session) MaxLen() int {
	if s.ExtendedMessage {
		return MaxExtendedMessageLen
	}
	return MaxMessageLen
}

// Negotiate derives the session parameters from the OPEN each side sent.
func Negotiate(local, remote *Open) Session {
	return Session{
		FourOctetAS:     local.Capabilities.FourOctetAS && remote.Capabilities.FourOctetAS,
		ExtendedMessage: local.Capabilities.ExtendedMessage && remote.Capabilities.ExtendedMessage,
	}
}

// appendHeader appends a header with a zero length; finishMessage fills it in
// once the body is written.
func appendHeader(dst []byte, t MessageType) []byte {
	dst = append(dst,
		0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
		0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
		0, 0, byte(t))
	return dst
}

// finishMessage writes the length of the message that starts at dst[start:].
func finishMessage(dst []byte, start, maxLen int) ([]byte, error) {
	n := len(dst) - start
	if n > maxLen {
		return dst[:start], ErrMessageTooLong
	}
	binary.BigEndian.PutUint16(dst[start+16:], uint16(n))
	return dst, nil
}

// parseWholeHeader is ParseHeader for a buffer that must hold the whole
// message, where too few bytes is a bad length rather than a reason to wait.
func parseWholeHeader(b []byte, s Session) (Header, error) {
	if len(b) < HeaderLen {
		return Header{}, newError(CodeMessageHeader, SubcodeBadMessageLength, nil, ErrShortHeader)
	}
	return ParseHeader(b, s.MaxLen())
}

// ParseHeader validates the header at the start of b against RFC 4271 §6.1
// and returns it. b may hold more than one message; only the first 19 bytes
// are read. With fewer than 19 bytes it returns ErrShortHeader, unwrapped:
// the caller frames a TCP stream and should wait for more. Every other error
// is a *NotificationError. maxLen is Session.MaxLen() of the session (OPEN and KEEPALIVE are
// always checked against 4096).
func ParseHeader(b []byte, maxLen int) (Header, error) {
	if len(b) < HeaderLen {
		return Header{}, ErrShortHeader
	}
	for _, m := range b[:16] {
		if m != 0xff {
			return Header{}, newError(CodeMessageHeader, SubcodeConnectionNotSynchronized, nil, ErrBadMarker)
		}
	}
	h := Header{Length: binary.BigEndian.Uint16(b[16:]), Type: MessageType(b[18])}
	lenField := b[16:18]
	bad := func() (Header, error) {
		return Header{}, newError(CodeMessageHeader, SubcodeBadMessageLength, lenField, ErrBadLength)
	}
	n := int(h.Length)
	if n < HeaderLen || n > maxLen {
		return bad()
	}
	switch h.Type {
	case TypeOpen:
		if n < minOpenLen || n > MaxMessageLen {
			return bad()
		}
	case TypeUpdate:
		if n < minUpdateLen {
			return bad()
		}
	case TypeNotification:
		if n < minNotificationLen {
			return bad()
		}
	case TypeKeepalive:
		if n != keepaliveLen {
			return bad()
		}
	case TypeRouteRefresh:
		if n < routeRefreshLen {
			return bad()
		}
	default:
		return Header{}, newError(CodeMessageHeader, SubcodeBadMessageType, b[18:19], ErrBadType)
	}
	return h, nil
}

// AppendKeepalive appends a KEEPALIVE message.
func AppendKeepalive(dst []byte) []byte {
	dst = appendHeader(dst, TypeKeepalive)
	dst[len(dst)-2] = keepaliveLen
	return dst
}

// Message is any decoded BGP message. Decode fills the member that matches
// Type and leaves the others as they were, so one Message can be reused for a
// whole session without allocating.
type Message struct {
	Type         MessageType
	Open         Open
	Update       Update
	Notification Notification
	RouteRefresh RouteRefresh
}

// Decode decodes exactly one message, header included, from b (len(b) must
// equal the header's length; use ParseHeader to frame a stream). Byte slices
// in the result (Notification data, unknown capabilities and attributes)
// point into b.
func (m *Message) Decode(b []byte, s Session) error {
	h, err := parseWholeHeader(b, s)
	if err != nil {
		return err
	}
	if int(h.Length) != len(b) {
		return newError(CodeMessageHeader, SubcodeBadMessageLength, b[16:18], ErrBadLength)
	}
	m.Type = h.Type
	body := b[HeaderLen:]
	switch h.Type {
	case TypeOpen:
		return m.Open.decodeBody(body)
	case TypeUpdate:
		return m.Update.decodeBody(body, s)
	case TypeNotification:
		return m.Notification.decodeBody(body)
	case TypeRouteRefresh:
		return m.RouteRefresh.decodeBody(body)
	}
	return nil // KEEPALIVE has no body.
}

// AppendMessage appends m, encoded according to m.Type. It is the inverse of
// Message.Decode; the speaker's hot path uses the specific Append functions.
func AppendMessage(dst []byte, s Session, m *Message) ([]byte, error) {
	switch m.Type {
	case TypeOpen:
		return AppendOpen(dst, &m.Open)
	case TypeUpdate:
		return AppendUpdate(dst, s, &m.Update)
	case TypeNotification:
		return AppendNotification(dst, m.Notification, s.MaxLen()), nil
	case TypeKeepalive:
		return AppendKeepalive(dst), nil
	case TypeRouteRefresh:
		return AppendRouteRefresh(dst, m.RouteRefresh), nil
	}
	return dst, ErrBadType
}

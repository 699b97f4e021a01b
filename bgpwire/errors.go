package bgpwire

import (
	"errors"
	"fmt"
)

// Action is what RFC 7606 tells the receiver of a malformed message to do.
// Values are ordered by severity so the strongest of several errors wins.
type Action uint8

// Error handling approaches of RFC 7606 §2, weakest first.
const (
	// AttributeDiscard: the attribute was dropped; the rest of the UPDATE
	// is valid and must be processed.
	AttributeDiscard Action = iota + 1
	// TreatAsWithdraw: every prefix the UPDATE announces (NLRI field and
	// MP_REACH_NLRI) must be handled as withdrawn; withdrawals in it are
	// processed as usual. The session stays up.
	TreatAsWithdraw
	// SessionReset: send the NOTIFICATION the error carries and close the
	// session.
	SessionReset
)

func (a Action) String() string {
	switch a {
	case AttributeDiscard:
		return "attribute-discard"
	case TreatAsWithdraw:
		return "treat-as-withdraw"
	case SessionReset:
		return "session-reset"
	}
	return "none"
}

// NotificationError is every decoding error: it says what to do (Action) and,
// for a session reset, which NOTIFICATION to send. For the weaker actions the
// code and subcode are what RFC 4271 would have sent, for logging.
type NotificationError struct {
	Code    ErrorCode
	Subcode uint8
	// Data is the NOTIFICATION data field; it points into the decoded
	// message.
	Data   []byte
	Action Action
	// Attr is the path attribute the error is about (the malformed, the
	// duplicated or the missing one), 0 when the error is not about one
	// attribute (a malformed field, a whole attribute list that cannot be
	// framed before any type is known, a non-UPDATE message).
	Attr AttrType
	// Err is one of the sentinel errors below, possibly wrapped with
	// detail; errors.Is sees through it.
	Err error
}

func (e *NotificationError) Error() string {
	if e.Attr != 0 {
		return fmt.Sprintf("bgp %s (%s, subcode %d, %s): %v", e.Action, e.Code, e.Subcode, e.Attr, e.Err)
	}
	return fmt.Sprintf("bgp %s (%s, subcode %d): %v", e.Action, e.Code, e.Subcode, e.Err)
}

func (e *NotificationError) Unwrap() error { return e.Err }

// Notification is the NOTIFICATION message to send for this error.
func (e *NotificationError) Notification() Notification {
	return Notification{Code: e.Code, Subcode: e.Subcode, Data: e.Data}
}

func newError(code ErrorCode, subcode uint8, data []byte, err error) *NotificationError {
	return &NotificationError{Code: code, Subcode: subcode, Data: data, Action: SessionReset, Err: err}
}

func attrError(action Action, subcode uint8, data []byte, err error) *NotificationError {
	return &NotificationError{Code: CodeUpdateMessage, Subcode: subcode, Data: data, Action: action, Err: err}
}

// Decoding errors. Every error returned by a decoder is a *NotificationError
// whose Err wraps one of these.
var (
	ErrShortHeader            = errors.New("fewer than 19 bytes for a message header")
	ErrBadMarker              = errors.New("marker is not all ones")
	ErrBadLength              = errors.New("bad message length")
	ErrBadType                = errors.New("unknown message type")
	ErrUnsupportedVersion     = errors.New("unsupported BGP version")
	ErrBadBGPIdentifier       = errors.New("bad BGP identifier")
	ErrUnsupportedOptParam    = errors.New("unsupported optional parameter")
	ErrUnacceptableHoldTime   = errors.New("unacceptable hold time")
	ErrMalformedOpen          = errors.New("malformed OPEN")
	ErrMalformedCapability    = errors.New("malformed capability")
	ErrMalformedAttributeList = errors.New("malformed attribute list")
	ErrUnrecognizedWellKnown  = errors.New("unrecognized well-known attribute")
	ErrMissingWellKnown       = errors.New("missing well-known attribute")
	ErrAttributeFlags         = errors.New("attribute flags conflict")
	ErrAttributeLength        = errors.New("bad attribute length")
	ErrInvalidOrigin          = errors.New("invalid ORIGIN")
	ErrInvalidNextHop         = errors.New("invalid NEXT_HOP")
	ErrOptionalAttribute      = errors.New("malformed optional attribute")
	ErrInvalidNetworkField    = errors.New("invalid network field")
	ErrMalformedASPath        = errors.New("malformed AS_PATH")
	ErrMalformedMP            = errors.New("malformed MP_REACH_NLRI or MP_UNREACH_NLRI")
	ErrMalformedNotification  = errors.New("malformed NOTIFICATION")
	ErrMalformedRouteRefresh  = errors.New("malformed ROUTE-REFRESH")
)

// Encoding errors.
var (
	ErrMessageTooLong   = errors.New("message longer than the session allows")
	ErrMixedFamilies    = errors.New("prefixes of more than one address family")
	ErrNextHopFamily    = errors.New("next hop does not fit the prefixes' family")
	ErrInvalidPrefix    = errors.New("invalid prefix")
	ErrParameterTooLong = errors.New("field too long for its length octet")
)

package bgpwire

import (
	"fmt"
	"strconv"
	"unicode/utf8"
)

// Notification is a NOTIFICATION message (RFC 4271 §4.5).
type Notification struct {
	Code    ErrorCode
	Subcode uint8
	// Data points into the decoded message; it is not copied.
	Data []byte
}

// String describes n for logs and reports: code and subcode by name, then
// the RFC 9003 shutdown communication in quotes, the encapsulated cause of
// an RFC 8538 hard reset, or the data in hex.
func (n Notification) String() string {
	s := fmt.Sprintf("%d/%d %s, %s", n.Code, n.Subcode, n.Code, SubcodeString(n.Code, n.Subcode))
	if text, ok := n.ShutdownReason(); ok {
		return s + ": " + strconv.Quote(text)
	}
	if code, sub, ok := n.HardResetCause(); ok {
		return fmt.Sprintf("%s (cause %d/%d %s, %s)", s, code, sub, code, SubcodeString(code, sub))
	}
	if len(n.Data) > 0 {
		return fmt.Sprintf("%s, data %x", s, n.Data)
	}
	return s
}

// MaxShutdownReasonLen is the longest shutdown communication (RFC 9003 §2).
const MaxShutdownReasonLen = 255

func (n *Notification) decodeBody(b []byte) error {
	if len(b) < 2 {
		return newError(CodeMessageHeader, SubcodeBadMessageLength, nil, ErrMalformedNotification)
	}
	n.Code, n.Subcode, n.Data = ErrorCode(b[0]), b[1], b[2:]
	if len(n.Data) == 0 {
		n.Data = nil
	}
	return nil
}

// AppendNotification appends the NOTIFICATION message n. Data that would
// make the message longer than maxLen (Session.MaxLen) is truncated, as
// RFC 4271 lets the sender do, rather than failing: a NOTIFICATION is the
// last thing said on a session and must go out.
func AppendNotification(dst []byte, n Notification, maxLen int) []byte {
	start := len(dst)
	dst = appendHeader(dst, TypeNotification)
	dst = append(dst, byte(n.Code), n.Subcode)
	data := n.Data
	if room := maxLen - minNotificationLen; len(data) > room {
		data = data[:room]
	}
	dst = append(dst, data...)
	dst, _ = finishMessage(dst, start, maxLen)
	return dst
}

// IsShutdownCommunication reports whether the data of n may carry an RFC 9003
// shutdown communication (Cease with administrative shutdown or reset).
func (n Notification) IsShutdownCommunication() bool {
	return n.Code == CodeCease && (n.Subcode == SubcodeAdministrativeShutdown || n.Subcode == SubcodeAdministrativeReset)
}

// ShutdownReason returns the RFC 9003 shutdown communication of n. ok is
// false when n is not an administrative shutdown or reset, carries no data,
// or the data is malformed (length past the end, or not UTF-8): RFC 9003 §4
// says such data is logged as bytes, never interpreted.
func (n Notification) ShutdownReason() (reason string, ok bool) {
	if !n.IsShutdownCommunication() || len(n.Data) == 0 {
		return "", false
	}
	l := int(n.Data[0])
	if 1+l > len(n.Data) {
		return "", false
	}
	text := n.Data[1 : 1+l]
	if !utf8.Valid(text) {
		return "", false
	}
	return string(text), true
}

// AppendShutdownData appends the RFC 9003 data field for reason to dst:
// a length octet and the UTF-8 text, truncated at MaxShutdownReasonLen bytes
// without splitting a character.
func AppendShutdownData(dst []byte, reason string) []byte {
	if len(reason) > MaxShutdownReasonLen {
		cut := MaxShutdownReasonLen
		for cut > 0 && !utf8.RuneStart(reason[cut]) {
			cut--
		}
		reason = reason[:cut]
	}
	dst = append(dst, byte(len(reason)))
	return append(dst, reason...)
}

// HardResetCause returns the code and subcode that an RFC 8538 Hard Reset
// NOTIFICATION encapsulates in its data.
func (n Notification) HardResetCause() (code ErrorCode, subcode uint8, ok bool) {
	if n.Code != CodeCease || n.Subcode != SubcodeHardReset || len(n.Data) < 2 {
		return 0, 0, false
	}
	return ErrorCode(n.Data[0]), n.Data[1], true
}

// RouteRefreshSubtype is the message subtype of an enhanced route refresh
// (RFC 7313); 0 is a plain refresh request.
type RouteRefreshSubtype uint8

// ROUTE-REFRESH subtypes.
const (
	RouteRefreshRequest RouteRefreshSubtype = 0
	RouteRefreshBoRR    RouteRefreshSubtype = 1 // beginning of route refresh
	RouteRefreshEoRR    RouteRefreshSubtype = 2 // end of route refresh
)

// RouteRefresh is a ROUTE-REFRESH message (RFC 2918, RFC 7313).
type RouteRefresh struct {
	Family  Family
	Subtype RouteRefreshSubtype
}

func (r *RouteRefresh) decodeBody(b []byte) error {
	// RFC 7313 §5: a ROUTE-REFRESH whose length is not 23 is a
	// ROUTE-REFRESH message error.
	if len(b) != 4 {
		return newError(CodeRouteRefreshMessage, SubcodeInvalidMessageLength, nil, ErrMalformedRouteRefresh)
	}
	r.Family = Family{AFI: AFI(uint16(b[0])<<8 | uint16(b[1])), SAFI: SAFI(b[3])}
	r.Subtype = RouteRefreshSubtype(b[2])
	return nil
}

// AppendRouteRefresh appends the ROUTE-REFRESH message r.
func AppendRouteRefresh(dst []byte, r RouteRefresh) []byte {
	dst = appendHeader(dst, TypeRouteRefresh)
	dst[len(dst)-2] = routeRefreshLen
	return append(dst, byte(r.Family.AFI>>8), byte(r.Family.AFI), byte(r.Subtype), byte(r.Family.SAFI))
}

// AppendHardResetData appends the data of an RFC 8538 Hard Reset
// NOTIFICATION (Cease, subcode 9) that encapsulates cause: its code, subcode
// and data.
func AppendHardResetData(dst []byte, cause Notification) []byte {
	dst = append(dst, byte(cause.Code), cause.Subcode)
	return append(dst, cause.Data...)
}

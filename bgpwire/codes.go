package bgpwire

import "strconv"

// ErrorCode is the NOTIFICATION error code.
type ErrorCode uint8

// Error codes (RFC 4271 §4.5, RFC 6608, RFC 7313, RFC 9687).
const (
	CodeMessageHeader        ErrorCode = 1
	CodeOpenMessage          ErrorCode = 2
	CodeUpdateMessage        ErrorCode = 3
	CodeHoldTimerExpired     ErrorCode = 4
	CodeFSM                  ErrorCode = 5
	CodeCease                ErrorCode = 6
	CodeRouteRefreshMessage  ErrorCode = 7
	CodeSendHoldTimerExpired ErrorCode = 8
)

func (c ErrorCode) String() string {
	switch c {
	case CodeMessageHeader:
		return "message header error"
	case CodeOpenMessage:
		return "OPEN message error"
	case CodeUpdateMessage:
		return "UPDATE message error"
	case CodeHoldTimerExpired:
		return "hold timer expired"
	case CodeFSM:
		return "FSM error"
	case CodeCease:
		return "cease"
	case CodeRouteRefreshMessage:
		return "ROUTE-REFRESH message error"
	case CodeSendHoldTimerExpired:
		return "send hold timer expired"
	}
	return "error code " + strconv.Itoa(int(c))
}

// Message header error subcodes (RFC 4271).
const (
	SubcodeConnectionNotSynchronized = 1
	SubcodeBadMessageLength          = 2
	SubcodeBadMessageType            = 3
)

// OPEN message error subcodes (RFC 4271, RFC 5492). 5, 8 and 9 are
// deprecated.
const (
	SubcodeUnsupportedVersionNumber = 1
	SubcodeBadPeerAS                = 2
	SubcodeBadBGPIdentifier         = 3
	SubcodeUnsupportedOptionalParam = 4
	SubcodeUnacceptableHoldTime     = 6
	SubcodeUnsupportedCapability    = 7
	SubcodeRoleMismatch             = 11 // RFC 9234
)

// UPDATE message error subcodes (RFC 4271). 7 is deprecated.
const (
	SubcodeMalformedAttributeList    = 1
	SubcodeUnrecognizedWellKnownAttr = 2
	SubcodeMissingWellKnownAttr      = 3
	SubcodeAttributeFlagsError       = 4
	SubcodeAttributeLengthError      = 5
	SubcodeInvalidOriginAttr         = 6
	SubcodeInvalidNextHopAttr        = 8
	SubcodeOptionalAttributeError    = 9
	SubcodeInvalidNetworkField       = 10
	SubcodeMalformedASPath           = 11
)

// FSM error subcodes (RFC 6608).
const (
	SubcodeFSMUnspecified             = 0
	SubcodeFSMUnexpectedInOpenSent    = 1
	SubcodeFSMUnexpectedInOpenConfirm = 2
	SubcodeFSMUnexpectedInEstablished = 3
)

// Cease subcodes (RFC 4486, RFC 8538 hard reset, RFC 9384 BFD down).
const (
	SubcodeMaxPrefixesReached       = 1
	SubcodeAdministrativeShutdown   = 2
	SubcodePeerDeconfigured         = 3
	SubcodeAdministrativeReset      = 4
	SubcodeConnectionRejected       = 5
	SubcodeOtherConfigurationChange = 6
	SubcodeConnectionCollision      = 7
	SubcodeOutOfResources           = 8
	SubcodeHardReset                = 9
	SubcodeBFDDown                  = 10
)

// ROUTE-REFRESH message error subcodes (RFC 7313).
const (
	SubcodeInvalidMessageLength = 1
)

// subcodeNames names the subcodes of each error code (RFC 4271, RFC 4486,
// RFC 5492, RFC 6608, RFC 7313, RFC 8538, RFC 9234, RFC 9384).
var subcodeNames = map[ErrorCode][]string{
	CodeMessageHeader: {1: "connection not synchronized", 2: "bad message length", 3: "bad message type"},
	CodeOpenMessage: {1: "unsupported version number", 2: "bad peer AS", 3: "bad BGP identifier",
		4: "unsupported optional parameter", 6: "unacceptable hold time", 7: "unsupported capability",
		11: "role mismatch"},
	CodeUpdateMessage: {1: "malformed attribute list", 2: "unrecognized well-known attribute",
		3: "missing well-known attribute", 4: "attribute flags error", 5: "attribute length error",
		6: "invalid ORIGIN attribute", 8: "invalid NEXT_HOP attribute", 9: "optional attribute error",
		10: "invalid network field", 11: "malformed AS_PATH"},
	CodeFSM: {1: "unexpected message in OpenSent", 2: "unexpected message in OpenConfirm",
		3: "unexpected message in Established"},
	CodeCease: {1: "maximum number of prefixes reached", 2: "administrative shutdown", 3: "peer de-configured",
		4: "administrative reset", 5: "connection rejected", 6: "other configuration change",
		7: "connection collision resolution", 8: "out of resources", 9: "hard reset", 10: "BFD down"},
	CodeRouteRefreshMessage: {1: "invalid message length"},
}

// SubcodeString names subcode sub of code, or gives its number when it has
// no name (0 is "unspecific").
func SubcodeString(code ErrorCode, sub uint8) string {
	if names := subcodeNames[code]; int(sub) < len(names) && names[sub] != "" {
		return names[sub]
	}
	if sub == 0 {
		return "unspecific"
	}
	return "subcode " + strconv.Itoa(int(sub))
}

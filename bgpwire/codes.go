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

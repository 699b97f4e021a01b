package bgpwire

import (
	"errors"
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// Attribute snippets for building malformed UPDATEs.
const (
	aOrigin  = "40 01 01 00 "
	aASPath  = "40 02 06 02 01 0000fde9 "
	aNextHop = "40 03 04 c0000201 "
	aValid   = aOrigin + aASPath + aNextHop
	nlri8    = "08 0a"
)

// update builds an UPDATE body with no withdrawals, the given attributes
// (length computed) and NLRI.
func update(t testing.TB, attrs, nlri string) []byte {
	a := unhex(t, attrs)
	return wire(t, TypeUpdate, "0000"+hexLen16(len(a))+attrs+nlri)
}

func hexLen16(n int) string {
	const digits = "0123456789abcdef"
	return string([]byte{digits[n>>12&15], digits[n>>8&15], digits[n>>4&15], digits[n&15]})
}

func TestDecodeErrors(t *testing.T) {
	marker := "ffffffffffffffffffffffffffffffff"
	tests := []struct {
		name    string
		s       Session
		msg     []byte
		action  Action
		code    ErrorCode
		subcode uint8
		data    string // hex; "-" to skip the check
		is      error
	}{
		// RFC 4271 §6.1 header errors.
		{"bad marker", fourOctet, unhex(t, "ffffffffffffffffffffffffffff00ff 0013 04"), SessionReset, CodeMessageHeader, SubcodeConnectionNotSynchronized, "", ErrBadMarker},
		{"length below 19", fourOctet, unhex(t, marker+"0012 04"), SessionReset, CodeMessageHeader, SubcodeBadMessageLength, "0012", ErrBadLength},
		{"KEEPALIVE of 20 bytes", fourOctet, unhex(t, marker+"0014 04 00"), SessionReset, CodeMessageHeader, SubcodeBadMessageLength, "0014", ErrBadLength},
		{"length over 4096", fourOctet, append(unhex(t, marker+"1001 02"), make([]byte, 4097-19)...), SessionReset, CodeMessageHeader, SubcodeBadMessageLength, "1001", ErrBadLength},
		{"length disagrees with bytes", fourOctet, unhex(t, marker+"0017 02 0000 0000 00"), SessionReset, CodeMessageHeader, SubcodeBadMessageLength, "0017", ErrBadLength},
		{"unknown type", fourOctet, unhex(t, marker+"0013 09"), SessionReset, CodeMessageHeader, SubcodeBadMessageType, "09", ErrBadType},
		// RFC 4271 §6.2 OPEN errors.
		{"OPEN version 3", fourOctet, wire(t, TypeOpen, "03 0064 00b4 01020304 00"), SessionReset, CodeOpenMessage, SubcodeUnsupportedVersionNumber, "0004", ErrUnsupportedVersion},
		{"OPEN hold time 2", fourOctet, wire(t, TypeOpen, "04 0064 0002 01020304 00"), SessionReset, CodeOpenMessage, SubcodeUnacceptableHoldTime, "", ErrUnacceptableHoldTime},
		{"OPEN identifier 0", fourOctet, wire(t, TypeOpen, "04 0064 00b4 00000000 00"), SessionReset, CodeOpenMessage, SubcodeBadBGPIdentifier, "", ErrBadBGPIdentifier},
		{"OPEN parameter type 1", fourOctet, wire(t, TypeOpen, "04 0064 00b4 01020304 03 01 01 00"), SessionReset, CodeOpenMessage, SubcodeUnsupportedOptionalParam, "", ErrUnsupportedOptParam},
		{"OPEN parameter overrun", fourOctet, wire(t, TypeOpen, "04 0064 00b4 01020304 04 02 05 0200"), SessionReset, CodeOpenMessage, 0, "", ErrMalformedOpen},
		{"OPEN capability overrun", fourOctet, wire(t, TypeOpen, "04 0064 00b4 01020304 04 02 02 4104"), SessionReset, CodeOpenMessage, 0, "", ErrMalformedCapability},
		{"OPEN 4-octet AS of 3 bytes", fourOctet, wire(t, TypeOpen, "04 0064 00b4 01020304 07 02 05 4103 000001"), SessionReset, CodeOpenMessage, 0, "4103000001", ErrMalformedCapability},
		// RFC 4271 §6.3 and RFC 7606 UPDATE errors.
		{"withdrawn length overrun", fourOctet, wire(t, TypeUpdate, "0010 0000"), SessionReset, CodeUpdateMessage, SubcodeMalformedAttributeList, "", ErrMalformedAttributeList},
		{"attribute length overrun", fourOctet, wire(t, TypeUpdate, "0000 0010 40"), SessionReset, CodeUpdateMessage, SubcodeMalformedAttributeList, "", ErrMalformedAttributeList},
		{"withdrawn /33", fourOctet, wire(t, TypeUpdate, "0005 21 0a000000 0000"), SessionReset, CodeUpdateMessage, SubcodeInvalidNetworkField, "", ErrInvalidNetworkField},
		{"NLRI /33", fourOctet, update(t, aValid, "21 0a000000 00"), SessionReset, CodeUpdateMessage, SubcodeInvalidNetworkField, "", ErrInvalidNetworkField},
		{"NLRI truncated", fourOctet, update(t, aValid, "18 0a00"), SessionReset, CodeUpdateMessage, SubcodeInvalidNetworkField, "", ErrInvalidNetworkField},
		{"ORIGIN 3", fourOctet, update(t, "40 01 01 03 "+aASPath+aNextHop, nlri8), TreatAsWithdraw, CodeUpdateMessage, SubcodeInvalidOriginAttr, "40010103", ErrInvalidOrigin},
		{"ORIGIN length 2", fourOctet, update(t, "40 01 02 0000 "+aASPath+aNextHop, nlri8), TreatAsWithdraw, CodeUpdateMessage, SubcodeAttributeLengthError, "4001020000", ErrAttributeLength},
		{"ORIGIN marked optional", fourOctet, update(t, "c0 01 01 00 "+aASPath+aNextHop, nlri8), TreatAsWithdraw, CodeUpdateMessage, SubcodeAttributeFlagsError, "c0010100", ErrAttributeFlags},
		{"AS_PATH segment type 5", fourOctet, update(t, aOrigin+"40 02 06 05 01 0000fde9 "+aNextHop, nlri8), TreatAsWithdraw, CodeUpdateMessage, SubcodeMalformedASPath, "", ErrMalformedASPath},
		{"AS_PATH empty segment", fourOctet, update(t, aOrigin+"40 02 02 02 00 "+aNextHop, nlri8), TreatAsWithdraw, CodeUpdateMessage, SubcodeMalformedASPath, "", ErrMalformedASPath},
		{"AS_PATH segment overrun", fourOctet, update(t, aOrigin+"40 02 06 02 02 0000fde9 "+aNextHop, nlri8), TreatAsWithdraw, CodeUpdateMessage, SubcodeMalformedASPath, "", ErrMalformedASPath},
		{"AS_PATH 2-octet on 4-octet session", fourOctet, update(t, aOrigin+"40 02 04 02 01 fde9 "+aNextHop, nlri8), TreatAsWithdraw, CodeUpdateMessage, SubcodeMalformedASPath, "", ErrMalformedASPath},
		{"NEXT_HOP length 5", fourOctet, update(t, aOrigin+aASPath+"40 03 05 c000020100", nlri8), TreatAsWithdraw, CodeUpdateMessage, SubcodeAttributeLengthError, "-", ErrAttributeLength},
		{"NEXT_HOP missing", fourOctet, update(t, aOrigin+aASPath, nlri8), TreatAsWithdraw, CodeUpdateMessage, SubcodeMissingWellKnownAttr, "03", ErrMissingWellKnown},
		{"ORIGIN missing", fourOctet, update(t, aASPath+aNextHop, nlri8), TreatAsWithdraw, CodeUpdateMessage, SubcodeMissingWellKnownAttr, "01", ErrMissingWellKnown},
		{"AS_PATH missing with MP_REACH", fourOctet, update(t, "80 0e 17 0002 01 10 20010db8000000000000000000000001 00 08 20 "+aOrigin, ""), TreatAsWithdraw, CodeUpdateMessage, SubcodeMissingWellKnownAttr, "02", ErrMissingWellKnown},
		{"MED length 3", fourOctet, update(t, aValid+"80 04 03 000001", nlri8), TreatAsWithdraw, CodeUpdateMessage, SubcodeAttributeLengthError, "-", ErrAttributeLength},
		{"LOCAL_PREF length 0", fourOctet, update(t, aValid+"40 05 00", nlri8), TreatAsWithdraw, CodeUpdateMessage, SubcodeAttributeLengthError, "-", ErrAttributeLength},
		{"ATOMIC_AGGREGATE length 1", fourOctet, update(t, aValid+"40 06 01 00", nlri8), AttributeDiscard, CodeUpdateMessage, SubcodeAttributeLengthError, "40060100", ErrAttributeLength},
		{"AGGREGATOR length 7", fourOctet, update(t, aValid+"c0 07 07 00000001 010203", nlri8), AttributeDiscard, CodeUpdateMessage, SubcodeAttributeLengthError, "-", ErrAttributeLength},
		{"AGGREGATOR 4-octet on 2-octet session", Session{}, update(t, aOrigin+"40 02 04 02 01 fde9 "+aNextHop+"c0 07 08 00000001 01020304", nlri8), AttributeDiscard, CodeUpdateMessage, SubcodeAttributeLengthError, "-", ErrAttributeLength},
		{"COMMUNITIES length 3", fourOctet, update(t, aValid+"c0 08 03 000001", nlri8), TreatAsWithdraw, CodeUpdateMessage, SubcodeAttributeLengthError, "-", ErrAttributeLength},
		{"COMMUNITIES length 0", fourOctet, update(t, aValid+"c0 08 00", nlri8), TreatAsWithdraw, CodeUpdateMessage, SubcodeAttributeLengthError, "-", ErrAttributeLength},
		{"COMMUNITIES not transitive", fourOctet, update(t, aValid+"80 08 04 00000001", nlri8), TreatAsWithdraw, CodeUpdateMessage, SubcodeAttributeFlagsError, "-", ErrAttributeFlags},
		{"EXTENDED_COMMUNITIES length 4", fourOctet, update(t, aValid+"c0 10 04 00000001", nlri8), TreatAsWithdraw, CodeUpdateMessage, SubcodeAttributeLengthError, "-", ErrAttributeLength},
		{"LARGE_COMMUNITIES length 8", fourOctet, update(t, aValid+"c0 20 08 0000000100000002", nlri8), TreatAsWithdraw, CodeUpdateMessage, SubcodeAttributeLengthError, "-", ErrAttributeLength},
		{"AS4_PATH with confederation", Session{}, update(t, aOrigin+"40 02 04 02 01 5ba0 "+aNextHop+"c0 11 06 03 01 00030d40", nlri8), AttributeDiscard, CodeUpdateMessage, SubcodeOptionalAttributeError, "-", ErrOptionalAttribute},
		{"duplicate MED", fourOctet, update(t, aValid+"80 04 04 00000001 80 04 04 00000002", nlri8), AttributeDiscard, CodeUpdateMessage, SubcodeMalformedAttributeList, "800404 00000002", ErrMalformedAttributeList},
		{"duplicate MP_UNREACH", fourOctet, update(t, "80 0f 03 000201 80 0f 03 000201", ""), SessionReset, CodeUpdateMessage, SubcodeMalformedAttributeList, "", ErrMalformedAttributeList},
		{"MP_REACH next hop length 15", fourOctet, update(t, "80 0e 16 0002 01 0f 20010db80000000000000000000000 00 08 20 "+aOrigin+aASPath, ""), SessionReset, CodeUpdateMessage, SubcodeOptionalAttributeError, "-", ErrMalformedMP},
		{"MP_REACH NLRI /129", fourOctet, update(t, "80 0e 17 0002 01 10 20010db8000000000000000000000001 00 81 20 "+aOrigin+aASPath, ""), SessionReset, CodeUpdateMessage, SubcodeOptionalAttributeError, "-", ErrMalformedMP},
		{"MP_REACH marked transitive", fourOctet, update(t, "c0 0e 16 0002 01 10 20010db8000000000000000000000001 00 00 "+aOrigin+aASPath, ""), SessionReset, CodeUpdateMessage, SubcodeAttributeFlagsError, "-", ErrAttributeFlags},
		{"MP_UNREACH truncated", fourOctet, update(t, "80 0f 02 0002", ""), SessionReset, CodeUpdateMessage, SubcodeOptionalAttributeError, "800f020002", ErrMalformedMP},
		{"MP_REACH unknown family", fourOctet, update(t, "80 0e 06 0019 46 01 00 00 "+aValid, nlri8), AttributeDiscard, CodeUpdateMessage, SubcodeOptionalAttributeError, "-", ErrMalformedMP},
		{"unrecognized well-known attribute", fourOctet, update(t, aValid+"40 63 00", nlri8), SessionReset, CodeUpdateMessage, SubcodeUnrecognizedWellKnownAttr, "406300", ErrUnrecognizedWellKnown},
		{"attribute header truncated", fourOctet, update(t, aValid+"c0 08", nlri8), TreatAsWithdraw, CodeUpdateMessage, SubcodeMalformedAttributeList, "", ErrMalformedAttributeList},
		{"attribute overruns the attribute field", fourOctet, update(t, aValid+"c0 08 08 00000001", nlri8), TreatAsWithdraw, CodeUpdateMessage, SubcodeAttributeLengthError, "", ErrAttributeLength},
		// The strongest error wins: a discard then a withdraw.
		{"discard and withdraw", fourOctet, update(t, aValid+"40 06 01 00 c0 08 03 000001", nlri8), TreatAsWithdraw, CodeUpdateMessage, SubcodeAttributeLengthError, "-", ErrAttributeLength},
		// RFC 7313 §5.
		{"ROUTE-REFRESH of 24 bytes", fourOctet, wire(t, TypeRouteRefresh, "0001 00 01 00"), SessionReset, CodeRouteRefreshMessage, SubcodeInvalidMessageLength, "", ErrMalformedRouteRefresh},
	}
	// The attribute each error names; every other case names none.
	wantAttr := map[string]AttrType{
		"ORIGIN 3": AttrOrigin, "ORIGIN length 2": AttrOrigin, "ORIGIN marked optional": AttrOrigin,
		"AS_PATH segment type 5": AttrASPath, "AS_PATH empty segment": AttrASPath, "AS_PATH segment overrun": AttrASPath,
		"AS_PATH 2-octet on 4-octet session": AttrASPath, "NEXT_HOP length 5": AttrNextHop,
		"NEXT_HOP missing": AttrNextHop, "ORIGIN missing": AttrOrigin, "AS_PATH missing with MP_REACH": AttrASPath,
		"MED length 3": AttrMED, "LOCAL_PREF length 0": AttrLocalPref, "ATOMIC_AGGREGATE length 1": AttrAtomicAggregate,
		"AGGREGATOR length 7": AttrAggregator, "AGGREGATOR 4-octet on 2-octet session": AttrAggregator,
		"COMMUNITIES length 3": AttrCommunities, "COMMUNITIES length 0": AttrCommunities,
		"COMMUNITIES not transitive": AttrCommunities, "EXTENDED_COMMUNITIES length 4": AttrExtendedCommunities,
		"LARGE_COMMUNITIES length 8": AttrLargeCommunities, "AS4_PATH with confederation": AttrAS4Path,
		"duplicate MED": AttrMED, "duplicate MP_UNREACH": AttrMPUnreachNLRI,
		"MP_REACH next hop length 15": AttrMPReachNLRI, "MP_REACH NLRI /129": AttrMPReachNLRI,
		"MP_REACH marked transitive": AttrMPReachNLRI, "MP_UNREACH truncated": AttrMPUnreachNLRI,
		"MP_REACH unknown family": AttrMPReachNLRI, "unrecognized well-known attribute": 0x63,
		"attribute header truncated": AttrCommunities, "attribute overruns the attribute field": AttrCommunities,
		"discard and withdraw": AttrCommunities,
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var m Message
			err := m.Decode(tt.msg, tt.s)
			var ne *NotificationError
			if !errors.As(err, &ne) {
				t.Fatalf("error %v is not a *NotificationError", err)
			}
			got := []any{ne.Action, ne.Code, ne.Subcode}
			if diff := cmp.Diff([]any{tt.action, tt.code, tt.subcode}, got); diff != "" {
				t.Errorf("action, code, subcode (-want +got):\n%s\nerror: %v", diff, err)
			}
			if tt.data != "-" {
				if diff := cmp.Diff(unhex(t, tt.data), ne.Data, cmpOpts...); diff != "" {
					t.Errorf("data (-want +got):\n%s", diff)
				}
			}
			if !errors.Is(err, tt.is) {
				t.Errorf("errors.Is(%v, %v) is false", err, tt.is)
			}
			if ne.Attr != wantAttr[tt.name] {
				t.Errorf("names attribute %s, want %s", ne.Attr, wantAttr[tt.name])
			}
		})
	}
	for name := range wantAttr {
		found := false
		for _, tt := range tests {
			found = found || tt.name == name
		}
		if !found {
			t.Errorf("wantAttr names case %q that does not exist", name)
		}
	}
}

func TestNotificationString(t *testing.T) {
	tests := []struct {
		n    Notification
		want string
	}{
		{Notification{Code: CodeHoldTimerExpired}, "4/0 hold timer expired, unspecific"},
		{Notification{Code: CodeCease, Subcode: SubcodeAdministrativeShutdown, Data: AppendShutdownData(nil, "maintenance")},
			`6/2 cease, administrative shutdown: "maintenance"`},
		{Notification{Code: CodeCease, Subcode: SubcodeBFDDown}, "6/10 cease, BFD down"},
		{Notification{Code: CodeCease, Subcode: SubcodeHardReset, Data: []byte{4, 0}}, "6/9 cease, hard reset (cause 4/0 hold timer expired, unspecific)"},
		{Notification{Code: CodeOpenMessage, Subcode: SubcodeUnsupportedVersionNumber, Data: []byte{0, 4}}, "2/1 OPEN message error, unsupported version number, data 0004"},
		{Notification{Code: CodeUpdateMessage, Subcode: 42}, "3/42 UPDATE message error, subcode 42"},
		{Notification{Code: 99, Subcode: 1}, "99/1 error code 99, subcode 1"},
	}
	for _, tt := range tests {
		if got := tt.n.String(); got != tt.want {
			t.Errorf("%#v: %q, want %q", tt.n, got, tt.want)
		}
	}
	if got := AttrType(99).String(); got != "attribute 99" {
		t.Errorf("unknown attribute: %q", got)
	}
}

// A treat-as-withdraw UPDATE still yields its prefixes so that the caller can
// withdraw them, and an attribute discard keeps the valid attributes.
func TestDecodeKeepsWhatRFC7606Needs(t *testing.T) {
	var u Update
	err := u.Decode(update(t, "40 01 01 07 "+aASPath+aNextHop+"80 0e 17 0002 01 10 20010db8000000000000000000000001 00 08 20", "18 0a0000"), fourOctet)
	var ne *NotificationError
	if !errors.As(err, &ne) || ne.Action != TreatAsWithdraw {
		t.Fatalf("error %v, want treat-as-withdraw", err)
	}
	want := Update{NLRI: []netip.Prefix{pfx("10.0.0.0/24")}, HasMPReach: true,
		MPReach:    MPReach{Family: IPv6Unicast, NextHop: addr("2001:db8::1"), NLRI: []netip.Prefix{pfx("2000::/8")}},
		Attributes: Attributes{HasASPath: true, ASPath: []ASSegment{{ASSequence, []uint32{65001}}}, NextHop: addr("192.0.2.1")}}
	if diff := cmp.Diff(want, u, cmpOpts...); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}

	err = u.Decode(update(t, aValid+"40 06 01 00 80 04 04 00000005", nlri8), fourOctet)
	if !errors.As(err, &ne) || ne.Action != AttributeDiscard {
		t.Fatalf("error %v, want attribute discard", err)
	}
	if !u.HasMED || u.MED != 5 || u.AtomicAggregate {
		t.Errorf("MED %v %d, ATOMIC_AGGREGATE %v: want the MED kept and the malformed attribute dropped", u.HasMED, u.MED, u.AtomicAggregate)
	}
}

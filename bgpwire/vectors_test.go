package bgpwire

import (
	"bytes"
	"encoding/hex"
	"net/netip"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// unhex decodes hex written with spaces, newlines and "|" for readability.
func unhex(t testing.TB, s string) []byte {
	t.Helper()
	s = strings.NewReplacer(" ", "", "\n", "", "\t", "", "|", "").Replace(s)
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatalf("bad hex: %v", err)
	}
	return b
}

// wire builds a message from a hand-written body: the marker, the length
// (computed, so the vectors stay readable) and the type.
func wire(t testing.TB, typ MessageType, body string) []byte {
	b := unhex(t, body)
	h := append(bytes.Repeat([]byte{0xff}, 16), byte((HeaderLen+len(b))>>8), byte(HeaderLen+len(b)), byte(typ))
	return append(h, b...)
}

// vectors are messages written byte by byte from the RFCs' formats. Each is
// decoded and compared with want; canonical ones (those this package would
// send byte for byte) are also encoded from want and compared with the bytes.
func vectors(t testing.TB) []struct {
	name      string
	s         Session
	bytes     []byte
	want      Message
	canonical bool
} {
	gr := &GracefulRestart{Restarting: true, RestartTime: 120, Families: []GracefulRestartFamily{{IPv4Unicast, true}, {IPv6Unicast, false}}}
	return []struct {
		name      string
		s         Session
		bytes     []byte
		want      Message
		canonical bool
	}{
		{
			name:      "KEEPALIVE",
			bytes:     unhex(t, "ffffffffffffffffffffffffffffffff 0013 04"),
			want:      Message{Type: TypeKeepalive},
			canonical: true,
		},
		{
			// RFC 4271 §4.2, RFC 5492 capabilities in one parameter.
			name: "OPEN with every capability",
			bytes: wire(t, TypeOpen, "04 | fde9 | 005a | c0000201 | 2e | 02 2c"+
				"| 01 04 0001 00 01 | 01 04 0002 00 01"+ // multiprotocol IPv4, IPv6 unicast
				"| 02 00 | 46 00 | 06 00"+ // route refresh, enhanced route refresh, extended message
				"| 05 06 0001 0001 0002"+ // extended next hop: IPv4 unicast over IPv6
				"| 40 0a 8078 0001 01 80 0002 01 00"+ // graceful restart, R bit, 120 s
				"| 41 04 0000fde9"), // 4-octet AS 65001
			want: Message{Type: TypeOpen, Open: Open{
				Version: 4, AS: 65001, WireAS: 65001, HoldTime: 90, Identifier: addr("192.0.2.1"),
				Capabilities: Capabilities{
					Multiprotocol: []Family{IPv4Unicast, IPv6Unicast},
					RouteRefresh:  true, EnhancedRouteRefresh: true, ExtendedMessage: true,
					ExtendedNextHop: []ExtendedNextHop{{IPv4Unicast, AFIIPv6}},
					GracefulRestart: gr, FourOctetAS: true,
				},
			}},
			canonical: true,
		},
		{
			// RFC 6793: a 4-octet AS goes as AS_TRANS in My AS.
			name:  "OPEN with 4-octet AS, N bit and an unknown capability",
			bytes: wire(t, TypeOpen, "04 5ba0 00b4 0a000001 12 02 10 | 40 02 4000 | 41 04 00030d40 | 49 04 61626364"),
			want: Message{Type: TypeOpen, Open: Open{
				Version: 4, AS: 200000, WireAS: ASTrans, HoldTime: 180, Identifier: addr("10.0.0.1"),
				Capabilities: Capabilities{
					FourOctetAS:     true,
					GracefulRestart: &GracefulRestart{Notification: true},
					Unknown:         []RawCapability{{Code: 73, Value: []byte("abcd")}},
				},
			}},
			canonical: true,
		},
		{
			name:      "OPEN without capabilities, hold time 0",
			bytes:     wire(t, TypeOpen, "04 0064 0000 01020304 00"),
			want:      Message{Type: TypeOpen, Open: Open{Version: 4, AS: 100, WireAS: 100, Identifier: addr("1.2.3.4")}},
			canonical: true,
		},
		{
			name:  "OPEN with capabilities in separate parameters",
			bytes: wire(t, TypeOpen, "04 0064 00b4 01020304 08 02 02 0200 02 02 4600"),
			want: Message{Type: TypeOpen, Open: Open{Version: 4, AS: 100, WireAS: 100, HoldTime: 180, Identifier: addr("1.2.3.4"),
				Capabilities: Capabilities{RouteRefresh: true, EnhancedRouteRefresh: true}}},
		},
		{
			// RFC 9072 extended optional parameters length.
			name:  "OPEN with RFC 9072 extended parameters",
			bytes: wire(t, TypeOpen, "04 0064 00b4 01020304 ff ff 0005 02 0002 0200"),
			want: Message{Type: TypeOpen, Open: Open{Version: 4, AS: 100, WireAS: 100, HoldTime: 180, Identifier: addr("1.2.3.4"),
				Capabilities: Capabilities{RouteRefresh: true}}},
		},
		{
			// RFC 9003: Cease / administrative shutdown with a reason.
			name:      "NOTIFICATION administrative shutdown",
			bytes:     wire(t, TypeNotification, "06 02 0b 6d61696e74656e616e6365"),
			want:      Message{Type: TypeNotification, Notification: Notification{Code: CodeCease, Subcode: SubcodeAdministrativeShutdown, Data: []byte("\x0bmaintenance")}},
			canonical: true,
		},
		{
			// RFC 9687.
			name:      "NOTIFICATION send hold timer expired",
			bytes:     wire(t, TypeNotification, "08 00"),
			want:      Message{Type: TypeNotification, Notification: Notification{Code: CodeSendHoldTimerExpired}},
			canonical: true,
		},
		{
			name:      "ROUTE-REFRESH IPv4 unicast",
			bytes:     wire(t, TypeRouteRefresh, "0001 00 01"),
			want:      Message{Type: TypeRouteRefresh, RouteRefresh: RouteRefresh{Family: IPv4Unicast}},
			canonical: true,
		},
		{
			// RFC 7313 beginning of route refresh.
			name:      "ROUTE-REFRESH BoRR IPv6",
			bytes:     wire(t, TypeRouteRefresh, "0002 01 01"),
			want:      Message{Type: TypeRouteRefresh, RouteRefresh: RouteRefresh{Family: IPv6Unicast, Subtype: RouteRefreshBoRR}},
			canonical: true,
		},
		{
			name:      "ROUTE-REFRESH EoRR IPv4",
			bytes:     wire(t, TypeRouteRefresh, "0001 02 01"),
			want:      Message{Type: TypeRouteRefresh, RouteRefresh: RouteRefresh{Family: IPv4Unicast, Subtype: RouteRefreshEoRR}},
			canonical: true,
		},
		{
			name: "UPDATE IPv4 with every common attribute",
			s:    fourOctet,
			bytes: wire(t, TypeUpdate, "0000 | 0059"+
				"| 40 01 01 00"+ // ORIGIN IGP
				"| 40 02 0a 02 02 0000fde9 0000fdea"+ // AS_PATH sequence 65001 65002
				"| 40 03 04 c0000201"+ // NEXT_HOP 192.0.2.1
				"| 80 04 04 00000064"+ // MED 100
				"| 40 05 04 000000c8"+ // LOCAL_PREF 200
				"| 40 06 00"+ // ATOMIC_AGGREGATE
				"| c0 07 08 0000fde9 c0000201"+ // AGGREGATOR 65001 192.0.2.1
				"| c0 08 08 fde90064 ffffff01"+ // COMMUNITIES 65001:100 no-export
				"| c0 10 08 0002fde900000064"+ // EXTENDED_COMMUNITIES route target 65001:100
				"| c0 20 0c 0000fde9 00000001 00000002"+ // LARGE_COMMUNITIES 65001:1:2
				"| 18 c63364 | 20 c0000205"), // 198.51.100.0/24, 192.0.2.5/32
			want: Message{Type: TypeUpdate, Update: Update{
				Attributes: Attributes{
					HasOrigin: true, Origin: OriginIGP,
					HasASPath: true, ASPath: []ASSegment{{ASSequence, []uint32{65001, 65002}}},
					NextHop: addr("192.0.2.1"),
					HasMED:  true, MED: 100, HasLocalPref: true, LocalPref: 200, AtomicAggregate: true,
					HasAggregator: true, Aggregator: Aggregator{65001, addr("192.0.2.1")},
					Communities:         []Community{NewCommunity(65001, 100), CommunityNoExport},
					ExtendedCommunities: []ExtendedCommunity{{0, 2, 0xfd, 0xe9, 0, 0, 0, 100}},
					LargeCommunities:    []LargeCommunity{{65001, 1, 2}},
				},
				NLRI: []netip.Prefix{pfx("198.51.100.0/24"), pfx("192.0.2.5/32")},
			}},
			canonical: true,
		},
		{
			// RFC 4760 + RFC 2545: 32-byte next hop (global + link-local).
			name: "UPDATE IPv6 MP_REACH with link-local next hop",
			s:    fourOctet,
			bytes: wire(t, TypeUpdate, "0000 | 0038"+
				"| 80 0e 2e 0002 01 20 20010db8000000000000000000000001 fe800000000000000000000000000001 00 40 20010db800010000"+
				"| 40 01 01 02"+ // ORIGIN incomplete
				"| 40 02 00"), // empty AS_PATH (iBGP)
			want: Message{Type: TypeUpdate, Update: Update{
				Attributes: Attributes{HasOrigin: true, Origin: OriginIncomplete, HasASPath: true},
				HasMPReach: true,
				MPReach: MPReach{Family: IPv6Unicast, NextHop: addr("2001:db8::1"), LinkLocalNextHop: addr("fe80::1"),
					NLRI: []netip.Prefix{pfx("2001:db8:1::/64")}},
			}},
			canonical: true,
		},
		{
			// RFC 8950: IPv4 NLRI with an IPv6 next hop; non-extended
			// length form, as peers may send it.
			name: "UPDATE IPv4 over IPv6 next hop",
			s:    fourOctet,
			bytes: wire(t, TypeUpdate, "0000 | 002a"+
				"| 80 0e 1a 0001 01 10 20010db8000000000000000000000001 00 20 c0000263"+
				"| 40 01 01 00 | 40 02 06 02 01 0000fde9"),
			want: Message{Type: TypeUpdate, Update: Update{
				Attributes: Attributes{HasOrigin: true, HasASPath: true, ASPath: []ASSegment{{ASSequence, []uint32{65001}}}},
				HasMPReach: true,
				MPReach:    MPReach{Family: IPv4Unicast, NextHop: addr("2001:db8::1"), NLRI: []netip.Prefix{pfx("192.0.2.99/32")}},
			}},
		},
		{
			name:      "UPDATE IPv6 MP_UNREACH",
			s:         fourOctet,
			bytes:     wire(t, TypeUpdate, "0000 | 000f | 80 0f 0c 0002 01 40 20010db800020000"),
			want:      Message{Type: TypeUpdate, Update: Update{HasMPUnreach: true, MPUnreach: MPUnreach{Family: IPv6Unicast, Withdrawn: []netip.Prefix{pfx("2001:db8:2::/64")}}}},
			canonical: true,
		},
		{
			// The extended length form is legal for any length.
			name:  "UPDATE IPv6 MP_UNREACH with extended length",
			s:     fourOctet,
			bytes: wire(t, TypeUpdate, "0000 | 0010 | 90 0f 000c 0002 01 40 20010db800020000"),
			want:  Message{Type: TypeUpdate, Update: Update{HasMPUnreach: true, MPUnreach: MPUnreach{Family: IPv6Unicast, Withdrawn: []netip.Prefix{pfx("2001:db8:2::/64")}}}},
		},
		{
			name:      "UPDATE IPv4 withdrawal",
			bytes:     wire(t, TypeUpdate, "0009 | 20 c0000205 | 18 c63364 | 0000"),
			want:      Message{Type: TypeUpdate, Update: Update{Withdrawn: []netip.Prefix{pfx("192.0.2.5/32"), pfx("198.51.100.0/24")}}},
			canonical: true,
		},
		{
			name:      "End-of-RIB IPv4",
			bytes:     wire(t, TypeUpdate, "0000 0000"),
			want:      Message{Type: TypeUpdate},
			canonical: true,
		},
		{
			name:  "End-of-RIB IPv6",
			bytes: wire(t, TypeUpdate, "0000 0006 80 0f 03 0002 01"),
			want:  Message{Type: TypeUpdate, Update: Update{HasMPUnreach: true, MPUnreach: MPUnreach{Family: IPv6Unicast}}},
		},
		{
			// RFC 6793 §4.2.2: towards a 2-octet peer, AS 200000 becomes
			// AS_TRANS in AS_PATH and AGGREGATOR; the truth travels in
			// AS4_PATH and AS4_AGGREGATOR.
			name: "UPDATE to a 2-octet peer with AS4_PATH",
			s:    Session{},
			bytes: wire(t, TypeUpdate, "0000 | 0034"+
				"| 40 01 01 00 | 40 02 04 02 01 5ba0 | 40 03 04 c0000201"+
				"| c0 07 06 5ba0 c0000201"+
				"| c0 11 06 02 01 00030d40 | c0 12 08 00030d40 c0000201"+
				"| e0 63 02 abcd"+ // unknown optional transitive, Partial already set
				"| 18 c63364"),
			want: Message{Type: TypeUpdate, Update: Update{
				Attributes: Attributes{
					HasOrigin: true, HasASPath: true, ASPath: []ASSegment{{ASSequence, []uint32{ASTrans}}},
					NextHop:       addr("192.0.2.1"),
					HasAggregator: true, Aggregator: Aggregator{ASTrans, addr("192.0.2.1")},
					AS4Path:          []ASSegment{{ASSequence, []uint32{200000}}},
					HasAS4Aggregator: true, AS4Aggregator: Aggregator{200000, addr("192.0.2.1")},
					Unknown: []RawAttribute{{Flags: 0xe0, Type: 99, Value: []byte{0xab, 0xcd}}},
				},
				NLRI: []netip.Prefix{pfx("198.51.100.0/24")},
			}},
			canonical: true,
		},
		{
			// An unknown optional transitive attribute without Partial is
			// kept with Partial set (RFC 4271 §5); an unknown optional
			// non-transitive one (ORIGINATOR_ID here) is dropped.
			name:  "UPDATE with unknown optional attributes",
			s:     fourOctet,
			bytes: wire(t, TypeUpdate, "0000 | 0019 | 40 01 01 00 | 40 02 00 | 40 03 04 c0000201 | c0 63 01 ff | 80 09 04 01020304 | 08 0a"),
			want: Message{Type: TypeUpdate, Update: Update{
				Attributes: Attributes{HasOrigin: true, HasASPath: true, NextHop: addr("192.0.2.1"),
					Unknown: []RawAttribute{{Flags: 0xe0, Type: 99, Value: []byte{0xff}}}},
				NLRI: []netip.Prefix{pfx("10.0.0.0/8")},
			}},
		},
	}
}

func TestVectors(t *testing.T) {
	for _, v := range vectors(t) {
		t.Run(v.name, func(t *testing.T) {
			var got Message
			if err := got.Decode(v.bytes, v.s); err != nil {
				t.Fatalf("decode: %v", err)
			}
			if diff := cmp.Diff(v.want, got, cmpOpts...); diff != "" {
				t.Errorf("decoded (-want +got):\n%s", diff)
			}
			if !v.canonical {
				return
			}
			enc, err := AppendMessage(nil, v.s, &v.want)
			if err != nil {
				t.Fatalf("encode: %v", err)
			}
			if !bytes.Equal(enc, v.bytes) {
				t.Errorf("encoded\n got %x\nwant %x", enc, v.bytes)
			}
		})
	}
}

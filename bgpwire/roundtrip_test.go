package bgpwire

import (
	"bytes"
	"net/netip"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// roundTrips are values that encode and decode back to themselves.
func roundTrips() []struct {
	name string
	s    Session
	m    Message
} {
	full := Attributes{
		HasOrigin: true, Origin: OriginEGP,
		HasASPath: true, ASPath: []ASSegment{{ASSequence, []uint32{65001, 4200000000}}, {ASSet, []uint32{1, 2, 3}}},
		NextHop: addr("203.0.113.1"),
		HasMED:  true, MED: 1 << 31, HasLocalPref: true, LocalPref: 100, AtomicAggregate: true,
		HasAggregator: true, Aggregator: Aggregator{4200000000, addr("203.0.113.2")},
		Communities:         []Community{CommunityGracefulShutdown, CommunityBlackhole, CommunityNoAdvertise, CommunityNoExportSubconfed, CommunityNoPeer, CommunityAcceptOwn, CommunityLLGRStale, CommunityNoLLGR},
		ExtendedCommunities: []ExtendedCommunity{{0x00, 0x02, 1, 2, 3, 4, 5, 6}, {0x43, 0x03, 0, 0, 0, 0, 0, 8}},
		LargeCommunities:    []LargeCommunity{{4200000000, 0, 1}, {1, 2, 3}},
		Unknown:             []RawAttribute{{Flags: 0xe0, Type: 200, Value: bytes.Repeat([]byte{7}, 300)}},
	}
	longPath := make([]uint32, 300) // split into 255 + 45 on the wire
	for i := range longPath {
		longPath[i] = uint32(i + 1)
	}
	return []struct {
		name string
		s    Session
		m    Message
	}{
		{"keepalive", fourOctet, Message{Type: TypeKeepalive}},
		{"open minimal", fourOctet, Message{Type: TypeOpen, Open: Open{Version: 4, AS: 64512, WireAS: 64512, HoldTime: 3, Identifier: addr("10.1.2.3")}}},
		{"open big", fourOctet, Message{Type: TypeOpen, Open: Open{Version: 4, AS: 4200000000, WireAS: ASTrans, HoldTime: 65535, Identifier: addr("255.255.255.255"),
			Capabilities: Capabilities{
				Multiprotocol: []Family{IPv4Unicast, IPv6Unicast, {AFIIPv4, 4}}, RouteRefresh: true, FourOctetAS: true,
				GracefulRestart: &GracefulRestart{Restarting: true, Notification: true, RestartTime: 4095, Families: []GracefulRestartFamily{{IPv6Unicast, true}}},
				Unknown:         []RawCapability{{Code: 128, Value: nil}, {Code: 9, Value: []byte{1, 2}}},
			}}}},
		// Capabilities longer than 255 bytes need RFC 9072.
		{"open with RFC 9072 length", fourOctet, Message{Type: TypeOpen, Open: Open{Version: 4, AS: 1, WireAS: 1, HoldTime: 90, Identifier: addr("1.1.1.1"),
			Capabilities: Capabilities{Unknown: []RawCapability{{Code: 200, Value: bytes.Repeat([]byte{1}, 200)}, {Code: 201, Value: bytes.Repeat([]byte{2}, 200)}}}}}},
		{"notification hard reset", fourOctet, Message{Type: TypeNotification, Notification: Notification{Code: CodeCease, Subcode: SubcodeHardReset, Data: []byte{byte(CodeHoldTimerExpired), 0}}}},
		{"notification FSM error", fourOctet, Message{Type: TypeNotification, Notification: Notification{Code: CodeFSM, Subcode: SubcodeFSMUnexpectedInOpenConfirm}}},
		{"notification BFD down", fourOctet, Message{Type: TypeNotification, Notification: Notification{Code: CodeCease, Subcode: SubcodeBFDDown}}},
		{"route refresh", fourOctet, Message{Type: TypeRouteRefresh, RouteRefresh: RouteRefresh{Family: IPv6Unicast, Subtype: RouteRefreshEoRR}}},
		{"update full IPv4", fourOctet, Message{Type: TypeUpdate, Update: Update{Attributes: full, Withdrawn: []netip.Prefix{pfx("0.0.0.0/0"), pfx("10.128.0.0/9")}, NLRI: []netip.Prefix{pfx("192.0.2.0/24"), pfx("198.51.100.7/32")}}}},
		{"update long AS path", fourOctet, Message{Type: TypeUpdate, Update: Update{Attributes: Attributes{HasOrigin: true, HasASPath: true, ASPath: []ASSegment{{ASSequence, longPath[:255]}, {ASSequence, longPath[255:]}}, NextHop: addr("10.0.0.1")}, NLRI: []netip.Prefix{pfx("10.0.0.0/8")}}}},
		{"update IPv6 both MP attributes", fourOctet, Message{Type: TypeUpdate, Update: Update{
			Attributes: Attributes{HasOrigin: true, HasASPath: true, LargeCommunities: []LargeCommunity{{1, 2, 3}}},
			HasMPReach: true, MPReach: MPReach{Family: IPv6Unicast, NextHop: addr("2001:db8::1"), NLRI: []netip.Prefix{pfx("::/0"), pfx("2001:db8:ffff::/48"), pfx("2001:db8::1/128")}},
			HasMPUnreach: true, MPUnreach: MPUnreach{Family: IPv6Unicast, Withdrawn: []netip.Prefix{pfx("2001:db8:1::/64")}},
		}}},
		{"update IPv4 unreach in MP", fourOctet, Message{Type: TypeUpdate, Update: Update{HasMPUnreach: true, MPUnreach: MPUnreach{Family: IPv4Unicast, Withdrawn: []netip.Prefix{pfx("10.0.0.0/8")}}}}},
		{"update IPv4 MP with IPv4 next hop", fourOctet, Message{Type: TypeUpdate, Update: Update{Attributes: Attributes{HasOrigin: true, HasASPath: true},
			HasMPReach: true, MPReach: MPReach{Family: IPv4Unicast, NextHop: addr("10.0.0.1"), NLRI: []netip.Prefix{pfx("10.0.0.0/8")}}}}},
		{"update 2-octet session", Session{}, Message{Type: TypeUpdate, Update: Update{Attributes: Attributes{HasOrigin: true, HasASPath: true,
			ASPath: []ASSegment{{ASSequence, []uint32{ASTrans, 100}}}, AS4Path: []ASSegment{{ASSequence, []uint32{4200000000, 100}}},
			HasAggregator: true, Aggregator: Aggregator{ASTrans, addr("1.2.3.4")}, HasAS4Aggregator: true, AS4Aggregator: Aggregator{4200000000, addr("1.2.3.4")},
			NextHop: addr("1.2.3.4")}, NLRI: []netip.Prefix{pfx("10.0.0.0/8")}}}},
	}
}

func TestRoundTrip(t *testing.T) {
	for _, tt := range roundTrips() {
		t.Run(tt.name, func(t *testing.T) {
			b, err := AppendMessage(nil, tt.s, &tt.m)
			if err != nil {
				t.Fatalf("encode: %v", err)
			}
			var got Message
			if err := got.Decode(b, tt.s); err != nil {
				t.Fatalf("decode: %v", err)
			}
			if diff := cmp.Diff(tt.m, got, cmpOpts...); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

// Towards a 2-octet peer the encoder derives AS_TRANS, AS4_PATH and
// AS4_AGGREGATOR from the 4-octet values (RFC 6793 §4.2.2).
func TestTwoOctetPeerEncoding(t *testing.T) {
	a := &Attributes{ASPath: []ASSegment{{ASConfedSequence, []uint32{65000}}, {ASSequence, []uint32{4200000000, 65001}}},
		HasAggregator: true, Aggregator: Aggregator{4200000000, addr("192.0.2.1")}}
	b, err := AppendAnnounce(nil, Session{}, a, NextHop{Addr: addr("192.0.2.1")}, []netip.Prefix{pfx("10.0.0.0/8")})
	if err != nil {
		t.Fatal(err)
	}
	var u Update
	if err := u.Decode(b, Session{}); err != nil {
		t.Fatal(err)
	}
	want := Attributes{HasOrigin: true, HasASPath: true, NextHop: addr("192.0.2.1"),
		ASPath:        []ASSegment{{ASConfedSequence, []uint32{65000}}, {ASSequence, []uint32{ASTrans, 65001}}},
		AS4Path:       []ASSegment{{ASSequence, []uint32{4200000000, 65001}}}, // no confederation segments
		HasAggregator: true, Aggregator: Aggregator{ASTrans, addr("192.0.2.1")},
		HasAS4Aggregator: true, AS4Aggregator: Aggregator{4200000000, addr("192.0.2.1")}}
	if diff := cmp.Diff(want, u.Attributes, cmpOpts...); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	// No AS4 attributes when every AS fits in 2 octets.
	b, _ = AppendAnnounce(b[:0], Session{}, minimalAttrs(), NextHop{Addr: addr("192.0.2.1")}, []netip.Prefix{pfx("10.0.0.0/8")})
	if err := u.Decode(b, Session{}); err != nil || len(u.AS4Path) != 0 {
		t.Errorf("AS4_PATH %v (err %v), want none", u.AS4Path, err)
	}
}

func TestEndOfRIB(t *testing.T) {
	for _, f := range []Family{IPv4Unicast, IPv6Unicast} {
		var u Update
		if err := u.Decode(AppendEndOfRIB(nil, f), fourOctet); err != nil {
			t.Fatal(err)
		}
		if got, ok := u.IsEndOfRIB(); !ok || got != f {
			t.Errorf("IsEndOfRIB = %v, %v; want %v, true", got, ok, f)
		}
	}
	var u Update
	b, _ := AppendWithdraw(nil, fourOctet, []netip.Prefix{pfx("2001:db8::/32")})
	if err := u.Decode(b, fourOctet); err != nil {
		t.Fatal(err)
	}
	if _, ok := u.IsEndOfRIB(); ok {
		t.Error("a withdrawal is not End-of-RIB")
	}
}

func TestShutdownCommunication(t *testing.T) {
	long := strings.Repeat("é", 200) // 400 bytes: cut at 254, a character boundary
	tests := []struct {
		name, reason, want string
	}{
		{"ascii", "planned maintenance, back at 06:00", "planned maintenance, back at 06:00"},
		{"empty", "", ""},
		{"truncated at a rune boundary", long, long[:254]},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := Notification{Code: CodeCease, Subcode: SubcodeAdministrativeShutdown, Data: AppendShutdownData(nil, tt.reason)}
			var m Message
			if err := m.Decode(AppendNotification(nil, n, MaxMessageLen), fourOctet); err != nil {
				t.Fatal(err)
			}
			got, ok := m.Notification.ShutdownReason()
			if !ok || got != tt.want {
				t.Errorf("ShutdownReason = %q, %v; want %q, true", got, ok, tt.want)
			}
		})
	}
	bad := []Notification{
		{Code: CodeCease, Subcode: SubcodeAdministrativeReset, Data: []byte{5, 'a'}},        // length past the end
		{Code: CodeCease, Subcode: SubcodeAdministrativeReset, Data: []byte{2, 0xff, 0xfe}}, // not UTF-8
		{Code: CodeCease, Subcode: SubcodePeerDeconfigured, Data: []byte{1, 'a'}},           // not a shutdown
	}
	for _, n := range bad {
		if r, ok := n.ShutdownReason(); ok {
			t.Errorf("%+v: ShutdownReason = %q, want none", n, r)
		}
	}
	hr := Notification{Code: CodeCease, Subcode: SubcodeHardReset, Data: AppendHardResetData(nil, Notification{Code: CodeCease, Subcode: SubcodeAdministrativeReset})}
	if c, s, ok := hr.HardResetCause(); !ok || c != CodeCease || s != SubcodeAdministrativeReset {
		t.Errorf("HardResetCause = %v %v %v", c, s, ok)
	}
}

func TestNotificationTruncatedToMax(t *testing.T) {
	b := AppendNotification(nil, Notification{Code: CodeUpdateMessage, Subcode: 1, Data: make([]byte, 5000)}, MaxMessageLen)
	if len(b) != MaxMessageLen {
		t.Errorf("%d bytes, want %d", len(b), MaxMessageLen)
	}
}

func TestNegotiate(t *testing.T) {
	local := &Open{Capabilities: Capabilities{FourOctetAS: true, ExtendedMessage: true}}
	remote := &Open{Capabilities: Capabilities{FourOctetAS: true}}
	if got, want := Negotiate(local, remote), (Session{FourOctetAS: true}); got != want {
		t.Errorf("Negotiate = %+v, want %+v", got, want)
	}
	if got := (Session{ExtendedMessage: true}).MaxLen(); got != 65535 {
		t.Errorf("MaxLen = %d", got)
	}
}

// The packer budgets NLRI with attributesLen before it encodes, so the two
// must agree for every attribute set.
func TestAttributesLen(t *testing.T) {
	var sets []Attributes
	for _, r := range roundTrips() {
		sets = append(sets, r.m.Update.Attributes)
	}
	for _, v := range vectors(t) {
		sets = append(sets, v.want.Update.Attributes)
	}
	big := *minimalAttrs()
	big.Communities = make([]Community, 100) // extended length
	big.Unknown = []RawAttribute{{Flags: 0xc0, Type: 99, Value: []byte{1}}, {Flags: 0xc0, Type: 99}, {Flags: 0x80, Type: 98}, {Flags: 0xc0, Type: AttrOrigin}}
	sets = append(sets, big)
	for i, a := range sets {
		for _, s := range []Session{{}, fourOctet} {
			for _, nh := range []netip.Addr{{}, addr("192.0.2.1")} {
				for _, mandatory := range []bool{false, true} {
					want := len(appendAttributes(nil, &a, s, nh, mandatory))
					if got := attributesLen(&a, s, nh, mandatory); got != want {
						t.Errorf("set %d, %+v, next hop %v, mandatory %v: attributesLen %d, encoded %d", i, s, nh, mandatory, got, want)
					}
				}
			}
		}
	}
}

package bgpwire

import (
	"errors"
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var fourOctet = Session{FourOctetAS: true}

// minimalAttrs are the attributes of a plain eBGP announcement: ORIGIN
// (4 bytes), AS_PATH with one 4-octet AS (3+2+4 = 9) and, for IPv4, NEXT_HOP
// (7): 20 bytes.
func minimalAttrs() *Attributes {
	return &Attributes{Origin: OriginIGP, ASPath: []ASSegment{{Type: ASSequence, ASNs: []uint32{64512}}}}
}

func TestAnnouncePacking(t *testing.T) {
	withComms := minimalAttrs()
	withComms.Communities = []Community{NewCommunity(64512, 100), CommunityNoExport} // +3+8 = 11
	v4nh := NextHop{Addr: addr("192.0.2.1")}
	v6nh := NextHop{Addr: addr("2001:db8::1")}
	v6nhLL := NextHop{Addr: addr("2001:db8::1"), LinkLocal: addr("fe80::1")}
	tests := []struct {
		name     string
		s        Session
		attrs    *Attributes
		nh       NextHop
		prefixes []netip.Prefix
		// perMessage is the prefix count of each message; sizes are
		// derived below and checked against the session maximum.
		perMessage []int
	}{
		// 23 fixed + 20 attrs + 810*5 = 4093 <= 4096; 811 would be 4098.
		{"810 IPv4 /32 in one message", fourOctet, minimalAttrs(), v4nh, hostPrefixes("10.0.0.0", 810), []int{810}},
		{"811 IPv4 /32 need two", fourOctet, minimalAttrs(), v4nh, hostPrefixes("10.0.0.0", 811), []int{810, 1}},
		// 23 + 20 + 11 + 808*5 = 4094; 809 would be 4099.
		{"808 IPv4 /32 with 2 communities", fourOctet, withComms, v4nh, hostPrefixes("10.0.0.0", 809), []int{808, 1}},
		// 23 + MP_REACH head 25 + ORIGIN 4 + AS_PATH 9 + 237*17 = 4090; 238 would be 4107.
		{"237 IPv6 /128 in one message", fourOctet, minimalAttrs(), v6nh, hostPrefixes("2001:db8:1::", 475), []int{237, 237, 1}},
		// 23 + 25 + 13 + 11 + 236*17 = 4084; 237 would be 4101.
		{"236 IPv6 /128 with 2 communities", fourOctet, withComms, v6nh, hostPrefixes("2001:db8:1::", 236), []int{236}},
		// a 32-byte next hop costs 16 more: 23 + 41 + 13 + 236*17 = 4089.
		{"IPv6 with link-local next hop", fourOctet, minimalAttrs(), v6nhLL, hostPrefixes("2001:db8:1::", 237), []int{236, 1}},
		// RFC 8950: 23 + (4+3+1+16+1) + 13 + 5*k; (4096-61)/5 = 807.
		{"IPv4 over IPv6 next hop", fourOctet, minimalAttrs(), v6nh, hostPrefixes("10.0.0.0", 808), []int{807, 1}},
		// extended message: (65535-43)/5 = 13098.
		{"extended message IPv4", Session{FourOctetAS: true, ExtendedMessage: true}, minimalAttrs(), v4nh, hostPrefixes("10.0.0.0", 13099), []int{13098, 1}},
		// 2-octet session: AS_PATH shrinks to 7 bytes, so 23+18+5k: 811.
		{"2-octet AS session", Session{}, minimalAttrs(), v4nh, hostPrefixes("10.0.0.0", 811), []int{811}},
		{"short prefixes", fourOctet, minimalAttrs(), v4nh, []netip.Prefix{pfx("10.0.0.0/8"), pfx("0.0.0.0/0"), pfx("192.0.2.0/25")}, []int{3}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := AppendAnnounce(nil, tt.s, tt.attrs, tt.nh, tt.prefixes)
			if err != nil {
				t.Fatal(err)
			}
			msgs := splitMessages(t, out, tt.s)
			var got []int
			var all []netip.Prefix
			var u Update
			for _, m := range msgs {
				if len(m) > tt.s.MaxLen() {
					t.Errorf("message of %d bytes exceeds %d", len(m), tt.s.MaxLen())
				}
				if err := u.Decode(m, tt.s); err != nil {
					t.Fatalf("decode own message: %v", err)
				}
				n := len(u.NLRI) + len(u.MPReach.NLRI)
				got = append(got, n)
				all = append(all, u.NLRI...)
				all = append(all, u.MPReach.NLRI...)
				wantNH := tt.nh.Addr
				if u.HasMPReach {
					if u.MPReach.NextHop != wantNH || u.MPReach.LinkLocalNextHop != tt.nh.LinkLocal {
						t.Errorf("MP next hop %v %v, want %v", u.MPReach.NextHop, u.MPReach.LinkLocalNextHop, tt.nh)
					}
				} else if u.NextHop != wantNH {
					t.Errorf("next hop %v, want %v", u.NextHop, wantNH)
				}
				if diff := cmp.Diff(tt.attrs.Communities, u.Communities, cmpOpts...); diff != "" {
					t.Errorf("communities (-want +got):\n%s", diff)
				}
			}
			if diff := cmp.Diff(tt.perMessage, got); diff != "" {
				t.Errorf("prefixes per message (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.prefixes, all, cmpOpts...); diff != "" {
				t.Errorf("prefixes (-want +got):\n%s", diff)
			}
		})
	}
}

func TestAnnounceExactSizes(t *testing.T) {
	out, err := AppendAnnounce(nil, fourOctet, minimalAttrs(), NextHop{Addr: addr("192.0.2.1")}, hostPrefixes("10.0.0.0", 810))
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != 4093 {
		t.Errorf("810 /32: %d bytes, want 4093", len(out))
	}
	out, err = AppendAnnounce(nil, fourOctet, minimalAttrs(), NextHop{Addr: addr("2001:db8::1")}, hostPrefixes("2001:db8:1::", 237))
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != 4090 {
		t.Errorf("237 /128: %d bytes, want 4090", len(out))
	}
}

func TestWithdrawPacking(t *testing.T) {
	tests := []struct {
		name       string
		s          Session
		prefixes   []netip.Prefix
		perMessage []int
	}{
		// (4096-23)/5 = 814 withdrawn /32 per message.
		{"IPv4 /32", fourOctet, hostPrefixes("10.0.0.0", 2000), []int{814, 814, 372}},
		// (4096-23-7)/17 = 239 withdrawn /128 per message.
		{"IPv6 /128", fourOctet, hostPrefixes("2001:db8::", 500), []int{239, 239, 22}},
		{"IPv4 extended", Session{ExtendedMessage: true}, hostPrefixes("10.0.0.0", 13103), []int{13102, 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := AppendWithdraw(nil, tt.s, tt.prefixes)
			if err != nil {
				t.Fatal(err)
			}
			var got []int
			var all []netip.Prefix
			var u Update
			for _, m := range splitMessages(t, out, tt.s) {
				if err := u.Decode(m, tt.s); err != nil {
					t.Fatalf("decode own message: %v", err)
				}
				got = append(got, len(u.Withdrawn)+len(u.MPUnreach.Withdrawn))
				all = append(all, u.Withdrawn...)
				all = append(all, u.MPUnreach.Withdrawn...)
			}
			if diff := cmp.Diff(tt.perMessage, got); diff != "" {
				t.Errorf("prefixes per message (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.prefixes, all, cmpOpts...); diff != "" {
				t.Errorf("prefixes (-want +got):\n%s", diff)
			}
		})
	}
}

func TestAnnounceErrors(t *testing.T) {
	v4 := NextHop{Addr: addr("192.0.2.1")}
	tests := []struct {
		name     string
		nh       NextHop
		prefixes []netip.Prefix
		want     error
	}{
		{"mixed families", v4, []netip.Prefix{pfx("10.0.0.0/8"), pfx("2001:db8::/32")}, ErrMixedFamilies},
		{"IPv6 prefix, IPv4 next hop", v4, []netip.Prefix{pfx("2001:db8::/32")}, ErrNextHopFamily},
		{"no next hop", NextHop{}, []netip.Prefix{pfx("10.0.0.0/8")}, ErrNextHopFamily},
		{"invalid prefix", v4, []netip.Prefix{{}}, ErrInvalidPrefix},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := AppendAnnounce([]byte("keep"), fourOctet, minimalAttrs(), tt.nh, tt.prefixes)
			if !errors.Is(err, tt.want) {
				t.Errorf("error %v, want %v", err, tt.want)
			}
			if string(out) != "keep" {
				t.Errorf("dst changed on error: %q", out)
			}
		})
	}
}

func TestEncodeAllocations(t *testing.T) {
	attrs := minimalAttrs()
	attrs.Communities = []Community{NewCommunity(64512, 100), CommunityNoExport}
	attrs.LargeCommunities = []LargeCommunity{{64512, 1, 2}}
	attrs.HasLocalPref, attrs.LocalPref = true, 200
	v4 := hostPrefixes("10.0.0.0", 2000)
	v6 := hostPrefixes("2001:db8::", 500)
	buf := make([]byte, 0, 1<<16)
	var u Update
	cases := map[string]func(){
		"announce IPv4": func() { buf, _ = AppendAnnounce(buf[:0], fourOctet, attrs, NextHop{Addr: addr("192.0.2.1")}, v4) },
		"announce IPv6": func() {
			buf, _ = AppendAnnounce(buf[:0], fourOctet, attrs, NextHop{Addr: addr("2001:db8::1"), LinkLocal: addr("fe80::1")}, v6)
		},
		"withdraw IPv4": func() { buf, _ = AppendWithdraw(buf[:0], fourOctet, v4) },
		"withdraw IPv6": func() { buf, _ = AppendWithdraw(buf[:0], fourOctet, v6) },
		"end of RIB":    func() { buf = AppendEndOfRIB(buf[:0], IPv6Unicast) },
		"keepalive":     func() { buf = AppendKeepalive(buf[:0]) },
		"update":        func() { buf, _ = AppendUpdate(buf[:0], fourOctet, &u) },
	}
	u.Attributes = *attrs
	u.NextHop = addr("192.0.2.1")
	u.NLRI = v4[:100]
	for name, f := range cases {
		if n := testing.AllocsPerRun(100, f); n != 0 {
			t.Errorf("%s: %v allocations per run, want 0", name, n)
		}
	}
}

func TestDecodeAllocations(t *testing.T) {
	attrs := minimalAttrs()
	attrs.Communities = []Community{NewCommunity(64512, 100), CommunityNoExport}
	attrs.LargeCommunities = []LargeCommunity{{64512, 1, 2}}
	v4, err := AppendAnnounce(nil, fourOctet, attrs, NextHop{Addr: addr("192.0.2.1")}, hostPrefixes("10.0.0.0", 808))
	if err != nil {
		t.Fatal(err)
	}
	v6, err := AppendAnnounce(nil, fourOctet, attrs, NextHop{Addr: addr("2001:db8::1")}, hostPrefixes("2001:db8::", 200))
	if err != nil {
		t.Fatal(err)
	}
	var m Message
	for name, msg := range map[string][]byte{"IPv4": splitMessages(t, v4, fourOctet)[0], "IPv6": v6} {
		if err := m.Decode(msg, fourOctet); err != nil { // warm the reused slices
			t.Fatal(err)
		}
		if n := testing.AllocsPerRun(100, func() { _ = m.Decode(msg, fourOctet) }); n != 0 {
			t.Errorf("%s: %v allocations per decode, want 0", name, n)
		}
	}
}

// ParseHeader frames a stream: too few bytes is ErrShortHeader (wait for
// more), anything else is a NOTIFICATION-carrying error.
func TestParseHeaderStreaming(t *testing.T) {
	stream := AppendKeepalive(nil)
	stream = AppendRouteRefresh(stream, RouteRefresh{Family: IPv4Unicast})
	for n := range HeaderLen {
		if _, err := ParseHeader(stream[:n], MaxMessageLen); err != ErrShortHeader {
			t.Errorf("%d bytes: %v, want ErrShortHeader", n, err)
		}
	}
	var types []MessageType
	for b := stream; len(b) > 0; {
		h, err := ParseHeader(b, MaxMessageLen)
		if err != nil {
			t.Fatal(err)
		}
		types = append(types, h.Type)
		b = b[h.Length:]
	}
	if diff := cmp.Diff([]MessageType{TypeKeepalive, TypeRouteRefresh}, types); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	// An OPEN is never longer than 4096, even with extended messages.
	big := append(appendHeader(nil, TypeOpen), make([]byte, 5000)...)
	big[16], big[17] = byte(len(big)>>8), byte(len(big))
	var ne *NotificationError
	if _, err := ParseHeader(big, MaxExtendedMessageLen); !errors.As(err, &ne) || ne.Subcode != SubcodeBadMessageLength {
		t.Errorf("5019-byte OPEN: %v, want bad message length", err)
	}
}

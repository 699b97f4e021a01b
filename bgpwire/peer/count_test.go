package peer

import (
	"net/netip"
	"testing"

	"github.com/heraldlb/herald/bgpwire"
)

// up brings a Peer with cfg and routes to Established, dialing from local
// and answered by a router OPEN with caps, and returns the actions of the
// step that brought it up.
func up(tb testing.TB, cfg Config, routes []Route, local LocalAddrs, caps bgpwire.Capabilities) (*Peer, []Action) {
	tb.Helper()
	p, err := New(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	p.Step(Event{Kind: SetRoutes, Routes: routes})
	acts := bringUp(tb, p, local, caps)
	return p, acts
}

// bringUp takes a started or down Peer through one dial to Established.
func bringUp(tb testing.TB, p *Peer, local LocalAddrs, caps bgpwire.Capabilities) []Action {
	tb.Helper()
	var conn ConnID
	for _, a := range p.Step(Event{Kind: Start}) {
		if a.Kind == Dial {
			conn = a.Conn
		}
	}
	if conn == 0 {
		// Down after a failure: the restart timer dials.
		t := p.timers[restartID]
		for _, a := range p.Step(Event{Kind: TimerExpired, Timer: Timer{Kind: RestartTimer}, Token: t.token}) {
			if a.Kind == Dial {
				conn = a.Conn
			}
		}
	}
	if conn == 0 {
		tb.Fatalf("the Peer did not dial")
	}
	p.Step(Event{Kind: Connected, Conn: conn, Local: local})
	o := bgpwire.Open{Version: 4, AS: p.cfg.PeerAS, HoldTime: 90, Identifier: basePeerID, Capabilities: caps}
	if o.AS == 0 {
		o.AS = 65001
	}
	if !caps.FourOctetAS && o.AS > 0xffff {
		o.AS = bgpwire.ASTrans
	}
	b, err := bgpwire.AppendOpen(nil, &o)
	if err != nil {
		tb.Fatal(err)
	}
	p.Step(Event{Kind: Received, Conn: conn, Data: b})
	acts := p.Step(Event{Kind: Received, Conn: conn, Data: bgpwire.AppendKeepalive(nil)})
	if st := p.Status(); !st.Session.Families[IPv4] && !st.Session.Families[IPv6] {
		tb.Fatalf("no session: %+v", st)
	}
	return acts
}

func hostRoutes(base string, n int, attrs Attrs) []Route {
	a := netip.MustParseAddr(base)
	rs := make([]Route, n)
	for i := range rs {
		rs[i] = Route{Prefix: netip.PrefixFrom(a, a.BitLen()), Attrs: attrs}
		a = a.Next()
	}
	return rs
}

var (
	caps4      = bgpwire.Capabilities{FourOctetAS: true, RouteRefresh: true, Multiprotocol: []bgpwire.Family{bgpwire.IPv4Unicast, bgpwire.IPv6Unicast}}
	capsExtMsg = bgpwire.Capabilities{FourOctetAS: true, ExtendedMessage: true, Multiprotocol: []bgpwire.Family{bgpwire.IPv4Unicast}}
	caps2      = bgpwire.Capabilities{Multiprotocol: []bgpwire.Family{bgpwire.IPv4Unicast}}
	v6Local    = LocalAddrs{Transport: netip.MustParseAddr("2001:db8::1")}
	v6LocalLL  = LocalAddrs{Transport: netip.MustParseAddr("2001:db8::1"), LinkLocal: netip.MustParseAddr("fe80::1")}
)

// The UPDATEs of an initial table are as few as the wire allows: per
// attribute set, ceil(routes / capacity), where the capacity of a message
// is computed here from RFC 4271 and RFC 4760 arithmetic, independently of
// the packer, and every message but the last of a set is full.
func TestInitialTableIsMinimal(t *testing.T) {
	fiveComms := Attrs{Communities: []bgpwire.Community{1, 2, 3, 4, 5}}
	ibgp := baseConfig()
	ibgp.PeerAS = baseMyAS
	twoOctet := baseConfig()
	twoOctet.MyAS = 4200000001
	const (
		fixed     = 23                    // header 19, withdrawn length 2, attribute length 2
		origin    = 4                     // 40 01 01 00
		nextHop4  = 7                     // 40 03 04 + 4
		asPath4   = 3 + 2 + 4             // one AS_SEQUENCE of one 4-octet AS
		asPath2   = 3 + 2 + 2             // ... of one 2-octet AS
		as4Path   = 3 + 2 + 4             // AS4_PATH with the real AS (RFC 6793)
		mpHead16  = 4 + 3 + 1 + 16 + 1    // MP_REACH_NLRI, extended length, up to the NLRI
		mpHead32  = mpHead16 + 16         // with a link-local next hop
		localPref = 7                     // 40 05 04 + 4
		emptyPath = 3                     // 40 02 00
		comms5    = 3 + 5*4               // COMMUNITIES with five values
		v4Host    = 5                     // /32: length octet + 4
		v6Host    = 17                    // /128
		v4Max     = bgpwire.MaxMessageLen // 4096
		extMax    = bgpwire.MaxExtendedMessageLen
	)
	tests := []struct {
		name     string
		cfg      Config
		local    LocalAddrs
		caps     bgpwire.Capabilities
		routes   []Route
		capacity []int // per attribute set, in set order
		sizes    []int // routes per set
	}{
		{"100,000 IPv4 /32, eBGP", baseConfig(), baseLocal, caps4, hostRoutes("10.0.0.0", 100000, Attrs{}),
			[]int{(v4Max - fixed - origin - asPath4 - nextHop4) / v4Host}, []int{100000}},
		{"100,000 IPv4 /32 with five communities", baseConfig(), baseLocal, caps4, hostRoutes("10.0.0.0", 100000, fiveComms),
			[]int{(v4Max - fixed - origin - asPath4 - nextHop4 - comms5) / v4Host}, []int{100000}},
		{"100,000 IPv4 /32, iBGP", ibgp, baseLocal, caps4, hostRoutes("10.0.0.0", 100000, Attrs{}),
			[]int{(v4Max - fixed - origin - emptyPath - nextHop4 - localPref) / v4Host}, []int{100000}},
		{"100,000 IPv4 /32 to a 2-octet peer, our AS 4-octet", twoOctet, baseLocal, caps2, hostRoutes("10.0.0.0", 100000, Attrs{}),
			[]int{(v4Max - fixed - origin - asPath2 - nextHop4 - as4Path) / v4Host}, []int{100000}},
		{"100,000 IPv4 /32 with extended messages", baseConfig(), baseLocal, capsExtMsg, hostRoutes("10.0.0.0", 100000, Attrs{}),
			[]int{(extMax - fixed - origin - asPath4 - nextHop4) / v4Host}, []int{100000}},
		{"50,000 IPv6 /128", baseConfig(), v6Local, caps4, hostRoutes("2001:db8::", 50000, Attrs{}),
			[]int{(v4Max - fixed - mpHead16 - origin - asPath4) / v6Host}, []int{50000}},
		{"50,000 IPv6 /128 with a link-local next hop", baseConfig(), v6LocalLL, caps4, hostRoutes("2001:db8::", 50000, Attrs{}),
			[]int{(v4Max - fixed - mpHead32 - origin - asPath4) / v6Host}, []int{50000}},
		{"two attribute sets", baseConfig(), baseLocal, caps4,
			append(hostRoutes("10.0.0.0", 1000, Attrs{}), hostRoutes("10.1.0.0", 3000, fiveComms)...),
			[]int{(v4Max - fixed - origin - asPath4 - nextHop4) / v4Host, (v4Max - fixed - origin - asPath4 - nextHop4 - comms5) / v4Host},
			[]int{1000, 3000}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, acts := up(t, tt.cfg, tt.routes, tt.local, tt.caps)
			st := p.Status()
			wantMsgs := 0
			for i, n := range tt.sizes {
				wantMsgs += (n + tt.capacity[i] - 1) / tt.capacity[i]
			}
			if st.UpdatesSent != uint64(wantMsgs) {
				t.Errorf("%d UPDATEs, want %d", st.UpdatesSent, wantMsgs)
			}
			// Walk the messages: per set, full ones then one remainder.
			wire := bgpwire.Session{FourOctetAS: st.Session.FourOctetAS, ExtendedMessage: st.Session.ExtendedMessage}
			var counts []int
			for _, a := range acts {
				if a.Kind != Send || a.Class != Bulk {
					continue
				}
				for _, m := range splitMessages(a.Bytes) {
					if len(m) > wire.MaxLen() {
						t.Fatalf("message of %d bytes", len(m))
					}
					var u bgpwire.Update
					if err := u.Decode(m, wire); err != nil {
						t.Fatal(err)
					}
					if n := len(u.NLRI) + len(u.MPReach.NLRI); n > 0 {
						counts = append(counts, n)
					}
				}
			}
			i := 0
			for set, n := range tt.sizes {
				for left := n; left > 0; i++ {
					want := min(left, tt.capacity[set])
					if i >= len(counts) || counts[i] != want {
						t.Fatalf("set %d, message %d: %v prefixes, want %d (capacity %d)", set, i, counts[i:min(i+1, len(counts))], want, tt.capacity[set])
					}
					left -= want
				}
			}
			if i != len(counts) {
				t.Errorf("%d messages with prefixes, want %d", len(counts), i)
			}
			if st.Announced[IPv4]+st.Announced[IPv6] != len(tt.routes) {
				t.Errorf("announced %v of %d", st.Announced, len(tt.routes))
			}
		})
	}
}

// The figure of the design: 100,000 IPv4 /32 with one attribute set are
// ceil(100000/810) = 124 UPDATEs at 4096 bytes.
func TestHundredThousandHostRoutesIn124Updates(t *testing.T) {
	p, _ := up(t, baseConfig(), hostRoutes("10.0.0.0", 100000, Attrs{}), baseLocal, caps4)
	if got := p.Status().UpdatesSent; got != 124 {
		t.Fatalf("%d UPDATEs, want 124", got)
	}
}

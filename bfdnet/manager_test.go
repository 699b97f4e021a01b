package bfdnet

import (
	"errors"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/heraldlb/herald/bgpwire/bfd"
)

func TestSessionsComeUp(t *testing.T) {
	for _, tc := range []struct {
		name    string
		profile bfd.Profile
		peerA   string
		peerB   string
	}{
		{"IPv4 300x3", profile(300, 3), "192.0.2.2", "192.0.2.1"},
		{"IPv4 50x3", profile(50, 3), "192.0.2.2", "192.0.2.1"},
		{"IPv6 100x5", profile(100, 5), "2001:db8::2", "2001:db8::1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newSim(t)
			a := s.add("a", []string{"192.0.2.1", "2001:db8::1"}, nil)
			b := s.add("b", []string{"192.0.2.2", "2001:db8::2"}, nil)
			sa := a.session(tc.peerA, tc.profile, nil)
			sb := b.session(tc.peerB, tc.profile, nil)
			s.run(3 * time.Second)
			iv := time.Duration(tc.profile.TransmitInterval) * time.Millisecond
			for _, x := range []struct {
				h  *simHost
				ss *Session
			}{{a, sa}, {b, sb}} {
				st := x.ss.Stats()
				if st.State != bfd.Up || x.h.ups() != 1 || len(x.h.downs()) != 0 {
					t.Fatalf("%s: state %s, changes:\n%s", x.h.name, st.State, x.h.changeLog())
				}
				if st.TransmitInterval != iv || st.DetectionTime != time.Duration(tc.profile.DetectMultiplier)*iv {
					t.Errorf("%s: negotiated tx %s detect %s, want %s and %d×", x.h.name, st.TransmitInterval, st.DetectionTime, iv, tc.profile.DetectMultiplier)
				}
				if st.PacketsIn == 0 || st.PacketsOut == 0 || st.Drops.Total() != 0 {
					t.Errorf("%s: packets in %d out %d drops %d", x.h.name, st.PacketsIn, st.PacketsOut, st.Drops.Total())
				}
				if x.h.changes[0].Tag != x.ss.Tag() || x.h.changes[0].Session != x.ss {
					t.Errorf("%s: change names %v, want the session tagged %v", x.h.name, x.h.changes[0].Tag, x.ss.Tag())
				}
			}
			// Up from the start of the simulation in well under a second:
			// the first packets go at once, and so does every change of
			// state (§6.8.7), not at the 1 s slow rate.
			if at := a.changes[0].At.Sub(s.t0); at > 10*time.Millisecond {
				t.Errorf("a came up after %s", at)
			}
		})
	}
}

func TestDetectionOnCut(t *testing.T) {
	for _, tc := range []struct {
		ms, mult uint32
	}{{300, 3}, {50, 3}, {100, 5}} {
		p := profile(tc.ms, tc.mult)
		t.Run(p.Name, func(t *testing.T) {
			s, a, b, _, _ := pair(t, p, nil, nil)
			s.run(5 * time.Second)
			cutAt := s.clk.Now()
			s.net.setCut(addrA, addrB, true)
			s.run(5 * time.Second)
			detect := time.Duration(tc.mult) * time.Duration(tc.ms) * time.Millisecond
			iv := time.Duration(tc.ms) * time.Millisecond
			for _, h := range []*simHost{a, b} {
				d := h.downs()
				if len(d) != 1 {
					t.Fatalf("%s: want one Down, got:\n%s", h.name, h.changeLog())
				}
				if d[0].Cause != bfd.CauseDetectionTimeExpired || !d[0].Cause.Failure() {
					t.Errorf("%s: cause %s (failure %v), want DetectionTimeExpired, a failure", h.name, d[0].Cause, d[0].Cause.Failure())
				}
				// The last packet arrived at most one interval before the
				// cut; the Detection Time runs from it.
				took := d[0].At.Sub(cutAt)
				if took <= detect-iv || took > detect {
					t.Errorf("%s: detected %s after the cut, want in (%s, %s]", h.name, took, detect-iv, detect)
				}
			}
			// The cut heals: the sessions come back.
			s.net.setCut(addrA, addrB, false)
			s.run(5 * time.Second)
			if a.ups() != 2 || b.ups() != 2 {
				t.Errorf("after healing: a %d ups, b %d ups\n%s%s", a.ups(), b.ups(), a.changeLog(), b.changeLog())
			}
		})
	}
}

func TestRemoveSendsAdminDown(t *testing.T) {
	s, a, b, sa, sb := pair(t, profile(100, 3), nil, nil)
	s.run(2 * time.Second)
	port := sb.Stats().SourcePort
	sb.Remove()
	if _, ok := b.m.Session(sb.Key()); ok {
		t.Fatal("removed session still found by key")
	}
	s.run(time.Second)
	d := a.downs()
	if len(d) != 1 || d[0].Cause != bfd.CauseNeighborAdminDown || d[0].Cause.Failure() {
		t.Fatalf("a saw:\n%s want one Down(NeighborAdminDown), not a failure", a.changeLog())
	}
	if d[0].RemoteDiag != bfd.DiagAdministrativelyDown {
		t.Errorf("remote diag %s, want AdministrativelyDown", d[0].RemoteDiag)
	}
	if got := b.downs(); len(got) != 1 || got[0].Cause != bfd.CauseAdminDown {
		t.Errorf("b saw:\n%s want one Down(AdminDown)", b.changeLog())
	}
	// Three AdminDown packets, then the socket is closed and the
	// discriminator freed; a keeps its session, Down, and is not flapping.
	if !slices.Contains(s.net.closedPorts, port) {
		t.Errorf("source port %d not closed after the linger", port)
	}
	if n := b.m.Stats().Sessions; n != 0 {
		t.Errorf("b still has %d sessions", n)
	}
	if st := sa.Stats(); st.State != bfd.Down || st.Flaps != 1 {
		t.Errorf("a: state %s flaps %d", st.State, st.Flaps)
	}
	// The key can be added again, and the session comes back Up.
	b.session("192.0.2.1", profile(100, 3), nil)
	s.run(3 * time.Second)
	if a.ups() != 2 {
		t.Errorf("re-added session: a saw\n%s", a.changeLog())
	}
}

func TestRemoveRepeatsAdminDownAcrossLoss(t *testing.T) {
	s, a, b, _, sb := pair(t, profile(100, 3), nil, nil)
	s.run(2 * time.Second)
	// The first AdminDown is lost; a repeat arrives within the detection
	// time, so a still sees AdminDown, not a failure.
	s.net.setCut(addrA, addrB, true)
	sb.Remove()
	s.drain()
	s.net.setCut(addrA, addrB, false)
	s.run(time.Second)
	if d := a.downs(); len(d) != 1 || d[0].Cause != bfd.CauseNeighborAdminDown {
		t.Fatalf("a saw:\n%s", a.changeLog())
	}
	_ = b
}

func TestCloseSendsAdminDown(t *testing.T) {
	s, a, b, _, _ := pair(t, profile(100, 3), nil, nil)
	s.run(2 * time.Second)
	if err := b.m.Close(); err != nil {
		t.Fatal(err)
	}
	s.hosts = s.hosts[:1]
	s.run(time.Second)
	if d := a.downs(); len(d) != 1 || d[0].Cause != bfd.CauseNeighborAdminDown {
		t.Fatalf("a saw:\n%s", a.changeLog())
	}
	if _, err := b.m.Add(SessionConfig{Key: Key{Peer: addrA}, Profile: profile(100, 3)}); !errors.Is(err, ErrClosed) {
		t.Errorf("Add after Close: %v, want ErrClosed", err)
	}
}

func TestProfileChangeRenegotiatesWithoutDropping(t *testing.T) {
	s, a, b, sa, sb := pair(t, profile(300, 3), nil, nil)
	s.run(3 * time.Second)
	steps := []bfd.Profile{profile(50, 3), profile(1000, 2), profile(20, 5), profile(300, 3)}
	for _, p := range steps {
		if err := sa.SetProfile(p); err != nil {
			t.Fatal(err)
		}
		s.run(500 * time.Millisecond)
		if err := sb.SetProfile(p); err != nil {
			t.Fatal(err)
		}
		s.run(5 * time.Second)
		iv := time.Duration(p.TransmitInterval) * time.Millisecond
		for _, x := range []*Session{sa, sb} {
			st := x.Stats()
			if st.State != bfd.Up || st.TransmitInterval != iv || st.DetectionTime != time.Duration(p.DetectMultiplier)*iv {
				t.Errorf("profile %s: %s: state %s tx %s detect %s", p.Name, x.Tag(), st.State, st.TransmitInterval, st.DetectionTime)
			}
		}
	}
	if len(a.downs())+len(b.downs()) != 0 {
		t.Fatalf("a session went down:\n%s%s", a.changeLog(), b.changeLog())
	}
	if st := sa.Stats(); st.Polls < uint64(len(steps)) || st.Finals < uint64(len(steps)) {
		t.Errorf("polls %d finals %d, want at least %d each", st.Polls, st.Finals, len(steps))
	}
	if err := sa.SetProfile(bfd.Profile{}); !errors.Is(err, bfd.ErrInvalidConfig) {
		t.Errorf("invalid profile: %v", err)
	}
}

func TestPassiveWaitsForThePeer(t *testing.T) {
	s := newSim(t)
	a := s.add("a", []string{"192.0.2.1"}, nil)
	b := s.add("b", []string{"192.0.2.2"}, nil)
	sa := a.session("192.0.2.2", profile(100, 3), func(c *SessionConfig) { c.Passive = true })
	s.run(5 * time.Second)
	from := netip.AddrPortFrom(addrA, sa.Stats().SourcePort)
	if n := s.net.sentFrom(from); n != 0 {
		t.Fatalf("passive session sent %d packets before hearing from its peer", n)
	}
	b.session("192.0.2.1", profile(100, 3), nil)
	s.run(3 * time.Second)
	if sa.State() != bfd.Up || s.net.sentFrom(from) == 0 {
		t.Fatalf("passive session: state %s, sent %d", sa.State(), s.net.sentFrom(from))
	}
}

func TestAcceptAnswersUnwantedPeers(t *testing.T) {
	s := newSim(t)
	a := s.add("a", []string{"192.0.2.1"}, nil)
	b := s.add("b", []string{"192.0.2.2"}, nil)
	var asked []Incoming
	a.accept = func(in Incoming) (SessionConfig, bool) {
		asked = append(asked, in)
		return SessionConfig{Key: Key{Peer: in.Peer}, Profile: profile(100, 3), Passive: true, Tag: "accepted"}, true
	}
	if err := a.m.Listen(false, IPv4); err != nil {
		t.Fatal(err)
	}
	b.session("192.0.2.1", profile(100, 3), nil)
	s.run(3 * time.Second)
	if len(asked) != 1 || asked[0].Peer != addrB || asked[0].Local != addrA || asked[0].Multihop {
		t.Fatalf("Accept asked %+v", asked)
	}
	if a.ups() != 1 || b.ups() != 1 || a.changes[0].Tag != "accepted" {
		t.Fatalf("a:\n%sb:\n%s", a.changeLog(), b.changeLog())
	}
	// Refused peers are counted as packets for no session.
	c := s.add("c", []string{"192.0.2.3"}, nil)
	a.accept = func(Incoming) (SessionConfig, bool) { return SessionConfig{}, false }
	c.session("192.0.2.1", profile(100, 3), nil)
	s.run(3 * time.Second)
	if a.m.Stats().NoSession == 0 || c.ups() != 0 {
		t.Errorf("refused peer: no-session count %d, c ups %d", a.m.Stats().NoSession, c.ups())
	}
}

func TestAuthentication(t *testing.T) {
	key := func(secret string) func(*SessionConfig) {
		return func(c *SessionConfig) {
			c.Auth = bfd.AuthConfig{Type: bfd.AuthMeticulousKeyedSHA1, KeyID: 7, Secret: []byte(secret)}
		}
	}
	t.Run("same key", func(t *testing.T) {
		s, a, b, sa, _ := pair(t, profile(50, 3), key("s3cret"), key("s3cret"))
		s.run(3 * time.Second)
		if a.ups() != 1 || b.ups() != 1 || sa.Stats().AuthFailures != 0 {
			t.Fatalf("a:\n%sb:\n%s", a.changeLog(), b.changeLog())
		}
	})
	t.Run("wrong key", func(t *testing.T) {
		s, a, _, sa, _ := pair(t, profile(50, 3), key("s3cret"), key("other"))
		s.run(3 * time.Second)
		st := sa.Stats()
		if a.ups() != 0 || st.AuthFailures == 0 || st.Drops.Of(bfd.DropAuthMismatch) != st.AuthFailures {
			t.Fatalf("ups %d auth failures %d drops %v", a.ups(), st.AuthFailures, st.Drops)
		}
	})
}

func TestMalformedPacketsAreCountedAndHarmless(t *testing.T) {
	s, a, _, sa, sb := pair(t, profile(100, 3), nil, nil)
	s.run(2 * time.Second)
	good := func() bfd.Packet {
		st := sb.Stats()
		return bfd.Packet{State: bfd.Up, DetectMult: 3, MyDiscr: st.LocalDiscr, YourDiscr: st.RemoteDiscr,
			DesiredMinTx: 100_000, RequiredMinRx: 100_000}
	}
	enc := func(p bfd.Packet) []byte {
		b, err := bfd.AppendPacket(nil, &p)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	peer := netip.AddrPortFrom(addrB, sb.Stats().SourcePort)
	me := netip.AddrPortFrom(addrA, bfd.ControlPort)
	stranger := netip.AddrPortFrom(netip.MustParseAddr("192.0.2.99"), 50000)
	badVersion := enc(good())
	badVersion[0] = 2<<5 | badVersion[0]&0x1f
	zeroMy := good()
	zeroMy.MyDiscr = 0
	authed := good()
	authed.Auth = bfd.Auth{Type: bfd.AuthSimplePassword, KeyID: 1, Data: []byte("pw")}
	otherDiscr := good()
	otherDiscr.YourDiscr ^= 0x5a5a5a5a
	for _, in := range []struct {
		from netip.AddrPort
		ttl  int
		b    []byte
	}{
		{peer, 255, enc(good())[:20]},  // short
		{peer, 255, badVersion},        // version 2
		{peer, 255, enc(zeroMy)},       // My Discriminator 0
		{peer, 255, enc(authed)},       // authentication on a session without
		{peer, 254, enc(good())},       // TTL 254 on single hop
		{peer, -1, enc(good())},        // TTL unknown
		{peer, 255, enc(otherDiscr)},   // nobody's discriminator
		{stranger, 255, enc(good())},   // someone else's packet, our discriminator
		{stranger, 255, badVersion},    // garbage from a stranger
		{stranger, 200, enc(zeroMy)},   // low TTL from a stranger
		{peer, 255, make([]byte, 300)}, // zeros
	} {
		if err := s.net.inject(in.from, me, in.ttl, in.b); err != nil {
			t.Fatal(err)
		}
	}
	s.drain()
	st := sa.Stats()
	want := bfd.DropCounts{}
	want[bfd.DropBadLength] = 1
	want[bfd.DropBadVersion] = 2 // the zeros are version 0
	want[bfd.DropZeroMyDiscriminator] = 1
	if st.Malformed != want {
		t.Errorf("session malformed counts %v, want %v", st.Malformed, want)
	}
	if st.Drops.Of(bfd.DropAuthUnexpected) != 1 || st.AuthFailures != 1 || st.TTLDrops != 2 {
		t.Errorf("session drops %v auth failures %d TTL drops %d", st.Drops, st.AuthFailures, st.TTLDrops)
	}
	ms := a.m.Stats()
	if ms.NoSession != 2 || ms.TTLDrops != 1 || ms.Malformed.Of(bfd.DropBadVersion) != 1 {
		t.Errorf("manager: no session %d, TTL %d, malformed %v", ms.NoSession, ms.TTLDrops, ms.Malformed)
	}
	s.run(3 * time.Second)
	if st := sa.Stats(); st.State != bfd.Up || st.Flaps != 0 || len(a.downs()) != 0 {
		t.Errorf("the session was disturbed: state %s flaps %d\n%s", st.State, st.Flaps, a.changeLog())
	}
}

func TestMultihopChecksMinimumTTL(t *testing.T) {
	s := newSim(t)
	a := s.add("a", []string{"192.0.2.1"}, nil)
	b := s.add("b", []string{"198.51.100.2"}, nil)
	b.host.ttl = 253 // two routers between them
	p := profile(100, 3)
	multi := func(local string) func(*SessionConfig) {
		return func(c *SessionConfig) { c.Multihop, c.Local = true, netip.MustParseAddr(local) }
	}
	sa := a.session("198.51.100.2", p, multi("192.0.2.1"))
	b.session("192.0.2.1", p, multi("198.51.100.2"))
	s.run(3 * time.Second)
	if st := sa.Stats(); st.State == bfd.Up || st.TTLDrops == 0 {
		t.Fatalf("minimum TTL 254 let TTL 253 in: state %s, TTL drops %d", st.State, st.TTLDrops)
	}
	p.MinimumTTL = 250
	if err := sa.SetProfile(p); err != nil {
		t.Fatal(err)
	}
	s.run(3 * time.Second)
	if sa.State() != bfd.Up {
		t.Fatalf("minimum TTL 250: state %s\n%s", sa.State(), a.changeLog())
	}
	// Multihop packets went to the multihop port, and single-hop
	// sessions would not see them.
	if a.m.listeners[listenerKey{kindSingleHop, IPv4}] != nil {
		t.Error("a multihop session opened the single-hop port")
	}
}

func TestEchoFailureTakesTheSessionDown(t *testing.T) {
	p := profile(300, 3)
	p.EchoMode, p.EchoInterval = true, 50
	// Both ends run Echo: a machine advertises a nonzero Required Min
	// Echo RX, which lets the peer start, only when it runs Echo itself.
	echoFrom := func(local netip.Addr) func(*SessionConfig) {
		return func(c *SessionConfig) { c.Local, c.Interface = local, "mem0" }
	}
	s, a, _, sa, _ := pair(t, p, echoFrom(addrA), echoFrom(addrB))
	s.run(3 * time.Second)
	st := sa.Stats()
	if st.State != bfd.Up || !st.EchoCapable || !st.EchoActive || st.EchoIn == 0 {
		t.Fatalf("echo: state %s capable %v active %v in %d out %d", st.State, st.EchoCapable, st.EchoActive, st.EchoIn, st.EchoOut)
	}
	// The peer stops forwarding: Echo fails while Control packets flow.
	cut := s.clk.Now()
	s.net.echoCut[addrB] = true
	s.run(2 * time.Second)
	d := a.downs()
	if len(d) == 0 || d[0].Cause != bfd.CauseEchoFailed {
		t.Fatalf("a saw:\n%s", a.changeLog())
	}
	if took := d[0].At.Sub(cut); took > 3*50*time.Millisecond {
		t.Errorf("echo failure detected after %s, want at most 150ms", took)
	}
}

func TestEchoNeedsLocalAddressAndInterface(t *testing.T) {
	p := profile(300, 3)
	p.EchoMode = true
	s, _, _, sa, _ := pair(t, p, nil, nil)
	s.run(3 * time.Second)
	if st := sa.Stats(); st.State != bfd.Up || st.EchoCapable || st.RequiredMinEchoRx != 0 {
		t.Errorf("echo without local address: state %s capable %v echo rx %s", st.State, st.EchoCapable, st.RequiredMinEchoRx)
	}
}

func TestDiscriminatorsAndSourcePorts(t *testing.T) {
	s := newSim(t)
	a := s.add("a", []string{"192.0.2.1"}, nil)
	// Collisions and zero are drawn again.
	draws := []uint32{0, 7, 7, 7, 9}
	next := a.m.rand
	a.m.rand = func() uint32 {
		if len(draws) > 0 {
			d := draws[0]
			draws = draws[1:]
			return d
		}
		return next()
	}
	s1 := a.session("192.0.2.10", profile(100, 3), nil)
	draws = []uint32{7, 7, 0, 9, 9}
	s2 := a.session("192.0.2.11", profile(100, 3), nil)
	if s1.Discriminator() != 7 || s2.Discriminator() == 7 || s2.Discriminator() == 0 {
		t.Errorf("discriminators %d and %d", s1.Discriminator(), s2.Discriminator())
	}
	seen := map[uint32]bool{}
	ports := map[uint16]bool{}
	for i := range 200 {
		sx := a.session(netip.AddrFrom4([4]byte{198, 51, 100, byte(i)}).String(), profile(100, 3), nil)
		d, port := sx.Discriminator(), sx.Stats().SourcePort
		if d == 0 || seen[d] {
			t.Fatalf("discriminator %d repeated or zero", d)
		}
		if port < SourcePortMin || ports[port] {
			t.Fatalf("source port %d out of range or shared", port)
		}
		seen[d], ports[port] = true, true
	}
	if _, err := a.m.Add(SessionConfig{Key: s1.Key(), Profile: profile(100, 3)}); !errors.Is(err, ErrExists) {
		t.Errorf("duplicate key: %v", err)
	}
}

func TestSourcePortIsStable(t *testing.T) {
	s, _, _, sa, _ := pair(t, profile(50, 3), nil, nil)
	s.run(3 * time.Second)
	port := sa.Stats().SourcePort
	out := sa.Stats().PacketsOut
	if got := s.net.sentFrom(netip.AddrPortFrom(addrA, port)); uint64(got) != out {
		t.Errorf("%d packets out, %d from source port %d", out, got, port)
	}
}

func TestConfigErrors(t *testing.T) {
	s := newSim(t)
	a := s.add("a", []string{"192.0.2.1", "2001:db8::1"}, nil)
	for _, tc := range []struct {
		name string
		cfg  SessionConfig
		want error
	}{
		{"no peer", SessionConfig{Profile: profile(100, 3)}, ErrConfig},
		{"multicast peer", SessionConfig{Key: Key{Peer: netip.MustParseAddr("224.0.0.5")}, Profile: profile(100, 3)}, ErrConfig},
		{"mixed families", SessionConfig{Key: Key{Peer: addrB, Local: netip.MustParseAddr("2001:db8::1")}, Profile: profile(100, 3)}, ErrConfig},
		{"link-local without interface", SessionConfig{Key: Key{Peer: netip.MustParseAddr("fe80::2")}, Profile: profile(100, 3)}, ErrConfig},
		{"zone", SessionConfig{Key: Key{Peer: netip.MustParseAddr("fe80::2%mem0"), Interface: "mem0"}, Profile: profile(100, 3)}, ErrConfig},
		{"bad profile", SessionConfig{Key: Key{Peer: addrB}, Profile: bfd.Profile{}}, bfd.ErrInvalidConfig},
		{"bad auth", SessionConfig{Key: Key{Peer: addrB}, Profile: profile(100, 3), Auth: bfd.AuthConfig{Type: bfd.AuthKeyedMD5}}, bfd.ErrInvalidConfig},
	} {
		if _, err := a.m.Add(tc.cfg); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
	if n := a.m.Stats().Sessions; n != 0 {
		t.Errorf("%d sessions after failed adds", n)
	}
	if _, err := newManager(Options{SingleHopPort: 4784}, true); !errors.Is(err, ErrConfig) {
		t.Errorf("same port twice: %v", err)
	}
}

func TestLinkLocalIPv6(t *testing.T) {
	s := newSim(t)
	a := s.add("a", []string{"fe80::1"}, nil)
	b := s.add("b", []string{"fe80::2"}, nil)
	ll := func(c *SessionConfig) { c.Interface = "mem0" }
	sa := a.session("fe80::2", profile(100, 3), ll)
	b.session("fe80::1", profile(100, 3), ll)
	s.run(3 * time.Second)
	if sa.State() != bfd.Up {
		t.Fatalf("link-local session: %s", sa.State())
	}
	if z := sa.dst.Addr().Zone(); z != "mem0" {
		t.Errorf("destination zone %q", z)
	}
}

// discardConn is a transmit socket that drops everything.
type discardConn struct{ n int }

func (d *discardConn) WritePacket([]byte, netip.AddrPort) error { d.n++; return nil }
func (d *discardConn) LocalPort() uint16                        { return SourcePortMin }
func (d *discardConn) Close() error                             { return nil }

// The steady state of a session allocates nothing: receiving the peer's
// periodic packet (decode, demultiplex, step, re-arm the Detection Timer)
// and sending a periodic packet (encode, write, re-arm the transmit timer).
func TestSteadyStateDoesNotAllocate(t *testing.T) {
	s, a, _, sa, sb := pair(t, profile(100, 3), nil, nil)
	s.run(2 * time.Second)
	discard := &discardConn{}
	sa.mu.Lock()
	sa.tx = discard
	sa.mu.Unlock()
	stb := sb.Stats()
	raw, err := bfd.AppendPacket(nil, &bfd.Packet{State: bfd.Up, DetectMult: 3, MyDiscr: stb.LocalDiscr,
		YourDiscr: stb.RemoteDiscr, DesiredMinTx: 100_000, RequiredMinRx: 100_000})
	if err != nil {
		t.Fatal(err)
	}
	l := a.m.listeners[listenerKey{kindSingleHop, IPv4}]
	info := PacketInfo{Src: netip.AddrPortFrom(addrB, stb.SourcePort), Dst: addrA, IfIndex: 1, TTL: 255}
	in := sa.Stats().PacketsIn
	if n := testing.AllocsPerRun(100, func() { a.m.receive(l, raw, info) }); n != 0 {
		t.Errorf("receive: %v allocations per packet", n)
	}
	if got := sa.Stats().PacketsIn - in; got < 100 {
		t.Fatalf("only %d packets reached the session", got)
	}
	if n := testing.AllocsPerRun(100, func() {
		sa.fire(bfd.TransmitTimer, sa.mc.Token(bfd.TransmitTimer))
	}); n != 0 {
		t.Errorf("transmit: %v allocations per packet", n)
	}
	if discard.n < 100 || sa.State() != bfd.Up {
		t.Errorf("%d packets sent, state %s", discard.n, sa.State())
	}
}

// A Detection Time that expires while the peer's packets wait unread in
// the socket (this process had no CPU) waits for them, up to 100 ms; past
// that the session goes down even if packets keep waiting, so that a
// flood cannot postpone detection.
func TestDetectionWaitsForUnreadPackets(t *testing.T) {
	for _, tc := range []struct {
		name     string
		hold     time.Duration
		wantDown bool
	}{
		{"backlog read in time", 380 * time.Millisecond, false},
		{"backlog past the grace", 600 * time.Millisecond, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, a, _, sa, _ := pair(t, profile(100, 3), nil, nil)
			s.run(2 * time.Second)
			// Right after a packet from b arrives (so the Detection Time
			// expires 300 ms later), a reads nothing for a while and b's
			// packets pile up.
			for in := sa.Stats().PacketsIn; sa.Stats().PacketsIn == in; {
				s.run(time.Millisecond)
			}
			s.net.held[a.host] = true
			s.run(tc.hold)
			s.net.held[a.host] = false
			s.run(2 * time.Second)
			st := sa.Stats()
			if down := len(a.downs()) > 0; down != tc.wantDown {
				t.Fatalf("down %v, want %v; deferrals %d\n%s", down, tc.wantDown, st.DetectDeferrals, a.changeLog())
			}
			if st.DetectDeferrals == 0 {
				t.Error("no deferral counted")
			}
			if tc.wantDown {
				if d := a.downs()[0]; d.Cause != bfd.CauseDetectionTimeExpired {
					t.Errorf("cause %s", d.Cause)
				}
			}
		})
	}
}

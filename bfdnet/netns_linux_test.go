package bfdnet

import (
	"net/netip"
	"testing"
	"time"

	"github.com/heraldlb/herald/bgpwire/bfd"
)

// waitChange waits for the next change of a log, up to d.
func waitChange(t testing.TB, log *changeLog, what string, d time.Duration) Change {
	t.Helper()
	select {
	case c := <-log.ch:
		return c
	case <-time.After(d):
		t.Fatalf("no change within %s for %s", d, what)
		return Change{}
	}
}

func TestLabSessionsComeUpAndDetectACut(t *testing.T) {
	for _, tc := range []struct {
		name     string
		ms, mult uint32
		a, b     string
	}{
		{"IPv4 300x3", 300, 3, "192.0.2.1", "192.0.2.2"},
		{"IPv4 50x3", 50, 3, "192.0.2.1", "192.0.2.2"},
		{"IPv6 50x3", 50, 3, "2001:db8::1", "2001:db8::2"},
		{"IPv6 link-local 300x3", 300, 3, "fe80::1", "fe80::2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := newLab(t)
			ma, la := labManager(t, Options{})
			mb, lb := labManager(t, Options{})
			p := profile(tc.ms, tc.mult)
			aAddr, bAddr := netip.MustParseAddr(tc.a), netip.MustParseAddr(tc.b)
			sa := addIn(t, l.a, ma, SessionConfig{Key: Key{Peer: bAddr, Local: aAddr, Interface: labIfA}, Profile: p})
			sb := addIn(t, l.b, mb, SessionConfig{Key: Key{Peer: aAddr, Local: bAddr, Interface: labIfB}, Profile: p})
			start := time.Now()
			if c := waitChange(t, la, "a up", 5*time.Second); !c.Up {
				t.Fatalf("a: %+v", c)
			}
			if c := waitChange(t, lb, "b up", 5*time.Second); !c.Up {
				t.Fatalf("b: %+v", c)
			}
			t.Logf("up after %s", time.Since(start).Round(time.Millisecond))
			// Let the fast rate settle (the Poll Sequence after Up).
			time.Sleep(time.Duration(4*tc.ms) * time.Millisecond)
			if st := sa.Stats(); st.TransmitInterval != time.Duration(tc.ms)*time.Millisecond {
				t.Fatalf("transmit interval %s", st.TransmitInterval)
			}
			cut := time.Now()
			run(t, "ip", "-n", l.b, "link", "set", labIfB, "down")
			c := waitChange(t, la, "detection", 5*time.Second)
			// Change.At is when the Manager stepped the expiry: what the
			// margin covers is its scheduler's lateness on this shared
			// 2-core machine (BenchmarkTransmitLateness: p99.9 under 10 ms
			// when quiet, up to 200 ms at a load average of 6; a load of 12
			// has taken it past 300 ms). The exact bound is
			// TestDetectionOnCut's, in simulated time.
			took := c.At.Sub(cut)
			detect := time.Duration(tc.mult*tc.ms) * time.Millisecond
			margin := 250 * time.Millisecond
			t.Logf("cut detected after %s (detection time %s)", took.Round(time.Millisecond), detect)
			if c.Up || c.Cause != bfd.CauseDetectionTimeExpired {
				t.Fatalf("a after the cut: %+v", c)
			}
			if took > detect+margin {
				t.Errorf("cut detected after %s, want within %s + %s", took, detect, margin)
			}
			_ = sb
		})
	}
}

// RFC 5881 §5: a single-hop packet with TTL 254 comes from beyond the
// link; it is dropped, counted, and does not disturb the session.
func TestLabSingleHopTTL(t *testing.T) {
	l := newLab(t)
	ma, _ := labManager(t, Options{})
	mb, _ := labManager(t, Options{})
	p := profile(100, 3)
	sa := addIn(t, l.a, ma, SessionConfig{Key: Key{Peer: addrB, Local: addrA, Interface: labIfA}, Profile: p})
	sb := addIn(t, l.b, mb, SessionConfig{Key: Key{Peer: addrA, Local: addrB, Interface: labIfB}, Profile: p})
	waitFor(t, "up", func() bool { return sa.State() == bfd.Up && sb.State() == bfd.Up })
	stb := sb.Stats()
	raw, err := bfd.AppendPacket(nil, &bfd.Packet{State: bfd.Down, Diag: bfd.DiagPathDown, DetectMult: 3,
		MyDiscr: stb.LocalDiscr, YourDiscr: stb.RemoteDiscr, DesiredMinTx: 100_000, RequiredMinRx: 100_000})
	if err != nil {
		t.Fatal(err)
	}
	// A Down packet that would take the session down if it were accepted.
	for _, ttl := range []int{254, 64, 1} {
		in(t, l.b, func() { sendWithTTL(t, addrB, netip.AddrPortFrom(addrA, bfd.ControlPort), ttl, raw) })
	}
	waitFor(t, "three TTL drops", func() bool { return sa.Stats().TTLDrops == 3 })
	time.Sleep(300 * time.Millisecond)
	if st := sa.Stats(); st.State != bfd.Up || st.Flaps != 0 {
		t.Errorf("session disturbed: %s, %d flaps", st.State, st.Flaps)
	}
}

func TestLabMultihop(t *testing.T) {
	l := newLab(t)
	ma, la := labManager(t, Options{})
	mb, _ := labManager(t, Options{})
	p := profile(100, 3)
	p.MinimumTTL = 250
	sa := addIn(t, l.a, ma, SessionConfig{Key: Key{Peer: addrB, Local: addrA, Multihop: true}, Profile: p})
	addIn(t, l.b, mb, SessionConfig{Key: Key{Peer: addrA, Local: addrB, Multihop: true}, Profile: p})
	if c := waitChange(t, la, "multihop up", 5*time.Second); !c.Up {
		t.Fatalf("a: %+v", c)
	}
	stb := mb.Sessions()[0].Stats()
	raw, err := bfd.AppendPacket(nil, &bfd.Packet{State: bfd.Down, DetectMult: 3,
		MyDiscr: stb.LocalDiscr, YourDiscr: stb.RemoteDiscr, DesiredMinTx: 100_000, RequiredMinRx: 100_000})
	if err != nil {
		t.Fatal(err)
	}
	in(t, l.b, func() { sendWithTTL(t, addrB, netip.AddrPortFrom(addrA, bfd.MultihopPort), 249, raw) })
	waitFor(t, "the TTL drop", func() bool { return sa.Stats().TTLDrops == 1 })
	if sa.State() != bfd.Up {
		t.Errorf("state %s", sa.State())
	}
}

// Echo as FRR's bfdd sends it: frames to the peer's MAC address carrying
// a datagram to ourselves, forwarded back by the peer's kernel, read on a
// packet socket before the IP layer would drop them (their source is our
// own address). The only setting needed is forwarding on the peer.
func TestLabEcho(t *testing.T) {
	l := newLab(t)
	for _, ns := range []string{l.a, l.b} {
		run(t, "ip", "netns", "exec", ns, "sysctl", "-qw", "net.ipv4.ip_forward=1")
	}
	ma, la := labManager(t, Options{})
	mb, _ := labManager(t, Options{})
	p := profile(300, 3)
	p.EchoMode, p.EchoInterval = true, 50
	sa := addIn(t, l.a, ma, SessionConfig{Key: Key{Peer: addrB, Local: addrA, Interface: labIfA}, Profile: p})
	addIn(t, l.b, mb, SessionConfig{Key: Key{Peer: addrA, Local: addrB, Interface: labIfB}, Profile: p})
	if c := waitChange(t, la, "up", 5*time.Second); !c.Up {
		t.Fatalf("a: %+v", c)
	}
	waitFor(t, "echo packets back", func() bool { st := sa.Stats(); return st.EchoActive && st.EchoIn > 20 })
	st := sa.Stats()
	t.Logf("echo: out %d in %d, echo interval %s, control rx %s", st.EchoOut, st.EchoIn, st.EchoInterval, st.RequiredMinRx)
	if !st.EchoCapable || st.EchoSendErrors != 0 {
		t.Errorf("capable %v, send errors %d", st.EchoCapable, st.EchoSendErrors)
	}
	// b stops forwarding: the Echo function fails while Control packets
	// still flow.
	cut := time.Now()
	run(t, "ip", "netns", "exec", l.b, "sysctl", "-qw", "net.ipv4.ip_forward=0")
	c := waitChange(t, la, "echo failure", 5*time.Second)
	t.Logf("echo failure detected after %s", time.Since(cut).Round(time.Millisecond))
	if c.Up || c.Cause != bfd.CauseEchoFailed {
		t.Fatalf("a: %+v", c)
	}
}

// The liveness mesh's shape on kernel sockets: its own port, multihop
// sessions, and a speaker that answers a member it did not want through
// Accept, then drops that session when it goes down. b's Manager is given
// its namespace (OSNetwork.NetNS): Accept adds sessions on a receive
// goroutine, whose thread is not in b.
func TestLabLivenessMesh(t *testing.T) {
	l := newLab(t)
	p := profile(100, 3)
	p.MinimumTTL = 255 // same link
	ma, la := labManager(t, Options{MultihopPort: LivenessPort})
	lb := newChangeLog()
	var mb *Manager
	mb, err := New(Options{
		MultihopPort: LivenessPort,
		Network:      OSNetwork{NetNS: "/var/run/netns/" + l.b},
		Log:          quietLog,
		Accept: func(in Incoming) (SessionConfig, bool) {
			q := p
			q.PassiveMode = true
			return SessionConfig{Key: Key{Peer: in.Peer, Local: in.Local, Multihop: true}, Profile: q, Tag: "answered"}, true
		},
		Notify: func(c Change) {
			lb.notify(c)
			if !c.Up && c.Tag == "answered" {
				c.Session.Remove()
			}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = mb.Close() })
	if err := mb.Listen(true, IPv4); err != nil {
		t.Fatal(err)
	}
	sa := addIn(t, l.a, ma, SessionConfig{Key: Key{Peer: addrB, Local: addrA, Multihop: true}, Profile: p})
	if c := waitChange(t, la, "a up", 5*time.Second); !c.Up {
		t.Fatalf("a: %+v", c)
	}
	if c := waitChange(t, lb, "b up", 5*time.Second); !c.Up || c.Tag != "answered" {
		t.Fatalf("b: %+v", c)
	}
	sa.Remove()
	if c := waitChange(t, lb, "b sees a leave", 5*time.Second); c.Up || c.Cause != bfd.CauseNeighborAdminDown {
		t.Fatalf("b: %+v", c)
	}
	waitFor(t, "b drops the answered session", func() bool { return len(mb.Sessions()) == 0 })
}

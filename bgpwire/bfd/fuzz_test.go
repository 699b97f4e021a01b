package bfd

import (
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// The fuzz targets check that decoding never panics, that every error
// names a discard reason, that a decoded packet re-encodes to the same
// fields, and that no input makes a session misbehave. Their seed corpora
// are committed under testdata/fuzz/ and run in plain go test;
// `go test -run TestWriteFuzzSeeds -write-fuzz-seeds` regenerates them
// from the round-trip table and the interop vectors.

var writeSeeds = flag.Bool("write-fuzz-seeds", false, "write testdata/fuzz seed corpora")

// FuzzDecode decodes arbitrary bytes; what decodes is checked against its
// re-encoding and its authentication against key, and is stepped into a
// session configured for the packet's authentication type.
func FuzzDecode(f *testing.F) {
	f.Add([]byte{0x20, 0x40, 3, 24, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0x0f, 0x42, 0x40, 0, 0x0f, 0x42, 0x40, 0, 0, 0, 0}, []byte(nil))
	f.Fuzz(func(t *testing.T, b, key []byte) {
		var p Packet
		err := Decode(b, &p)
		if err != nil {
			if DropReasonOf(err) == 0 {
				t.Fatalf("error %v names no discard reason", err)
			}
			return
		}
		if int(p.Length) > len(b) || p.Length < HeaderLen || p.DetectMult == 0 || p.MyDiscr == 0 ||
			(p.YourDiscr == 0 && p.State != Down && p.State != AdminDown) {
			t.Fatalf("accepted %s (length %d of %d)", p.String(), p.Length, len(b))
		}
		checkReencode(t, b, &p, key)
		if p.Auth.Type != AuthNone {
			if err := CheckAuth(b, &p, key); err != nil && DropReasonOf(err) == 0 {
				t.Fatalf("CheckAuth error %v names no discard reason", err)
			}
		}
		stepInto(t, &p, b, key)
	})
}

// checkReencode encodes p again: the fields survive, and without a keyed
// section (whose digest depends on the key) so do the bytes when Length
// covers exactly the sections.
func checkReencode(t *testing.T, b []byte, p *Packet, key []byte) {
	t.Helper()
	enc := *p
	typ := p.Auth.Type
	if typ.Keyed() {
		_, n := typ.sectionLen()
		enc.Auth.Data = key[:min(len(key), n)]
	}
	if typ > AuthMeticulousKeyedSHA1 {
		if _, err := AppendPacket(nil, &enc); !errors.Is(err, ErrAuthType) {
			t.Fatalf("reserved type %d encoded: %v", typ, err)
		}
		return
	}
	again, err := AppendPacket(nil, &enc)
	if err != nil {
		t.Fatalf("re-encoding %s: %v", p.String(), err)
	}
	var q Packet
	if err := Decode(again, &q); err != nil {
		t.Fatalf("decoding the re-encoding of %s: %v", p.String(), err)
	}
	if diff := cmp.Diff(*p, q, cmpopts.IgnoreFields(Packet{}, "Length"), cmpopts.IgnoreFields(Auth{}, "Data")); diff != "" {
		t.Fatalf("decode(encode(decode(b))) differs:\n%s", diff)
	}
	if !typ.Keyed() && int(p.Length) == len(again) && string(again) != string(b[:p.Length]) {
		t.Fatalf("re-encoded\n %x\nfrom\n %x", again, b[:p.Length])
	}
	if typ.Keyed() {
		if err := CheckAuth(again, &q, enc.Auth.Data); err != nil {
			t.Fatalf("own digest does not check: %v", err)
		}
	}
}

// stepInto delivers p to fresh sessions in each state, configured with p's
// authentication type and key, and checks the step.
func stepInto(t *testing.T, p *Packet, raw, key []byte) {
	t.Helper()
	cfg := baseConfig()
	cfg.LocalDiscr = max(p.YourDiscr, 1)
	if typ := p.Auth.Type; typ >= AuthSimplePassword && typ <= AuthMeticulousKeyedSHA1 {
		cfg.Auth = AuthConfig{Type: typ, KeyID: p.Auth.KeyID, Secret: key}
		if cfg.Validate() != nil {
			cfg.Auth = AuthConfig{}
		}
	}
	for _, setup := range [][]Event{
		{{Kind: Enable}},
		{{Kind: Disable}},
		{{Kind: Enable}, {Kind: Received, Packet: &Packet{State: Down, DetectMult: 3, MyDiscr: 9, DesiredMinTx: 1, RequiredMinRx: 1}}},
	} {
		m, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		c := checker{cfg: cfg}
		for _, ev := range setup {
			if ev.Kind == Received && cfg.Auth.Type != AuthNone {
				continue
			}
			m.Step(ev)
		}
		before := m.Counters()
		c.up, c.sentAny = before.State == Up, before.PacketsOut > 0
		c.txWasRunning = m.TimerRunning(TransmitTimer)
		ev := Event{Kind: Received, Packet: p, Raw: raw}
		acts := m.Step(ev)
		if err := c.check(0, m, before, ev, acts); err != nil {
			t.Fatalf("%s in %s: %v\n%s", ev, before.State, err, FormatActions(acts))
		}
		after := m.Counters()
		if after.PacketsIn != before.PacketsIn+1 {
			t.Fatalf("packet not counted")
		}
	}
}

// FuzzSession runs a session through an arbitrary event sequence.
func FuzzSession(f *testing.F) {
	f.Add([]byte{0x10, 0x00, 0})
	f.Fuzz(func(t *testing.T, data []byte) { runSession(t, data) })
}

// runSession decodes data into a configuration (first byte) and events,
// and steps them through a checked session. Each event is a kind byte
// (low 3 bits), its arguments, then a byte of milliseconds to the next:
//
//	0 Enable
//	1 Disable, diag = (byte>>3) % 9
//	2-4 a packet from the peer: x (state = x&3, P = x&4, F = x&8, D = x&16,
//	  Your Discriminator 0 if x&0x80 and the state allows, Desired Min TX
//	  = intervals[x>>5]), detect mult, Required Min RX and Min Echo RX
//	  indexes, and with authentication a sequence number increment
//	5 expiry of Timers()[(byte>>3)%4], stale if byte&0x80
//	6 an Echo packet back
//	7 a new profile: transmit and receive interval indexes
func runSession(t *testing.T, data []byte) *Machine {
	cfg := baseConfig()
	if len(data) > 0 {
		flags := data[0]
		data = data[1:]
		cfg.Profile.PassiveMode = flags&1 != 0
		cfg.EchoCapable, cfg.Profile.EchoMode = flags&2 != 0, flags&4 != 0
		cfg.Profile.DetectMultiplier = uint32(flags>>3&3) + 1
		if flags&0x20 != 0 {
			cfg.Auth = AuthConfig{Type: AuthMeticulousKeyedSHA1, KeyID: 1, Secret: []byte("k")}
		}
	}
	m, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	c := checker{cfg: cfg}
	now := time.Duration(0)
	var seq uint32
	next := func() byte {
		if len(data) == 0 {
			return 0
		}
		b := data[0]
		data = data[1:]
		return b
	}
	for i := 0; len(data) > 0 && i < 500; i++ {
		b := next()
		var ev Event
		switch b % 8 {
		case 0:
			ev.Kind = Enable
		case 1:
			ev.Kind, ev.Diag = Disable, Diag(b>>3%9)
		case 2, 3, 4:
			x := next()
			p := Packet{State: State(x & 3), Poll: x&4 != 0, Final: x&8 != 0, Demand: x&16 != 0,
				MyDiscr: 2, YourDiscr: cfg.LocalDiscr, DesiredMinTx: intervals[x>>5]}
			p.DetectMult = next()%4 + 1
			p.RequiredMinRx = intervals[next()%8]
			p.RequiredMinEchoRx = intervals[next()%8]
			if x&0x80 != 0 && p.State != Init && p.State != Up {
				p.YourDiscr = 0
			}
			if cfg.Auth.Type != AuthNone {
				seq += uint32(next() % 4)
				p.Auth = Auth{Type: cfg.Auth.Type, KeyID: 1, Seq: seq, Data: cfg.Auth.Secret}
			}
			raw, err := AppendPacket(nil, &p)
			if err != nil {
				t.Fatal(err)
			}
			var got Packet
			if err := Decode(raw, &got); err != nil {
				t.Fatalf("built packet %s does not decode: %v", p.String(), err)
			}
			ev = Event{Kind: Received, Packet: &got, Raw: raw}
		case 5:
			tm := Timers()[int(b>>3)%len(Timers())]
			ev = Event{Kind: TimerExpired, Timer: tm, Token: m.Token(tm)}
			if b&0x80 != 0 {
				ev.Token++ // stale
			}
		case 6:
			ev.Kind = EchoReceived
		case 7:
			p := cfg.Profile
			p.TransmitInterval = intervals[next()%8] / 1000
			p.ReceiveInterval = intervals[next()%8] / 1000
			ev = Event{Kind: Reconfigure, Profile: p}
		}
		ev.Now, ev.Rand = now, uint32(b)*0x01010101
		before := m.Counters()
		c.txWasRunning = m.TimerRunning(TransmitTimer)
		acts := m.Step(ev)
		if err := c.check(now, m, before, ev, acts); err != nil {
			t.Fatalf("step %d: %s in %s: %v\n%s", i, ev, before.State, err, FormatActions(acts))
		}
		now += time.Duration(next()) * time.Millisecond
	}
	return m
}

// The session seeds are meant to reach somewhere; this fails if the event
// encoding changes under them.
func TestSessionSeedsReachTheirStates(t *testing.T) {
	want := map[string]func(Counters) bool{
		"handshake":      func(c Counters) bool { return c.State == Up && c.Finals == 1 },
		"handshake-echo": func(c Counters) bool { return c.State == Down && c.LastDown == CauseEchoFailed && c.EchoOut > 0 },
		"timeout":        func(c Counters) bool { return c.State == Down && c.LastDown == CauseDetectionTimeExpired },
		"passive":        func(c Counters) bool { return c.State == Up && c.StaleTimers == 1 },
		"poll-final": func(c Counters) bool {
			return c.State == Up && c.Finals == 2 && c.TransmitInterval == 300*time.Millisecond
		},
		"auth": func(c Counters) bool {
			return c.State == Up && c.Drops.Total() == 1 && c.Drops.Of(DropAuthSequence) == 1
		},
		"admindown-demand": func(c Counters) bool { return c.State == Down && c.LastDown == CauseAdminDown && c.RemoteDemand },
		"stale-and-reconfig": func(c Counters) bool {
			return c.StaleTimers == 1 && c.DesiredMinTx == time.Second && c.RequiredMinRx == 100*time.Millisecond
		},
	}
	for name, ok := range want {
		b, err := os.ReadFile(filepath.Join("testdata", "fuzz", "FuzzSession", name))
		if err != nil {
			t.Fatal(err)
		}
		data := seedBytes(t, string(b))
		if c := runSession(t, data).Counters(); !ok(c) {
			t.Errorf("seed %s ends with %+v", name, c)
		}
	}
}

// seedBytes reads the single []byte of a fuzz corpus file.
func seedBytes(t *testing.T, file string) []byte {
	t.Helper()
	var lit string
	if _, err := fmt.Sscanf(strings.TrimPrefix(file, "go test fuzz v1\n"), "[]byte(%q)", &lit); err != nil {
		t.Fatalf("corpus file %q: %v", file, err)
	}
	return []byte(lit)
}

// intervals are wire values in microseconds for FuzzSession (0 included:
// a peer may ask for no packets).
var intervals = [8]uint32{0, 1000, 10_000, 50_000, 100_000, 300_000, 1_000_000, 2_000_000}

func TestWriteFuzzSeeds(t *testing.T) {
	if !*writeSeeds {
		t.Skip("run with -write-fuzz-seeds to regenerate the seed corpora")
	}
	n := 0
	for _, rt := range roundTrips() {
		b, err := AppendPacket(nil, &rt.p)
		if err != nil {
			t.Fatal(err)
		}
		seedFile(t, "FuzzDecode", rt.name, b, rt.p.Auth.Data)
		n++
	}
	for _, v := range interopVectors {
		b, _ := hex.DecodeString(v.hex)
		seedFile(t, "FuzzDecode", v.name, b, []byte(v.secret))
		n++
	}
	up := []byte{0x00, 0, 0x02, 0x81, 2, 4, 0, 5, 0x02, 0x82, 2, 4, 0, 5, 0x02, 0x8b, 2, 4, 0, 5}
	sessions := map[string][]byte{
		// Enable; Down (your 0); Init -> Up with P; the Final.
		"handshake": append([]byte{0x10}, up...),
		// With Echo: an echo sent and back, then the Echo detection timer.
		"handshake-echo": {0x16, 0x00, 0, 0x02, 0x81, 2, 4, 3, 5, 0x02, 0x82, 2, 4, 3, 5, 0x15, 50, 0x06, 1, 0x1d, 0},
		// Up, then the Detection Timer.
		"timeout": append(append([]byte{0x10}, up...), 0x0d, 0),
		// Passive: a stale expiry first, then the peer's packets.
		"passive": {0x11, 0x00, 0, 0x05, 10, 0x02, 0x81, 2, 4, 0, 5, 0x02, 0x82, 2, 4, 0, 5},
		// Up, a 300 ms profile, a Poll packet and its Final.
		"poll-final": append(append([]byte{0x10}, up...), 0x07, 5, 5, 0, 0x05, 100, 0x02, 0x8b, 2, 4, 0, 5),
		// Meticulous SHA1: a replayed sequence number is discarded.
		"auth": {0x30, 0x00, 0, 0x02, 0x81, 2, 4, 0, 1, 5, 0x02, 0x82, 2, 4, 0, 0, 5, 0x02, 0x82, 2, 4, 0, 1, 5},
		// Up, the peer's Demand bit, then Disable and Enable.
		"admindown-demand": append(append([]byte{0x10}, up...), 0x02, 0x93, 2, 4, 0, 5, 0x01, 0, 0x00, 0),
		// A stale expiry, an invalid profile, a valid one.
		"stale-and-reconfig": {0x10, 0x00, 0, 0x85, 0, 0x07, 0, 0, 0, 0x07, 4, 4, 0},
	}
	for name, b := range sessions {
		seedFile(t, "FuzzSession", name, b)
		n++
	}
	t.Logf("wrote %d seeds", n)
}

func seedFile(t *testing.T, target, name string, args ...[]byte) {
	t.Helper()
	dir := filepath.Join("testdata", "fuzz", target)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	body := "go test fuzz v1\n"
	for _, a := range args {
		body += fmt.Sprintf("[]byte(%q)\n", a)
	}
	if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
}

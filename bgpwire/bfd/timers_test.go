package bfd

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"
)

// §6.8.7: the interval is reduced by 0 to 25%; with a multiplier of 1 the
// result is 75% to 90%.
func TestJitterBounds(t *testing.T) {
	rs := []uint32{0, 1, 1 << 31, math.MaxUint32 - 1, math.MaxUint32}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 10_000 {
		rs = append(rs, rng.Uint32())
	}
	for _, iv := range []time.Duration{time.Microsecond, 10 * time.Millisecond, 300 * time.Millisecond, time.Second, 4294 * time.Second * 255} {
		for _, mult := range []uint8{1, 2, 3, 255} {
			lo, hi := iv*3/4, iv
			if mult == 1 {
				hi = iv * 9 / 10
			}
			var sum float64
			for _, r := range rs {
				got := Jitter(iv, mult, r)
				if got < lo || got > hi {
					t.Fatalf("Jitter(%v, %d, %d) = %v, outside [%v, %v]", iv, mult, r, got, lo, hi)
				}
				sum += float64(got) / float64(iv)
			}
			// The reduction is uniform: on average 12.5% (17.5% with a
			// multiplier of 1), within sampling error.
			mean := sum / float64(len(rs))
			want := 0.875
			if mult == 1 {
				want = 0.825
			}
			if iv >= time.Millisecond && math.Abs(mean-want) > 0.005 {
				t.Errorf("Jitter(%v, %d): mean %.4f of the interval, want about %.3f", iv, mult, mean, want)
			}
		}
	}
	// The reduction grows with r: r = 0 keeps the full interval (90% for a
	// multiplier of 1), the largest r comes within a nanosecond-scale step
	// of 75%.
	if got := Jitter(time.Second, 3, 0); got != time.Second {
		t.Errorf("Jitter(1s, 3, 0) = %v", got)
	}
	if got := Jitter(time.Second, 1, 0); got != 900*time.Millisecond {
		t.Errorf("Jitter(1s, 1, 0) = %v", got)
	}
	if got := Jitter(time.Second, 3, math.MaxUint32); got-750*time.Millisecond > time.Microsecond {
		t.Errorf("Jitter(1s, 3, max) = %v", got)
	}
}

// upWith brings a session with profile p Up against a peer advertising the
// given intervals, returning it after the peer's Final (no Poll running).
func upWith(t *testing.T, p Profile, peer Packet) *Machine {
	t.Helper()
	cfg := baseConfig()
	cfg.Profile = p
	m, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	m.Step(Event{Kind: Enable})
	peer.YourDiscr = localDiscr
	for _, st := range []State{Init, Up} {
		peer.State, peer.Final = st, st == Up
		m.Step(pkt(t, peer))
	}
	if m.State() != Up || m.Counters().Polling {
		t.Fatalf("not settled Up: %+v", m.Counters())
	}
	return m
}

func pkt(t *testing.T, p Packet) Event {
	t.Helper()
	if p.MyDiscr == 0 {
		p.MyDiscr = remoteDiscr
	}
	raw, err := AppendPacket(nil, &p)
	if err != nil {
		t.Fatal(err)
	}
	var got Packet
	if err := Decode(raw, &got); err != nil {
		t.Fatal(err)
	}
	return Event{Kind: Received, Packet: &got, Raw: raw}
}

// §6.8.7 and §6.8.4 in numbers: transmit interval = max(our Desired Min TX,
// their Required Min RX); Detection Time = their Detect Mult × max(our
// Required Min RX, their Desired Min TX).
func TestNegotiatedIntervals(t *testing.T) {
	ms := func(n uint32) uint32 { return n * 1000 }
	cases := []struct {
		ourTx, ourRx, ourMult uint32
		theirTx, theirRx      uint32
		theirMult             uint8
		wantTx, wantDetect    time.Duration
		wantTheirDetectOfUs   time.Duration // what the peer computes: ourMult × max(theirRx, ourTx)
	}{
		{100, 100, 3, ms(100), ms(100), 3, 100 * time.Millisecond, 300 * time.Millisecond, 300 * time.Millisecond},
		{50, 300, 3, ms(200), ms(100), 5, 100 * time.Millisecond, 1500 * time.Millisecond, 300 * time.Millisecond},
		{300, 10, 2, ms(20), ms(1000), 4, time.Second, 80 * time.Millisecond, 2 * time.Second},
		{10, 10, 255, ms(10), ms(10), 255, 10 * time.Millisecond, 2550 * time.Millisecond, 2550 * time.Millisecond},
		{60000, 60000, 1, 1, 1, 1, time.Minute, time.Minute, time.Minute},
	}
	for _, c := range cases {
		p := Profile{Name: "n", TransmitInterval: c.ourTx, ReceiveInterval: c.ourRx, DetectMultiplier: c.ourMult}
		m := upWith(t, p, Packet{DetectMult: c.theirMult, DesiredMinTx: c.theirTx, RequiredMinRx: c.theirRx})
		got := m.Counters()
		if got.TransmitInterval != c.wantTx || got.DetectionTime != c.wantDetect {
			t.Errorf("%+v: transmit %v detect %v, want %v and %v", c, got.TransmitInterval, got.DetectionTime, c.wantTx, c.wantDetect)
		}
		// What we send lets the peer compute its Detection Time of us.
		acts := m.Step(Event{Kind: TimerExpired, Timer: TransmitTimer, Token: m.Token(TransmitTimer)})
		sent := acts[0].Packet
		theirs := time.Duration(sent.DetectMult) * Micros(max(c.theirRx, sent.DesiredMinTx))
		if theirs != c.wantTheirDetectOfUs {
			t.Errorf("%+v: the peer's Detection Time of us %v, want %v", c, theirs, c.wantTheirDetectOfUs)
		}
	}
}

// §6.8.3 while Up: a larger transmit interval and a smaller receive
// interval wait for the Final; the opposite changes apply at once.
func TestPollFinalTiming(t *testing.T) {
	base := Profile{Name: "n", TransmitInterval: 100, ReceiveInterval: 100, DetectMultiplier: 3}
	peer := Packet{DetectMult: 3, DesiredMinTx: 10_000, RequiredMinRx: 10_000}
	cases := []struct {
		name                 string
		tx, rx               uint32
		duringTx, duringDet  time.Duration
		afterTx, afterDetect time.Duration
	}{
		{"slower-tx", 300, 100, 100 * time.Millisecond, 300 * time.Millisecond, 300 * time.Millisecond, 300 * time.Millisecond},
		{"faster-tx", 20, 100, 20 * time.Millisecond, 300 * time.Millisecond, 20 * time.Millisecond, 300 * time.Millisecond},
		{"slower-rx", 100, 500, 100 * time.Millisecond, 1500 * time.Millisecond, 100 * time.Millisecond, 1500 * time.Millisecond},
		{"faster-rx", 100, 20, 100 * time.Millisecond, 300 * time.Millisecond, 100 * time.Millisecond, 60 * time.Millisecond},
		{"both", 400, 30, 100 * time.Millisecond, 300 * time.Millisecond, 400 * time.Millisecond, 90 * time.Millisecond},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := upWith(t, base, peer)
			p := base
			p.TransmitInterval, p.ReceiveInterval = c.tx, c.rx
			m.Step(Event{Kind: Reconfigure, Profile: p})
			acts := m.Step(Event{Kind: TimerExpired, Timer: TransmitTimer, Token: m.Token(TransmitTimer)})
			if len(acts) == 0 || !acts[0].Packet.Poll || acts[0].Packet.DesiredMinTx != c.tx*1000 || acts[0].Packet.RequiredMinRx != c.rx*1000 {
				t.Fatalf("the next packet is not the Poll with the new values:\n%s", FormatActions(acts))
			}
			peer.YourDiscr, peer.State = localDiscr, Up
			m.Step(pkt(t, peer))
			if got := m.Counters(); got.TransmitInterval != c.duringTx || got.DetectionTime != c.duringDet || !got.Polling {
				t.Errorf("during the Poll: transmit %v detect %v polling %v, want %v and %v", got.TransmitInterval, got.DetectionTime, got.Polling, c.duringTx, c.duringDet)
			}
			final := peer
			final.Final = true
			m.Step(pkt(t, final))
			if got := m.Counters(); got.TransmitInterval != c.afterTx || got.DetectionTime != c.afterDetect || got.Polling {
				t.Errorf("after the Final: transmit %v detect %v polling %v, want %v and %v", got.TransmitInterval, got.DetectionTime, got.Polling, c.afterTx, c.afterDetect)
			}
			if got := m.Counters(); got.Polls != 2 || got.Finals != 2 || got.Flaps != 0 {
				t.Errorf("polls %d finals %d flaps %d", got.Polls, got.Finals, got.Flaps)
			}
		})
	}
}

// A shorter interval counts from the last packet (Event.Now): due later,
// the timer covers the rest; already due, the packet goes at once.
func TestShorterIntervalCountsFromTheLastPacket(t *testing.T) {
	base := Profile{Name: "n", TransmitInterval: 1000, ReceiveInterval: 100, DetectMultiplier: 3}
	m := upWith(t, base, Packet{DetectMult: 3, DesiredMinTx: 100_000, RequiredMinRx: 100_000})
	sent := time.Hour
	acts := m.Step(Event{Kind: TimerExpired, Timer: TransmitTimer, Token: m.Token(TransmitTimer), Now: sent})
	if acts[0].Kind != SendControl {
		t.Fatalf("no periodic packet:\n%s", FormatActions(acts))
	}
	p := base
	p.TransmitInterval = 300
	acts = m.Step(Event{Kind: Reconfigure, Profile: p, Now: sent + 100*time.Millisecond})
	if len(acts) != 1 || acts[0].Kind != StartTimer || acts[0].Duration != 200*time.Millisecond {
		t.Fatalf("300 ms, 100 ms after the last packet: want the timer for the other 200 ms, got\n%s", FormatActions(acts))
	}
	p.TransmitInterval = 200
	acts = m.Step(Event{Kind: Reconfigure, Profile: p, Now: sent + 250*time.Millisecond})
	if len(acts) != 2 || acts[0].Kind != SendControl || acts[1].Kind != StartTimer || acts[1].Duration != 200*time.Millisecond {
		t.Fatalf("200 ms, 250 ms after the last packet: want a packet now, got\n%s", FormatActions(acts))
	}
}

func TestCountersCountDrops(t *testing.T) {
	cfg := baseConfig()
	cfg.Auth = AuthConfig{Type: AuthMeticulousKeyedMD5, KeyID: 1, Secret: []byte("k")}
	m, _ := New(cfg)
	m.Step(Event{Kind: Enable})
	good := Packet{State: Down, DetectMult: 3, DesiredMinTx: 1, RequiredMinRx: 1, Auth: Auth{Type: AuthMeticulousKeyedMD5, KeyID: 1, Seq: 5, Data: []byte("k")}}
	for _, c := range []struct {
		p    Packet
		want DropReason
	}{
		{func() Packet { p := good; p.Auth = Auth{}; return p }(), DropAuthMissing},
		{func() Packet { p := good; p.Auth.Type = AuthKeyedMD5; return p }(), DropAuthType},
		{func() Packet { p := good; p.Auth.KeyID = 2; return p }(), DropAuthKeyID},
		{func() Packet { p := good; p.Auth.Data = []byte("x"); return p }(), DropAuthMismatch},
		{func() Packet { p := good; p.YourDiscr = 99; return p }(), DropNoSession},
		{good, 0},
		{good, DropAuthSequence},
	} {
		before := m.Counters()
		m.Step(pkt(t, c.p))
		after := m.Counters()
		if after.PacketsIn != before.PacketsIn+1 {
			t.Errorf("%s: PacketsIn not counted", c.want)
		}
		if c.want == 0 {
			if after.Drops.Total() != before.Drops.Total() {
				t.Errorf("a good packet counted as a drop")
			}
			continue
		}
		if after.Drops.Of(c.want) != before.Drops.Of(c.want)+1 || after.Drops.Total() != before.Drops.Total()+1 {
			t.Errorf("%s: drops %v -> %v", c.want, before.Drops, after.Drops)
		}
		if wantAuth := b2u(c.want.IsAuth()); after.AuthFailures != before.AuthFailures+wantAuth {
			t.Errorf("%s: auth failures %d -> %d", c.want, before.AuthFailures, after.AuthFailures)
		}
	}
}

// The shell steps every received packet and timer through the machine, so
// steady state must not allocate.
func TestStepAppendDoesNotAllocate(t *testing.T) {
	cfg := baseConfig()
	cfg.Auth = AuthConfig{Type: AuthMeticulousKeyedSHA1, KeyID: 1, Secret: []byte("secret")}
	m, _ := New(cfg)
	m.Step(Event{Kind: Enable})
	p := Packet{State: Down, DetectMult: 3, MyDiscr: remoteDiscr, DesiredMinTx: 100_000, RequiredMinRx: 100_000,
		Auth: Auth{Type: AuthMeticulousKeyedSHA1, KeyID: 1, Data: []byte("secret")}}
	raw := make([]byte, 0, MaxPacketLen)
	var got Packet
	recv := func() {
		p.Auth.Seq++
		raw, _ = AppendPacket(raw[:0], &p)
		if err := Decode(raw, &got); err != nil {
			t.Fatal(err)
		}
		m.Step(Event{Kind: Received, Packet: &got, Raw: raw})
	}
	recv()
	p.State, p.YourDiscr = Up, localDiscr
	recv()
	if m.State() != Up {
		t.Fatalf("not Up: %s", m.State())
	}
	buf := make([]Action, 0, 8)
	allocs := testing.AllocsPerRun(1000, func() {
		p.Auth.Seq++
		raw, _ = AppendPacket(raw[:0], &p)
		_ = Decode(raw, &got)
		buf = m.StepAppend(buf[:0], Event{Kind: Received, Packet: &got, Raw: raw})
		buf = m.StepAppend(buf[:0], Event{Kind: TimerExpired, Timer: TransmitTimer, Token: m.Token(TransmitTimer)})
	})
	if allocs != 0 {
		t.Errorf("%v allocations per received packet and periodic packet", allocs)
	}
}

func BenchmarkStepReceive(b *testing.B) {
	m, _ := New(baseConfig())
	m.Step(Event{Kind: Enable})
	p := Packet{State: Down, DetectMult: 3, MyDiscr: remoteDiscr, DesiredMinTx: 100_000, RequiredMinRx: 100_000}
	m.Step(Event{Kind: Received, Packet: &p})
	p.State, p.YourDiscr = Up, localDiscr
	buf := make([]Action, 0, 8)
	b.ReportAllocs()
	for b.Loop() {
		buf = m.StepAppend(buf[:0], Event{Kind: Received, Packet: &p})
	}
}

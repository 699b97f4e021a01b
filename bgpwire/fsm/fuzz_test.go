package fsm

import (
	"net/netip"
	"testing"
	"time"

	"github.com/heraldlb/herald/bgpwire"
)

// decodeFuzzInput turns bytes into a configuration (first byte) and an
// event sequence (one or two bytes per event), so that every input is a
// valid run and small mutations make small changes to it. For a timer
// expiry, the event byte divided by the number of kinds picks its token
// (see checker.token; 0, the byte values below the number of kinds, is the
// running instance's), which run resolves.
func decodeFuzzInput(data []byte) (Config, []Event) {
	cfg := baseConfig()
	if len(data) > 0 {
		flags := data[0]
		data = data[1:]
		cfg.Passive = flags&1 != 0
		cfg.AutomaticRestart = flags&2 != 0
		cfg.SendNotificationWithoutOpen = flags&4 != 0
		cfg.PeerASMode = PeerASMode(flags >> 3 & 3 % 3)
		switch flags >> 5 & 3 {
		case 1:
			cfg.NoHoldTime = true
		case 2:
			cfg.HoldTime = 3 * time.Second
		case 3:
			cfg.Keepalive = time.Second
		}
	}
	kinds := EventKinds()
	var events []Event
	for len(data) > 0 {
		b := data[0]
		data = data[1:]
		ev := Event{Kind: kinds[int(b)%len(kinds)]}
		if expiredTimer(ev.Kind) != 0 {
			ev.Token = uint64(int(b) / len(kinds))
		}
		// Events with a payload take a second byte for it.
		switch ev.Kind {
		case BGPOpen:
			var p byte
			if len(data) > 0 {
				p, data = data[0], data[1:]
			}
			// Through the codec, as the speaker does: version 3, hold
			// time 1 or 2 and identifier 0 become BGPOpenMsgErr.
			o := peerOpen()
			o.HoldTime = []uint16{90, 0, 1, 2, 3, 65535, 30, 4}[p&7]
			switch p >> 3 & 7 {
			case 1:
				o.Version = 3
			case 2:
				o.WireAS, o.AS = 0, 0
			case 3:
				o.WireAS, o.Capabilities.FourOctetAS, o.AS = bgpwire.ASTrans, true, basePeerAS
			case 4:
				o.Identifier = netip.IPv4Unspecified()
			case 5:
				o.Identifier = baseRouter
			case 6:
				o.WireAS, o.AS = baseLocalAS, baseLocalAS
			case 7:
				o.Capabilities.FourOctetAS, o.AS = true, bgpwire.ASTrans
			}
			ev = openEvent(o)
		case BGPHeaderErr, BGPOpenMsgErr, NotifMsgVerErr, NotifMsg, UpdateMsgErr, ManualStop, AutomaticStop:
			if len(data) > 0 {
				ev.Notification = bgpwire.Notification{Code: bgpwire.ErrorCode(data[0] >> 4), Subcode: data[0] & 15}
				data = data[1:]
			}
		}
		events = append(events, ev)
	}
	return cfg, events
}

// FuzzStep runs arbitrary event sequences under every combination of the
// boolean options and checks the same invariants as the property tests.
func FuzzStep(f *testing.F) {
	f.Add([]byte{0, 0, 10, 13, 0, 19})                          // ManualStart, TCPCRAcked, BGPOpen, KeepAliveMsg
	f.Add([]byte{1, 0, 11, 13, 0, 19, 20, 21, 7})               // passive up, update, update error
	f.Add([]byte{2, 0, 10, 13, 0, 19, 7, 9, 12})                // auto-restart: hold expiry, restart, TCP fails
	f.Add([]byte{0, 0, 10, 13, 0, 19, 23, 22, 23, 24})          // send hold: blocked, expired
	f.Add([]byte{0, 0, 10, 13, 2, 0, 10, 13, 8, 0, 10, 13, 16}) // OPEN errors
	f.Add(staleHoldSeed)
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, events := decodeFuzzInput(data)
		run(t, cfg, events)
	})
}

// staleHoldSeed brings a session up, restarts the hold timer with a
// KEEPALIVE, delivers the expiry of the older hold timer (kind 7 with token
// choice 2, an older token), then that of the running one.
var staleHoldSeed = []byte{0, 0, 10, 13, 0, 19, 19, 7 + 2*26, 7}

func TestFuzzDecoderStaleSeed(t *testing.T) {
	cfg, events := decodeFuzzInput(staleHoldSeed)
	m, _ := New(cfg)
	c := &checker{cfg: cfg}
	for i, ev := range events {
		if tm := expiredTimer(ev.Kind); tm != 0 {
			ev.Token = c.token(tm, uint8(ev.Token))
		}
		before, counter := m.State(), m.ConnectRetryCounter()
		acts := m.Step(ev)
		if err := c.check(m, before, counter, ev, acts); err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		if i == len(events)-2 && (m.State() != Established || c.stale != 1) {
			t.Fatalf("after the stale expiry: %s, %d stale", m.State(), c.stale)
		}
	}
	if m.State() != Idle {
		t.Fatalf("the running hold timer's expiry left %s", m.State())
	}
}

func TestFuzzDecoderSeedsReachEstablished(t *testing.T) {
	cfg, events := decodeFuzzInput([]byte{0, 0, 10, 13, 0, 19})
	m, _ := New(cfg)
	for _, ev := range events {
		m.Step(ev)
	}
	if m.State() != Established {
		t.Fatalf("seed ends in %s; the decoder's event numbering changed", m.State())
	}
}

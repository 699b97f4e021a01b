package fsm

import (
	"fmt"
	"net/netip"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/heraldlb/herald/bgpwire"
)

// checker holds what a shell would know from the action stream alone and
// checks, after every step, that the actions were well formed.
type checker struct {
	cfg Config
	up  bool // between SessionUp and SessionDown
	// running is the token of each running timer, 0 if stopped; last is
	// the largest token seen.
	running [numTimers]uint64
	last    uint64
	ups     int
	// stale counts expiries that did not match the running timer, to
	// show the generators produce them.
	stale int
}

// token picks the token a shell might deliver for timer t: choice 0 is
// the running instance's (or, if t is not running, the last one seen
// anywhere), 1 is 0 (never started), 2 is an older token, 3 one not yet
// issued.
func (c *checker) token(t Timer, choice uint8) uint64 {
	switch choice % 4 {
	case 1:
		return 0
	case 2:
		if c.last > 1 {
			return c.last - 1 - uint64(choice/4)%(c.last-1)
		}
		return c.last
	case 3:
		return c.last + 1
	}
	if c.running[t] != 0 {
		return c.running[t]
	}
	return c.last
}

func (c *checker) check(m *Machine, before State, counterBefore uint32, ev Event, actions []Action) error {
	after := m.State()
	if after >= numStates {
		return fmt.Errorf("invalid state %d", after)
	}
	if t := expiredTimer(ev.Kind); t != 0 {
		if ev.Token == 0 || ev.Token != c.running[t] {
			// A stale expiry changes nothing and does nothing.
			c.stale++
			if len(actions) != 0 || after != before || m.ConnectRetryCounter() != counterBefore {
				return fmt.Errorf("stale expiry (running #%d) acted: %s -> %s, %d actions", c.running[t], before, after, len(actions))
			}
			return nil
		}
		c.running[t] = 0
	}
	dropped := false
	for i, a := range actions {
		_ = a.String()
		// After a drop only timers and, on a connect retry, a new dial.
		if dropped && a.Kind != StartTimer && a.Kind != InitiateConnection {
			return fmt.Errorf("action %d %s after DropConnection", i, a)
		}
		switch a.Kind {
		case SendKeepalive:
			if after != OpenConfirm && after != Established {
				return fmt.Errorf("SendKeepalive ending in %s", after)
			}
		case SessionUp:
			if c.up || before != OpenConfirm || after != Established {
				return fmt.Errorf("SessionUp %s -> %s while up=%v", before, after, c.up)
			}
			if a.Session.HoldTime != 0 && (a.Session.HoldTime < 3*time.Second || a.Session.Keepalive <= 0 || a.Session.Keepalive > a.Session.HoldTime/3) {
				return fmt.Errorf("SessionUp with hold %s keepalive %s", a.Session.HoldTime, a.Session.Keepalive)
			}
			c.up = true
			c.ups++
		case SessionDown:
			if !c.up || before != Established || after == Established {
				return fmt.Errorf("SessionDown %s -> %s while up=%v", before, after, c.up)
			}
			if a.Reason == 0 || a.Reason >= numReasons {
				return fmt.Errorf("SessionDown without reason")
			}
			c.up = false
		case SendOpen:
			if after != OpenSent || (before != Connect && before != Active) {
				return fmt.Errorf("SendOpen %s -> %s", before, after)
			}
		case InitiateConnection:
			if after != Connect || c.cfg.Passive {
				return fmt.Errorf("InitiateConnection ending in %s (passive %v)", after, c.cfg.Passive)
			}
		case SendNotification:
			if before < OpenSent && !c.cfg.SendNotificationWithoutOpen {
				return fmt.Errorf("NOTIFICATION sent in %s", before)
			}
			if after != Idle || !hasAction(actions[i:], DropConnection) {
				return fmt.Errorf("NOTIFICATION not followed by a drop to Idle")
			}
		case StartTimer:
			if a.Timer == 0 || a.Timer >= numTimers {
				return fmt.Errorf("StartTimer of timer %d", a.Timer)
			}
			if a.Duration <= 0 && a.Timer != IdleHoldTimer {
				return fmt.Errorf("StartTimer(%s) with %s", a.Timer, a.Duration)
			}
			if a.Token <= c.last {
				return fmt.Errorf("StartTimer(%s) reuses token %d (last %d)", a.Timer, a.Token, c.last)
			}
			c.running[a.Timer], c.last = a.Token, a.Token
		case StopTimer:
			if c.running[a.Timer] == 0 {
				return fmt.Errorf("StopTimer(%s) of a timer not running", a.Timer)
			}
			c.running[a.Timer] = 0
		case DropConnection:
			dropped = true
		case ProcessUpdate:
			if before != Established {
				return fmt.Errorf("ProcessUpdate in %s", before)
			}
		case ReleaseResources:
		default:
			return fmt.Errorf("unknown action %d", a.Kind)
		}
	}
	if c.up != (after == Established) {
		return fmt.Errorf("in %s with session up=%v", after, c.up)
	}
	for t := Timer(1); t < numTimers; t++ {
		if c.running[t] != m.TimerToken(t) || (c.running[t] != 0) != m.TimerRunning(t) {
			return fmt.Errorf("timer %s: actions say #%d, machine says #%d", t, c.running[t], m.TimerToken(t))
		}
	}
	if after < OpenSent && (c.running[HoldTimer] != 0 || c.running[KeepaliveTimer] != 0 || c.running[SendHoldTimer] != 0) {
		return fmt.Errorf("session timers left running in %s: %v", after, c.running)
	}
	if c.running[KeepaliveTimer] != 0 && m.Session().HoldTime == 0 {
		return fmt.Errorf("keepalives with hold time 0")
	}
	if c.running[IdleHoldTimer] != 0 && (after != Idle || !c.cfg.AutomaticRestart) {
		return fmt.Errorf("IdleHoldTimer running in %s", after)
	}
	if n := m.ConnectRetryCounter(); n != counterBefore && n != counterBefore+1 && n != 0 {
		return fmt.Errorf("ConnectRetryCounter %d -> %d", counterBefore, n)
	}
	return nil
}

// fataler is what testing.T and rapid.T share.
type fataler interface {
	Fatalf(format string, args ...any)
}

// run steps m through events, checking every step. A timer expiry's Token
// is a choice for checker.token, resolved against the tokens issued so far.
func run(t fataler, cfg Config, events []Event) {
	m, err := New(cfg)
	if err != nil {
		t.Fatalf("config %+v: %v", cfg, err)
	}
	c := &checker{cfg: cfg}
	buf := make([]Action, 0, 16)
	for i, ev := range events {
		if tm := expiredTimer(ev.Kind); tm != 0 {
			ev.Token = c.token(tm, uint8(ev.Token))
		}
		before, counter := m.State(), m.ConnectRetryCounter()
		buf = m.StepAppend(buf[:0], ev)
		if err := c.check(m, before, counter, ev, buf); err != nil {
			t.Fatalf("step %d: %s in %s: %v\nactions:\n%s", i, ev, before, err, FormatActions(buf))
		}
	}
}

func configGen() *rapid.Generator[Config] {
	return rapid.Custom(func(t *rapid.T) Config {
		cfg := baseConfig()
		cfg.Passive = rapid.Bool().Draw(t, "passive")
		cfg.AutomaticRestart = rapid.Bool().Draw(t, "autoRestart")
		cfg.SendNotificationWithoutOpen = rapid.Bool().Draw(t, "notifyWithoutOpen")
		switch rapid.IntRange(0, 3).Draw(t, "hold") {
		case 0:
			cfg.NoHoldTime = true
		case 1:
			cfg.HoldTime = 3 * time.Second
		case 2:
			cfg.HoldTime = 240 * time.Second
		}
		if !cfg.NoHoldTime && rapid.Bool().Draw(t, "keepalive") {
			cfg.Keepalive = time.Second
		}
		cfg.PeerASMode = PeerASMode(rapid.IntRange(0, 2).Draw(t, "peerMode"))
		return cfg
	})
}

// eventGen draws events with payloads that are mostly acceptable, so that
// sessions often come up, and sometimes not.
func eventGen() *rapid.Generator[Event] {
	kinds := EventKinds()
	return rapid.Custom(func(t *rapid.T) Event {
		ev := Event{Kind: rapid.SampledFrom(kinds).Draw(t, "kind")}
		switch ev.Kind {
		case BGPOpen:
			// Through the codec: a broken OPEN may become BGPOpenMsgErr.
			o := peerOpen()
			o.HoldTime = rapid.SampledFrom([]uint16{0, 1, 2, 3, 90, 65535}).Draw(t, "peerHold")
			if rapid.IntRange(0, 9).Draw(t, "breakOpen") == 0 {
				o.Version = uint8(rapid.IntRange(0, 5).Draw(t, "version"))
				o.WireAS = uint16(rapid.SampledFrom([]int{0, bgpwire.ASTrans, baseLocalAS, basePeerAS}).Draw(t, "as"))
				o.AS = uint32(o.WireAS)
				o.Identifier = rapid.SampledFrom([]netip.Addr{netip.IPv4Unspecified(), baseRouter, basePeerID}).Draw(t, "id")
				if rapid.Bool().Draw(t, "as4cap") {
					o.Capabilities.FourOctetAS = true
					o.AS = rapid.SampledFrom([]uint32{0, bgpwire.ASTrans, basePeerAS, 4200000000}).Draw(t, "as4")
				}
			}
			ev = openEvent(o)
		case BGPHeaderErr, BGPOpenMsgErr, NotifMsgVerErr, NotifMsg, UpdateMsgErr, ManualStop, AutomaticStop:
			ev.Notification.Code = bgpwire.ErrorCode(rapid.IntRange(0, 8).Draw(t, "code"))
			ev.Notification.Subcode = uint8(rapid.IntRange(0, 11).Draw(t, "subcode"))
		}
		return ev
	})
}

// Arbitrary events mixed with plausible ones, so that long runs reach every
// state and then meet every kind of surprise there.
func TestPropertyRandomEventSequences(t *testing.T) {
	var reached [numStates]bool
	staleInEstablished := 0
	defer func() {
		for s, ok := range reached {
			if !ok {
				t.Errorf("no run reached %s", State(s))
			}
		}
		if staleInEstablished == 0 {
			t.Errorf("no run delivered a stale timer expiry in Established")
		}
	}()
	rapid.Check(t, func(t *rapid.T) {
		cfg := configGen().Draw(t, "config")
		m, err := New(cfg)
		if err != nil {
			t.Fatalf("%v", err)
		}
		c := &checker{cfg: cfg}
		buf := make([]Action, 0, 16)
		steps := rapid.IntRange(1, 300).Draw(t, "steps")
		for i := range steps {
			var ev Event
			if rapid.IntRange(0, 2).Draw(t, fmt.Sprintf("arbitrary%d", i)) == 0 {
				ev = eventGen().Draw(t, fmt.Sprintf("event%d", i))
				if tm := expiredTimer(ev.Kind); tm != 0 {
					ev.Token = c.token(tm, uint8(rapid.IntRange(0, 255).Draw(t, fmt.Sprintf("token%d", i))))
				}
			} else {
				ev = plausibleEvent(t, m, i)
			}
			before, counter := m.State(), m.ConnectRetryCounter()
			stale := c.stale
			buf = m.StepAppend(buf[:0], ev)
			if err := c.check(m, before, counter, ev, buf); err != nil {
				t.Fatalf("step %d: %s in %s: %v\nactions:\n%s", i, ev, before, err, FormatActions(buf))
			}
			reached[m.State()] = true
			if c.stale > stale && before == Established {
				staleInEstablished++
			}
		}
	})
}

// A shell that behaves (no stale timers, messages only when they can
// arrive) should bring sessions up and down many times; this also checks
// that SessionUp and SessionDown alternate over long runs.
func TestPropertySessionsComeUp(t *testing.T) {
	totalUps := 0
	defer func() {
		if totalUps == 0 {
			t.Errorf("no run brought a session up: the generator no longer exercises Established")
		}
	}()
	rapid.Check(t, func(t *rapid.T) {
		cfg := configGen().Draw(t, "config")
		cfg.PeerASMode = PeerASExact
		m, _ := New(cfg)
		c := &checker{cfg: cfg}
		for i := range 100 {
			ev := plausibleEvent(t, m, i)
			before, counter := m.State(), m.ConnectRetryCounter()
			actions := m.Step(ev)
			if err := c.check(m, before, counter, ev, actions); err != nil {
				t.Fatalf("step %d: %s in %s: %v", i, ev, before, err)
			}
		}
		totalUps += c.ups
	})
}

// plausibleEvent picks an event a correct shell could deliver in m's state:
// expiries only of running timers, peer messages only once connected.
func plausibleEvent(t *rapid.T, m *Machine, i int) Event {
	var kinds []EventKind
	for tm := Timer(1); tm < numTimers; tm++ {
		if m.TimerRunning(tm) {
			kinds = append(kinds, expiryOf(tm))
		}
	}
	switch m.State() {
	case Idle:
		kinds = append(kinds, ManualStart, AutomaticStart, ManualStartPassive)
	case Connect, Active:
		kinds = append(kinds, TCPCRAcked, TCPConnectionConfirmed, TCPConnectionFails, ManualStop)
	case OpenSent:
		kinds = append(kinds, BGPOpen, BGPOpen, BGPOpen, NotifMsg, TCPConnectionFails, SendBlocked, SendProgressed)
	case OpenConfirm:
		kinds = append(kinds, KeepAliveMsg, KeepAliveMsg, NotifMsg, OpenCollisionDump, SendBlocked)
	case Established:
		kinds = append(kinds, KeepAliveMsg, UpdateMsg, UpdateSent, UpdateMsgErr, SendBlocked, SendProgressed, ManualStop, AutomaticStop)
	}
	ev := Event{Kind: rapid.SampledFrom(kinds).Draw(t, fmt.Sprintf("kind%d", i))}
	if tm := expiredTimer(ev.Kind); tm != 0 {
		ev.Token = m.TimerToken(tm)
	}
	if ev.Kind == BGPOpen {
		o := peerOpen()
		o.HoldTime = rapid.SampledFrom([]uint16{0, 2, 3, 90}).Draw(t, fmt.Sprintf("hold%d", i))
		ev = openEvent(o)
	}
	if ev.Kind == NotifMsg || ev.Kind == UpdateMsgErr {
		ev.Notification = bgpwire.Notification{Code: bgpwire.CodeCease, Subcode: bgpwire.SubcodeAdministrativeShutdown}
	}
	return ev
}

func expiryOf(t Timer) EventKind {
	for _, k := range EventKinds() {
		if expiredTimer(k) == t {
			return k
		}
	}
	panic("no expiry event for " + t.String())
}

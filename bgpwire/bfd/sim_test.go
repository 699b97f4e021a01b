package bfd

import (
	"container/heap"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"
)

// sim runs two Machines against each other in simulated time: a shell
// that carries out every action (packets encoded, delivered after a fixed
// latency and decoded; timers as scheduled expiries, stale ones
// delivered too; Echo packets looped by the far end) and a checker that
// validates every step. It is deterministic for a seed.
type sim struct {
	now     time.Duration
	seq     uint64
	q       simQueue
	rng     *rand.Rand
	latency time.Duration
	ends    [2]*simEnd
	// cut[i] drops what end i sends (and the echoes it loops back).
	cut [2]bool
	// disables are the times of the Disable events stepped on either end.
	disables []time.Duration
	errs     []string
	// trace keeps the last traceLen steps, for failure messages, as a ring
	// from trace[traced%traceLen]; recent formats them.
	trace  [traceLen]simStep
	traced int
	// stopOnFailure ends the run at the first failure reported for which
	// it returns true (nil: any).
	stopOnFailure func(e *simEnd, r simReport) bool
	stopped       bool
}

const traceLen = 80

// simStep is one step of the trace, kept unformatted: formatting every
// step took most of a property test's time.
type simStep struct {
	at   time.Duration
	end  int
	ev   Event
	pkt  Packet // *ev.Packet, which the run does not keep
	acts []Action
}

// recent is the trace of the last steps, one line each.
func (s *sim) recent() string {
	var b strings.Builder
	for k := max(0, s.traced-traceLen); k < s.traced; k++ {
		st := &s.trace[k%traceLen]
		ev := st.ev
		if ev.Packet != nil {
			ev.Packet = &st.pkt
		}
		acts := strings.ReplaceAll(strings.TrimSpace(FormatActions(st.acts)), "\n", "; ")
		fmt.Fprintf(&b, "%v end %d %s: %s\n", st.at, st.end, ev, acts)
	}
	return strings.TrimSuffix(b.String(), "\n")
}

type simEnd struct {
	m       *Machine
	cfg     Config
	checker checker
	// history of SessionUp/SessionDown with their times.
	ups, downs []simReport
	// lastRecv is when the last packet was delivered to this end; drops
	// the times at which packets to or from it were lost.
	lastRecv time.Duration
	drops    []time.Duration
	buf      []Action
	pkt      []byte
}

type simReport struct {
	at    time.Duration
	cause DownCause
	// remoteDiag is the diagnostic of the peer's last packet, for
	// SessionDown.
	remoteDiag Diag
}

const (
	itemPacket = iota
	itemTimer
	itemEcho
	itemScript
)

type simItem struct {
	at     time.Duration
	seq    uint64
	end    int
	kind   int
	raw    []byte
	timer  Timer
	token  uint64
	script func(*sim)
}

type simQueue []simItem

func (q simQueue) Len() int { return len(q) }
func (q simQueue) Less(i, j int) bool {
	if q[i].at != q[j].at {
		return q[i].at < q[j].at
	}
	return q[i].seq < q[j].seq
}
func (q simQueue) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *simQueue) Push(x any)   { *q = append(*q, x.(simItem)) }
func (q *simQueue) Pop() any {
	old := *q
	x := old[len(old)-1]
	*q = old[:len(old)-1]
	return x
}

func newSim(seed uint64, latency time.Duration, a, b Config) (*sim, error) {
	s := &sim{rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), latency: latency}
	for i, cfg := range []Config{a, b} {
		m, err := New(cfg)
		if err != nil {
			return nil, err
		}
		s.ends[i] = &simEnd{m: m, cfg: cfg, checker: checker{cfg: cfg}}
	}
	return s, nil
}

func (s *sim) schedule(it simItem) {
	s.seq++
	it.seq = s.seq
	heap.Push(&s.q, it)
}

// at schedules a script step (an administrative or link change).
func (s *sim) at(t time.Duration, f func(*sim)) {
	s.schedule(simItem{at: t, kind: itemScript, script: f})
}

func (s *sim) run(until time.Duration) {
	for s.q.Len() > 0 && s.q[0].at <= until && !s.stopped {
		it := heap.Pop(&s.q).(simItem)
		s.now = it.at
		switch it.kind {
		case itemScript:
			it.script(s)
		case itemPacket:
			e := s.ends[it.end]
			var p Packet
			if err := Decode(it.raw, &p); err != nil {
				s.errs = append(s.errs, fmt.Sprintf("%v: end %d: a sent packet does not decode: %v", s.now, it.end, err))
				continue
			}
			e.lastRecv = s.now
			s.step(it.end, Event{Kind: Received, Packet: &p, Raw: it.raw})
		case itemTimer:
			s.step(it.end, Event{Kind: TimerExpired, Timer: it.timer, Token: it.token})
		case itemEcho:
			s.step(it.end, Event{Kind: EchoReceived})
		}
	}
	if !s.stopped {
		s.now = until
	}
}

// step steps one end and carries out its actions.
func (s *sim) step(i int, ev Event) {
	e := s.ends[i]
	ev.Rand, ev.Now = s.rng.Uint32(), s.now
	before := e.m.Counters()
	e.checker.txWasRunning = e.m.TimerRunning(TransmitTimer)
	e.buf = e.m.StepAppend(e.buf[:0], ev)
	if err := e.checker.check(s.now, e.m, before, ev, e.buf); err != nil {
		s.errs = append(s.errs, fmt.Sprintf("%v: end %d: %s in %s: %v\n%s", s.now, i, ev, before.State, err, FormatActions(e.buf)))
	}
	st := &s.trace[s.traced%traceLen]
	s.traced++
	st.at, st.end, st.ev, st.acts = s.now, i, ev, append(st.acts[:0], e.buf...)
	if ev.Packet != nil {
		st.pkt = *ev.Packet
	}
	other := 1 - i
	for _, a := range e.buf {
		switch a.Kind {
		case SendControl:
			var err error
			e.pkt, err = AppendPacket(e.pkt[:0], &a.Packet)
			if err != nil {
				s.errs = append(s.errs, fmt.Sprintf("%v: end %d: encoding %s: %v", s.now, i, a.Packet.String(), err))
				continue
			}
			if s.cut[i] {
				e.drops = append(e.drops, s.now)
				s.ends[other].drops = append(s.ends[other].drops, s.now)
				continue
			}
			s.schedule(simItem{at: s.now + s.latency, end: other, kind: itemPacket, raw: append([]byte(nil), e.pkt...)})
		case SendEcho:
			if s.cut[i] || s.cut[other] {
				e.drops = append(e.drops, s.now)
				s.ends[other].drops = append(s.ends[other].drops, s.now)
				continue
			}
			s.schedule(simItem{at: s.now + 2*s.latency, end: i, kind: itemEcho})
		case StartTimer:
			s.schedule(simItem{at: s.now + a.Duration, end: i, kind: itemTimer, timer: a.Timer, token: a.Token})
		case SessionUp:
			e.ups = append(e.ups, simReport{at: s.now})
		case SessionDown:
			r := simReport{at: s.now, cause: a.Cause, remoteDiag: e.m.Counters().RemoteDiag}
			e.downs = append(e.downs, r)
			if s.stopOnFailure != nil && r.cause.Failure() && s.stopOnFailure(e, r) {
				s.stopped = true
			}
		}
	}
}

// admin steps an administrative or configuration event on end i.
func (s *sim) admin(i int, ev Event) {
	if ev.Kind == Disable {
		s.disables = append(s.disables, s.now)
	}
	s.step(i, ev)
}

// checker validates each step from its actions and the machine's
// counters, the way a shell could see them.
type checker struct {
	cfg       Config
	up        bool
	lastToken uint64
	sentAny   bool
	// lastSent and lastEcho are when the last Control and Echo packets
	// left: a transmit timer is checked as the spacing it gives from them.
	lastSent time.Duration
	lastEcho time.Duration
	// txWasRunning: the transmit timer ran before the step (a timer armed
	// afresh is checked from the step, not from the last packet).
	txWasRunning bool
}

func (c *checker) check(now time.Duration, m *Machine, before Counters, ev Event, acts []Action) error {
	after := m.Counters()
	prof := m.Config().Profile
	sends := 0
	from := c.lastSent
	if !c.txWasRunning {
		from = now
	}
	for _, a := range acts {
		_ = a.String()
		switch a.Kind {
		case SendControl:
			p := a.Packet
			sends++
			if sends > 1 {
				return fmt.Errorf("two Control packets in one step")
			}
			if p.Poll && p.Final {
				return fmt.Errorf("P and F together")
			}
			if p.Final && !(ev.Kind == Received && ev.Packet.Poll) {
				return fmt.Errorf("F without a Poll to answer")
			}
			if ev.Kind == Received && ev.Packet.Poll && before.State != AdminDown && !p.Final {
				return fmt.Errorf("a Poll answered without F")
			}
			if p.State != after.State || p.Diag != after.LocalDiag {
				return fmt.Errorf("sent %s/%s while in %s/%s", p.State, p.Diag, after.State, after.LocalDiag)
			}
			if p.MyDiscr != c.cfg.LocalDiscr || p.Demand || uint32(p.DetectMult) != prof.DetectMultiplier {
				return fmt.Errorf("packet fields %s", p.String())
			}
			if prof.PassiveMode && p.YourDiscr == 0 {
				return fmt.Errorf("passive session sent before knowing the peer")
			}
			if p.State != Up && p.DesiredMinTx < slowInterval {
				return fmt.Errorf("Desired Min TX %d µs while %s", p.DesiredMinTx, p.State)
			}
			if (p.RequiredMinEchoRx != 0) != (c.cfg.EchoCapable && prof.EchoMode) {
				return fmt.Errorf("Required Min Echo RX %d with echo capable %v mode %v", p.RequiredMinEchoRx, c.cfg.EchoCapable, prof.EchoMode)
			}
			if wantAuth := c.cfg.Auth.Type; p.Auth.Type != wantAuth {
				return fmt.Errorf("auth type %s, configured %s", p.Auth.Type, wantAuth)
			}
			c.sentAny, c.lastSent, from = true, now, now
		case SendEcho:
			if !after.EchoActive || after.State != Up {
				return fmt.Errorf("SendEcho in %s with echo active %v", after.State, after.EchoActive)
			}
			c.lastEcho = now
		case StartTimer:
			if a.Duration <= 0 || a.Token <= c.lastToken || a.Timer == 0 || a.Timer >= numTimers {
				return fmt.Errorf("StartTimer(%s %s #%d) after token %d", a.Timer, a.Duration, a.Token, c.lastToken)
			}
			c.lastToken = a.Token
			switch a.Timer {
			case TransmitTimer:
				lo, hi := jitterBounds(after.TransmitInterval, prof.DetectMultiplier)
				if gap := now + a.Duration - from; gap < lo || gap > hi {
					return fmt.Errorf("transmit timer %s spaces packets %s apart, outside [%s, %s]", a.Duration, gap, lo, hi)
				}
			case DetectTimer:
				if a.Duration != after.DetectionTime {
					return fmt.Errorf("detect timer %s, Detection Time %s", a.Duration, after.DetectionTime)
				}
			case EchoTransmitTimer:
				lo, hi := jitterBounds(after.EchoInterval, prof.DetectMultiplier)
				if !before.EchoActive {
					c.lastEcho = now // the first one counts from the start
				}
				if gap := now + a.Duration - c.lastEcho; gap < lo || gap > hi {
					return fmt.Errorf("echo timer %s spaces echoes %s apart, outside [%s, %s]", a.Duration, gap, lo, hi)
				}
			case EchoDetectTimer:
				if a.Duration != after.EchoDetectionTime {
					return fmt.Errorf("echo detect timer %s, want %s", a.Duration, after.EchoDetectionTime)
				}
			}
		case StopTimer:
			if m.TimerRunning(a.Timer) {
				return fmt.Errorf("StopTimer(%s) but the machine still runs it", a.Timer)
			}
		case SessionUp:
			if c.up || after.State != Up || before.State == Up {
				return fmt.Errorf("SessionUp %s -> %s while up=%v", before.State, after.State, c.up)
			}
			c.up = true
		case SessionDown:
			if !c.up || before.State != Up || after.State == Up || a.Cause == 0 || a.Cause >= numCauses {
				return fmt.Errorf("SessionDown(%s) %s -> %s while up=%v", a.Cause, before.State, after.State, c.up)
			}
			c.up = false
		default:
			return fmt.Errorf("unknown action %d", a.Kind)
		}
	}
	if c.up != (after.State == Up) {
		return fmt.Errorf("in %s, reported up=%v", after.State, c.up)
	}
	if prof.PassiveMode && !c.sentAny && m.TimerRunning(TransmitTimer) {
		return fmt.Errorf("passive session arms its transmit timer before its first packet")
	}
	if after.EchoActive && !m.TimerRunning(EchoTransmitTimer) {
		return fmt.Errorf("echo active without its transmit timer")
	}
	if !after.EchoActive && (m.TimerRunning(EchoTransmitTimer) || m.TimerRunning(EchoDetectTimer)) {
		return fmt.Errorf("echo timers running while echo is off")
	}
	if c.cfg.Auth.Type.Keyed() && m.seqKnown && !m.TimerRunning(DetectTimer) {
		return fmt.Errorf("a known sequence number without a Detection Timer to forget it")
	}
	return nil
}

// jitterBounds is §6.8.7 as an interval: 75% to 100% of the negotiated
// interval, or 75% to 90% with a multiplier of 1.
func jitterBounds(iv time.Duration, mult uint32) (lo, hi time.Duration) {
	lo, hi = iv*3/4, iv
	if mult == 1 {
		hi = iv * 9 / 10
	}
	return lo, hi
}

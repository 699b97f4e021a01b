package peer

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/heraldlb/herald/bgpwire"
	"github.com/heraldlb/herald/bgpwire/fsm"
)

// Peer is the BGP session with one configured peer: its connections (both
// of a collision), their state machines, the restart backoff and the
// Adj-RIB-Out. It is not safe for concurrent use; an actor owns it. Build
// one with New.
type Peer struct {
	cfg   Config
	admin bool // Start received and no Stop since
	gone  bool // Deconfigure received: terminal

	slots    [numSlots]slot
	lastConn ConnID
	est      *slot // the slot whose session is Established, if any

	// The shell's timers: the token of each running one (0: stopped),
	// with the machine's token for slot timers and the duration to
	// report. stepTokens is the table when the step began, so that each
	// step reports only the net change of each timer.
	timers     [numTimers]timerRec
	stepTokens [numTimers]uint64
	lastToken  uint64

	// The restart backoff.
	failures    int
	lastFailure time.Time

	sentFirstOpen bool // the R bit goes in the first OPEN only
	sessionGen    uint64
	ebgpPath      []bgpwire.ASSegment

	rib rib
	st  Status

	// Per step.
	out      []Action
	outStart int
	wbuf     []byte
	now      time.Time
	jitter   float64
	msg      bgpwire.Message // decoding scratch
}

type timerRec struct {
	token, fsmToken uint64
	dur             time.Duration
}

// slot is one machine and its current connection.
type slot struct {
	id    Slot
	m     *fsm.Machine
	acts  []fsm.Action // StepAppend buffer
	conn  ConnID       // 0: none
	local LocalAddrs
	rbuf  []byte // a partial message received
	// blocked: the shell reported SendBlocked and not yet SendProgressed.
	blocked bool

	ours bgpwire.Open // the OPEN we sent on conn
	peer peerCaps     // from the peer's accepted OPEN
	wire bgpwire.Session
	sess Session
	// refresh marks families whose table the peer asked for again.
	refresh [numAF]bool
}

// New returns a Peer for cfg, down until Start, or cfg's first error.
func New(cfg Config) (*Peer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	p := &Peer{cfg: cfg}
	for i := range p.slots {
		s := &p.slots[i]
		s.id = Slot(i)
		// The incoming slot's machine is always started passive; the
		// outgoing one dials unless the peer is passive, in which case it
		// is never started.
		m, err := fsm.New(cfg.fsmConfig(s.id == Incoming))
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrConfig, err)
		}
		s.m = m
	}
	p.ebgpPath = []bgpwire.ASSegment{{Type: bgpwire.ASSequence, ASNs: []uint32{cfg.localAS()}}}
	p.rib.init()
	return p, nil
}

// Step applies one event and returns the actions for the shell, in order.
func (p *Peer) Step(ev Event) []Action { return p.StepAppend(nil, ev) }

// StepAppend is Step appending to out.
func (p *Peer) StepAppend(out []Action, ev Event) []Action {
	p.out, p.outStart = out, len(out)
	p.wbuf = nil // the previous step's bytes belong to the shell now
	p.now = ev.At
	p.jitter = ev.Jitter
	if !(p.jitter >= 0) { // also NaN
		p.jitter = 0
	}
	p.jitter = min(p.jitter, 1)
	for i := range p.timers {
		p.stepTokens[i] = p.timers[i].token
	}
	before := p.state()
	p.st.Events++
	if !p.gone {
		p.handle(&ev)
	} else if ev.Kind == Accepted {
		p.refuse(fmt.Errorf("peer de-configured"))
	}
	p.reconcile()
	p.flush()
	p.emitTimers()
	p.noteTransition(before)
	return p.finish()
}

func (p *Peer) finish() []Action {
	out := p.out
	for i := p.outStart; i < len(out); i++ {
		if a := &out[i]; a.Kind == Send {
			a.Bytes = p.wbuf[a.off:a.end:a.end]
			a.off, a.end = 0, 0
		}
	}
	p.out = nil
	return out
}

func (p *Peer) handle(ev *Event) {
	switch ev.Kind {
	case Start:
		if !p.admin {
			p.admin = true
			p.failures = 0
			if !p.cfg.Passive {
				p.stepMachine(&p.slots[Outgoing], fsm.Event{Kind: fsm.ManualStart})
			}
		}
	case Stop:
		n := bgpwire.Notification{Code: bgpwire.CodeCease, Subcode: bgpwire.SubcodeAdministrativeShutdown}
		if ev.Reason != "" {
			n.Data = bgpwire.AppendShutdownData(nil, ev.Reason)
		}
		p.shutdown(n)
	case Deconfigure:
		p.shutdown(bgpwire.Notification{Code: bgpwire.CodeCease, Subcode: bgpwire.SubcodePeerDeconfigured})
		p.gone = true
	case BFDDown:
		if s := p.est; s != nil {
			// A failure, not an administrative stop: the Peer dials again
			// after its backoff (RFC 5882 section 10.2).
			p.stepMachine(s, fsm.Event{Kind: fsm.AutomaticStop,
				Notification: bgpwire.Notification{Code: bgpwire.CodeCease, Subcode: bgpwire.SubcodeBFDDown}})
		}
	case Connected:
		s := p.slotOf(ev.Conn)
		if s == nil || s.id != Outgoing || s.m.State() != fsm.Connect {
			// A dial we gave up on completed after all.
			p.emit(Action{Kind: Close, Conn: ev.Conn})
			return
		}
		s.local = normalize(ev.Local)
		p.stepMachine(s, fsm.Event{Kind: fsm.TCPCRAcked})
	case DialFailed:
		if s := p.slotOf(ev.Conn); s != nil && s.id == Outgoing && s.m.State() == fsm.Connect {
			if ev.Err != nil {
				p.setError(fmt.Errorf("connecting: %w", ev.Err))
			}
			p.stepMachine(s, fsm.Event{Kind: fsm.TCPConnectionFails})
		}
	case Accepted:
		p.accept(ev)
	case Closed:
		if s := p.slotOf(ev.Conn); s != nil {
			if ev.Err != nil {
				p.setError(fmt.Errorf("connection closed: %w", ev.Err))
			}
			p.stepMachine(s, fsm.Event{Kind: fsm.TCPConnectionFails})
		}
	case Received:
		if s := p.slotOf(ev.Conn); s != nil {
			p.receive(s, ev.Data)
		}
	case SendBlocked, SendProgressed:
		if s := p.slotOf(ev.Conn); s != nil {
			s.blocked = ev.Kind == SendBlocked
			k := fsm.SendBlocked
			if !s.blocked {
				k = fsm.SendProgressed
			}
			p.stepMachine(s, fsm.Event{Kind: k})
		}
	case TimerExpired:
		p.expire(ev.Timer, ev.Token)
	case SetRoutes:
		p.setRoutes(ev.Routes)
	case ChangeRoutes:
		p.changeRoutes(ev.Routes, ev.Withdraw)
	}
}

// shutdown closes every connection with n and keeps the Peer down.
func (p *Peer) shutdown(n bgpwire.Notification) {
	p.admin = false
	for i := range p.slots {
		if s := &p.slots[i]; s.m.State() != fsm.Idle {
			p.stepMachine(s, fsm.Event{Kind: fsm.ManualStop, Notification: n})
		}
	}
}

// accept decides about a connection the shell accepted from the peer.
func (p *Peer) accept(ev *Event) {
	if !p.admin {
		p.refuse(fmt.Errorf("peer is administratively down"))
		return
	}
	if est := p.est; est != nil && est.sess.PeerGracefulRestart {
		// RFC 4724 section 4.2: a new connection from a peer that can
		// restart gracefully means it restarted; its old session is gone.
		// (BIRD does the same; FRR waits for the OPEN.)
		p.report(ReportInfo{Kind: SessionReplaced, Conn: est.conn,
			Err: fmt.Errorf("new connection from the peer, which advertised graceful restart, replaces connection %d", est.conn)})
		p.stepMachine(est, fsm.Event{Kind: fsm.TCPConnectionFails})
	}
	in := &p.slots[Incoming]
	if in.m.State() != fsm.Idle {
		// One incoming connection at a time, as BIRD does: RFC 4271 would
		// keep several in OpenSent, but the peer dials again anyway.
		p.refuse(fmt.Errorf("connection %d from the peer is still in %s", in.conn, in.m.State()))
		return
	}
	p.lastConn++
	in.conn = p.lastConn
	in.local = normalize(ev.Local)
	p.emit(Action{Kind: Accept, Conn: in.conn})
	p.stepMachine(in, fsm.Event{Kind: fsm.ManualStartPassive})
	p.stepMachine(in, fsm.Event{Kind: fsm.TCPConnectionConfirmed})
}

func (p *Peer) refuse(why error) {
	p.emit(Action{Kind: Refuse})
	p.report(ReportInfo{Kind: ConnectionRefused, Err: why})
}

func (p *Peer) slotOf(c ConnID) *slot {
	if c == 0 {
		return nil
	}
	for i := range p.slots {
		if p.slots[i].conn == c {
			return &p.slots[i]
		}
	}
	return nil
}

func (p *Peer) other(s *slot) *slot { return &p.slots[1-s.id] }

// reconcile keeps the rules that span both slots, after every event:
// while a session is Established no other connection is attempted, and
// when nothing is left the Peer dials again after its backoff.
func (p *Peer) reconcile() {
	if p.gone || !p.admin {
		p.stopTimer(restartID)
		return
	}
	if p.est != nil {
		p.stopTimer(restartID)
		o := p.other(p.est)
		if st := o.m.State(); st == fsm.Connect || st == fsm.Active {
			p.stepMachine(o, fsm.Event{Kind: fsm.ManualStop})
		}
		return
	}
	if p.cfg.Passive || p.timers[restartID].token != 0 {
		return
	}
	for i := range p.slots {
		if p.slots[i].m.State() != fsm.Idle {
			return
		}
	}
	p.scheduleRestart()
}

// scheduleRestart starts the restart timer with failureDelay.
func (p *Peer) scheduleRestart() {
	p.startTimer(restartID, p.failureDelay(), 0)
}

// failureDelay counts a failure and returns how long to wait before the
// next dial: Initial, doubled for every failure since the last one that
// came after a quiet Forget, at most Max, less the step's jitter.
func (p *Peer) failureDelay() time.Duration {
	b := p.cfg.backoff()
	if !p.lastFailure.IsZero() && p.now.Sub(p.lastFailure) >= b.Forget {
		p.failures = 0
	}
	p.failures++
	p.lastFailure = p.now
	d := b.Initial
	for i := 1; i < p.failures && d < b.Max; i++ {
		d *= 2
	}
	d = p.jittered(min(d, b.Max))
	p.st.Failures, p.st.RestartDelay = p.failures, d
	return d
}

// jittered shortens d by the step's jitter: up to a quarter (RFC 4271
// section 10), never below a millisecond.
func (p *Peer) jittered(d time.Duration) time.Duration {
	cut := time.Duration(math.Round(float64(d) * p.jitter / 4))
	return max(d-cut, min(d, time.Millisecond))
}

func (p *Peer) expire(t Timer, token uint64) {
	id, ok := t.id()
	if !ok || token == 0 || p.timers[id].token != token {
		return // stale: the timer was stopped or restarted since
	}
	rec := p.timers[id]
	p.timers[id] = timerRec{}
	p.stepTokens[id] = 0 // expired, so no StopTimer for it
	if id == restartID {
		out := &p.slots[Outgoing]
		if !p.admin || p.cfg.Passive || out.m.State() != fsm.Idle || p.anyPastActive() {
			return // an accepted connection is under way; reconcile decides
		}
		p.stepMachine(out, fsm.Event{Kind: fsm.ManualStart})
		return
	}
	s := &p.slots[t.Slot]
	p.stepMachine(s, fsm.Event{Kind: expiryOf(t.Kind.fsmTimer()), Token: rec.fsmToken})
}

func (p *Peer) anyPastActive() bool {
	for i := range p.slots {
		if p.slots[i].m.State() >= fsm.OpenSent {
			return true
		}
	}
	return false
}

// --- timers --------------------------------------------------------------

func (p *Peer) startTimer(id timerID, d time.Duration, fsmToken uint64) {
	p.lastToken++
	p.timers[id] = timerRec{token: p.lastToken, fsmToken: fsmToken, dur: d}
}

func (p *Peer) stopTimer(id timerID) { p.timers[id] = timerRec{} }

// emitTimers reports the net change of each timer in this step: the stops,
// then the starts in the order of their tokens.
func (p *Peer) emitTimers() {
	var started [numTimers]timerID
	n := 0
	for i := range p.timers {
		id, rec := timerID(i), p.timers[i]
		switch {
		case rec.token == p.stepTokens[i]:
		case rec.token != 0:
			started[n] = id
			n++
		default:
			p.emit(Action{Kind: StopTimer, Timer: id.timer()})
		}
	}
	slices.SortFunc(started[:n], func(a, b timerID) int { return cmp.Compare(p.timers[a].token, p.timers[b].token) })
	for _, id := range started[:n] {
		rec := p.timers[id]
		p.emit(Action{Kind: StartTimer, Timer: id.timer(), Token: rec.token, Duration: rec.dur})
	}
}

// --- machines ------------------------------------------------------------

// stepMachine steps s's machine and carries out its actions.
func (p *Peer) stepMachine(s *slot, ev fsm.Event) {
	s.acts = s.m.StepAppend(s.acts[:0], ev)
	// The loop may step the other slot (a session coming up stops the
	// other attempt), never this one, so s.acts stays valid.
	for i := range s.acts {
		a := &s.acts[i]
		switch a.Kind {
		case fsm.InitiateConnection:
			p.lastConn++
			s.conn, s.local = p.lastConn, LocalAddrs{}
			p.emit(Action{Kind: Dial, Conn: s.conn})
		case fsm.SendOpen:
			p.sendOpen(s, a.OpenParams)
		case fsm.SendKeepalive:
			p.send(s, Control, bgpwire.TypeKeepalive, bgpwire.AppendKeepalive(p.wbuf))
		case fsm.SendNotification:
			p.sendNotification(s, a.Notification)
		case fsm.StartTimer:
			d := a.Duration
			switch {
			case a.Timer == fsm.ConnectRetryTimer && s.id == Outgoing && s.m.State() == fsm.Active:
				// Our connection failed (refused, or closed before the
				// session came up): the next dial waits the restart
				// backoff, not the whole ConnectRetryTime (120s by
				// default). A router that has just restarted often
				// takes a connection and closes it while it starts;
				// the speaker does not listen unless told to, so its
				// own dial is the only way back.
				d = min(d, p.failureDelay())
			case a.Timer == fsm.ConnectRetryTimer || a.Timer == fsm.KeepaliveTimer:
				d = p.jittered(d)
			}
			id, _ := Timer{Slot: s.id, Kind: kindOf(a.Timer)}.id()
			p.startTimer(id, d, a.Token)
		case fsm.StopTimer:
			id, _ := Timer{Slot: s.id, Kind: kindOf(a.Timer)}.id()
			p.stopTimer(id)
		case fsm.DropConnection:
			if s.conn != 0 {
				p.emit(Action{Kind: Close, Conn: s.conn})
			}
			s.conn, s.rbuf, s.blocked = 0, s.rbuf[:0], false
		case fsm.SessionUp:
			p.sessionUp(s, a.Session)
		case fsm.SessionDown:
			p.sessionDown(s, a)
		case fsm.ReleaseResources, fsm.ProcessUpdate:
			// Herald keeps no RIB-In.
		}
	}
}

// --- output --------------------------------------------------------------

func (p *Peer) emit(a Action) { p.out = append(p.out, a) }

// send queues the messages of type t that buf holds past the step's
// previous sends and returns how many there are. Consecutive sends on one
// connection and queue become one Send action.
func (p *Peer) send(s *slot, c Class, t bgpwire.MessageType, buf []byte) int {
	start := len(p.wbuf)
	p.wbuf = buf
	if start == len(buf) {
		return 0
	}
	n := countMessages(buf[start:])
	p.st.MessagesOut[t] += uint64(n)
	if last := len(p.out) - 1; last >= p.outStart {
		if a := &p.out[last]; a.Kind == Send && a.Conn == s.conn && a.Class == c && a.end == start {
			a.end = len(buf)
			return n
		}
	}
	p.emit(Action{Kind: Send, Conn: s.conn, Class: c, off: start, end: len(buf)})
	return n
}

// countMessages counts the whole messages in b by their length fields.
func countMessages(b []byte) int {
	n := 0
	for len(b) >= bgpwire.HeaderLen {
		l := int(b[16])<<8 | int(b[17])
		if l < bgpwire.HeaderLen || l > len(b) {
			break
		}
		b, n = b[l:], n+1
	}
	return n
}

func (p *Peer) sendNotification(s *slot, n bgpwire.Notification) {
	p.send(s, Control, bgpwire.TypeNotification, bgpwire.AppendNotification(p.wbuf, n, s.wire.MaxLen()))
	n.Data = append([]byte(nil), n.Data...)
	p.st.LastSent = NotificationInfo{Notification: n, Conn: s.conn, At: p.now}
	p.setError(fmt.Errorf("sent NOTIFICATION %s", n))
	p.report(ReportInfo{Kind: NotificationSent, Conn: s.conn, Notification: n})
}

func (p *Peer) report(r ReportInfo) { p.emit(Action{Kind: Report, Report: r}) }

func (p *Peer) setError(err error) {
	p.st.LastError, p.st.LastErrorAt = err, p.now
}

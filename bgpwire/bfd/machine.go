package bfd

import "time"

// Machine is one BFD session's state machine (RFC 5880 §6.2 and §6.8). It
// is a plain value: copy it to snapshot it. Build it with New.
type Machine struct {
	cfg     Config
	enabled bool // an Enable or Disable has been stepped

	// The state variables of §6.8.1 (intervals in microseconds).
	state            State
	remoteState      State
	localDiag        Diag
	remoteDiag       Diag
	remoteDiscr      uint32
	remoteMinRx      uint32
	remoteDesiredTx  uint32
	remoteEchoRx     uint32
	remoteDetectMult uint8
	remoteDemand     bool
	// desiredTx and requiredRx are bfd.DesiredMinTxInterval and
	// bfd.RequiredMinRxInterval: what the packets carry.
	desiredTx  uint32
	requiredRx uint32

	// The §6.8.3 rules while Up. holdTx is the smallest and holdRx the
	// largest interval the peer may still be going by: those sent since
	// the start of the last Poll Sequence a Final ended. A larger
	// desiredTx is used, and a smaller requiredRx enters the Detection
	// Time, only once the hold has caught up with it.
	holdTx  uint32
	holdRx  uint32
	polling bool
	// pollTx and pollRx are the smallest tx and largest rx sent since the
	// running Poll Sequence began (^0 and 0 before its first packet): what
	// its Final leaves held.
	pollTx uint32
	pollRx uint32
	// repoll: packets with different values went out during one Poll
	// Sequence, so its Final does not say which the peer has; a new one
	// starts after a packet without F (§6.8.3, the third way).
	repoll bool
	// finalDue: the packet being processed had P; answer with F.
	finalDue bool
	// restartDetect: the packet being processed was accepted, or the
	// second Detection Time of §6.8.1 is to be timed.
	restartDetect bool

	// Authentication sequence numbers (§6.7.3, §6.7.4).
	xmitSeq  uint32
	rcvSeq   uint32
	seqKnown bool
	// quiet counts Detection Times passed without an accepted packet: at 1
	// the remote is forgotten, at 2 bfd.AuthSeqKnown is cleared (§6.8.1).
	quiet uint8

	// What the last packet sent carried, to send at once on a change.
	sent         bool
	sentState    State
	sentDiag     Diag
	sentContents contents

	// txArmed and echoArmed are the intervals the running transmit timers
	// were armed with: a shorter new one re-arms them, counted from the
	// last packet sent (lastSent, lastEcho) in the shell's clock.
	txArmed    time.Duration
	echoArmed  time.Duration
	lastSent   time.Duration
	lastEcho   time.Duration
	echoActive bool
	now        time.Duration

	// timers holds each running timer's token (0: not running).
	timers    [numTimers]uint64
	lastToken uint64
	// rand is the step's random value; randUses how many timers drew on it.
	rand     uint32
	randUses int

	c   Counters
	out []Action
}

// contents is a sent packet without P, F and the authentication section:
// in Demand mode every change of it is polled (§6.6).
type contents struct {
	state      State
	diag       Diag
	mult       uint8
	yourDiscr  uint32
	desiredTx  uint32
	requiredRx uint32
	echoRx     uint32
}

// New returns a session in Down that does nothing until Enable (or
// Disable). cfg must pass Validate.
func New(cfg Config) (*Machine, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	m := &Machine{cfg: cfg, state: Down, remoteState: Down, remoteMinRx: 1, xmitSeq: cfg.InitialAuthSeq}
	m.desiredTx, m.requiredRx = m.targets()
	m.holdTx, m.holdRx = m.desiredTx, m.requiredRx
	return m, nil
}

// Step processes one event and returns the actions to carry out, in order.
func (m *Machine) Step(ev Event) []Action { return m.StepAppend(nil, ev) }

// StepAppend is Step appending to dst; with a reused slice of sufficient
// capacity it does not allocate (except for an error wrapping a discarded
// packet's reason).
func (m *Machine) StepAppend(dst []Action, ev Event) []Action {
	m.out = dst
	m.rand, m.randUses, m.now = ev.Rand, 0, ev.Now
	switch ev.Kind {
	case Enable:
		m.enable()
	case Disable:
		m.disable(ev.Diag)
	case Received:
		if m.enabled && ev.Packet != nil {
			m.receive(ev.Packet, ev.Raw)
		}
	case TimerExpired:
		if m.enabled {
			m.expire(ev.Timer, ev.Token)
		}
	case EchoReceived:
		if m.echoActive {
			m.c.EchoIn++
			m.startTimer(EchoDetectTimer, m.echoDetectionTime())
		}
	case Reconfigure:
		if ev.Profile.Validate() == nil {
			m.cfg.Profile = ev.Profile
			if m.enabled {
				m.settle(false)
			} else {
				m.desiredTx, m.requiredRx = m.targets()
				m.holdTx, m.holdRx = m.desiredTx, m.requiredRx
			}
		}
	}
	out := m.out
	m.out = nil
	return out
}

func (m *Machine) enable() {
	switch {
	case !m.enabled:
		m.enabled = true
	case m.state == AdminDown:
		m.state, m.localDiag = Down, DiagNone
	default:
		return
	}
	m.settle(false)
}

func (m *Machine) disable(diag Diag) {
	if diag == DiagNone {
		diag = DiagAdministrativelyDown
	}
	m.enabled = true
	if m.state == AdminDown && m.localDiag == diag {
		return
	}
	if m.state == Up {
		m.leaveUp(CauseAdminDown)
	}
	m.state, m.localDiag = AdminDown, diag
	m.settle(false)
}

// receive is §6.8.6 from the authentication checks on; Decode did the
// packet-only checks (repeated here where the machine relies on them).
func (m *Machine) receive(p *Packet, raw []byte) {
	m.c.PacketsIn++
	if err := m.accept(p, raw); err != nil {
		if m.c.Drops.Add(err).IsAuth() {
			m.c.AuthFailures++
		}
		return
	}
	m.remoteDiscr = p.MyDiscr
	m.remoteState = p.State
	m.remoteDiag = p.Diag
	m.remoteDemand = p.Demand
	m.remoteMinRx = p.RequiredMinRx
	m.remoteDesiredTx = p.DesiredMinTx
	m.remoteEchoRx = p.RequiredMinEchoRx
	m.remoteDetectMult = p.DetectMult
	switch {
	case p.Final && m.polling && m.pollRx != 0:
		// (A Final that arrives before our first Poll packet answers an
		// older Poll Sequence and ends nothing.)
		m.endPoll()
	case !p.Final && m.repoll:
		m.repoll = false
		if m.holdTx != m.desiredTx || m.holdRx != m.requiredRx {
			m.startPoll()
		}
	}
	if m.state == AdminDown {
		// Discarded here (§6.8.6): no state change, no Final, and not
		// "received" for the Detection Time, which keeps running so that
		// the remote and its sequence number are still forgotten in time
		// (§6.8.1); a lapsed one starts again. Pacing may still change.
		if m.timers[DetectTimer] == 0 {
			m.quiet, m.restartDetect = 0, true
		}
		m.settle(false)
		return
	}
	m.quiet = 0
	switch {
	case p.State == AdminDown:
		if m.state != Down {
			m.goDown(DiagNeighborSignaledSessionDown, CauseNeighborAdminDown)
		}
	case m.state == Down:
		if p.State == Down {
			m.state = Init
		} else if p.State == Init {
			m.goUp()
		}
	case m.state == Init:
		if p.State == Init || p.State == Up {
			m.goUp()
		}
	case m.state == Up:
		if p.State == Down {
			m.goDown(DiagNeighborSignaledSessionDown, CauseNeighborDown)
		}
	}
	m.finalDue = p.Poll
	m.restartDetect = true
	m.settle(false)
}

func (m *Machine) accept(p *Packet, raw []byte) error {
	switch {
	case p.DetectMult == 0:
		return drop(DropZeroDetectMult, "detect mult", 0)
	case p.MyDiscr == 0:
		return drop(DropZeroMyDiscriminator, "my discriminator", 0)
	case p.YourDiscr != 0 && p.YourDiscr != m.cfg.LocalDiscr:
		return drop(DropNoSession, "your discriminator", p.YourDiscr)
	case p.YourDiscr == 0 && p.State != Down && p.State != AdminDown:
		return drop(DropZeroYourDiscriminator, "state", uint32(p.State))
	}
	a := &m.cfg.Auth
	switch {
	case p.Auth.Type == AuthNone && a.Type == AuthNone:
		return nil
	case p.Auth.Type == AuthNone:
		return drop(DropAuthMissing, "auth type", 0)
	case a.Type == AuthNone:
		return drop(DropAuthUnexpected, "auth type", uint32(p.Auth.Type))
	case p.Auth.Type != a.Type:
		return drop(DropAuthType, "auth type", uint32(p.Auth.Type))
	case p.Auth.KeyID != a.KeyID:
		return drop(DropAuthKeyID, "auth key ID", uint32(p.Auth.KeyID))
	}
	keyed := a.Type.Keyed()
	if keyed && m.seqKnown && !m.inWindow(p.Auth.Seq, p.DetectMult) {
		return drop(DropAuthSequence, "sequence number", p.Auth.Seq)
	}
	if err := CheckAuth(raw, p, a.Secret); err != nil {
		return err
	}
	if keyed {
		// RFC 5880 sets bfd.RcvAuthSeq only when it was unknown; keeping
		// the last accepted number is what makes the window slide (and
		// what BIRD does). It moves only after the digest matched.
		m.rcvSeq, m.seqKnown = p.Auth.Seq, true
	}
	return nil
}

// inWindow is the replay check of §6.7.3/§6.7.4 in 32-bit circular
// arithmetic: Keyed accepts bfd.RcvAuthSeq to bfd.RcvAuthSeq+3·Detect Mult,
// Meticulous the same range without its first number. Detect Mult is the
// received packet's field, as the RFC's wording has it.
func (m *Machine) inWindow(seq uint32, mult uint8) bool {
	d := seq - m.rcvSeq
	if m.cfg.Auth.Type.Meticulous() && d == 0 {
		return false
	}
	return d <= 3*uint32(mult)
}

func (m *Machine) expire(t Timer, token uint64) {
	if t == 0 || t >= numTimers || token == 0 || m.timers[t] != token {
		m.c.StaleTimers++
		return
	}
	m.timers[t] = 0
	switch t {
	case TransmitTimer:
		sent := false
		if m.periodicAllowed() {
			m.send(false)
			sent = true
		}
		m.settle(sent)
	case DetectTimer:
		m.quiet++
		if m.quiet == 1 {
			if m.state == Init || m.state == Up {
				m.goDown(DiagControlDetectionTimeExpired, CauseDetectionTimeExpired)
			}
			// §6.8.1: forget the remote after a Detection Time without
			// packets; §6.8.18: its Required Min RX goes back to 1 µs.
			m.remoteDiscr = 0
			m.remoteMinRx = 1
			m.remoteDemand = false
			// Time a second Detection Time for bfd.AuthSeqKnown.
			m.restartDetect = m.seqKnown
		} else {
			m.seqKnown = false
		}
		m.settle(false)
	case EchoTransmitTimer:
		if m.echoActive {
			m.sendEcho()
			m.echoArmed = m.echoInterval()
			m.startTimer(EchoTransmitTimer, m.jitter(m.echoArmed))
		}
	case EchoDetectTimer:
		if m.echoActive && m.state == Up {
			m.goDown(DiagEchoFunctionFailed, CauseEchoFailed)
			m.settle(false)
		}
	}
}

func (m *Machine) goUp() {
	m.state, m.localDiag = Up, DiagNone
	m.c.Ups++
	m.out = append(m.out, Action{Kind: SessionUp})
}

func (m *Machine) goDown(diag Diag, cause DownCause) {
	if m.state == Up {
		m.leaveUp(cause)
	}
	m.state, m.localDiag = Down, diag
}

func (m *Machine) leaveUp(cause DownCause) {
	m.c.Flaps++
	m.c.LastDown = cause
	m.out = append(m.out, Action{Kind: SessionDown, Cause: cause})
}

// settle brings everything that depends on the state up to date after an
// event: Echo, the advertised intervals and Poll Sequences, an immediate
// packet (a Final, or a new state or diagnostic: §6.8.7 asks to send it
// between periodic packets), the transmit timer and the Detection Timer.
// sentNow says a periodic packet already went out in this step.
func (m *Machine) settle(sentNow bool) {
	m.updateEcho()
	m.updateParams()
	if m.remoteDemandActive() && !m.polling && m.sent && m.contents() != m.sentContents {
		// §6.6: with Demand mode active a changed packet is polled, which
		// also restarts periodic transmission until the Final.
		m.startPoll()
	}
	changed := !m.sent || m.state != m.sentState || m.localDiag != m.sentDiag
	if (m.finalDue || changed) && m.canTransmit() {
		m.send(m.finalDue)
		sentNow = true
	}
	m.finalDue = false
	m.armTransmit(sentNow)
	if m.restartDetect {
		m.restartDetect = false
		m.startTimer(DetectTimer, m.detectionTime())
	}
}

func (m *Machine) contents() contents {
	return contents{state: m.state, diag: m.localDiag, mult: uint8(m.cfg.Profile.DetectMultiplier),
		yourDiscr: m.remoteDiscr, desiredTx: m.desiredTx, requiredRx: m.requiredRx, echoRx: m.advertisedEchoRx()}
}

// send emits one Control packet with the contents of §6.8.7. A keyed
// session's sequence number advances with every packet: Meticulous types
// must, and for the others §6.7.3 allows it.
func (m *Machine) send(final bool) {
	c := m.contents()
	p := Packet{
		Diag: c.diag, State: c.state, Poll: m.polling && !final, Final: final,
		DetectMult: c.mult, MyDiscr: m.cfg.LocalDiscr, YourDiscr: c.yourDiscr,
		DesiredMinTx: c.desiredTx, RequiredMinRx: c.requiredRx, RequiredMinEchoRx: c.echoRx,
	}
	if a := &m.cfg.Auth; a.Type != AuthNone {
		p.Auth = Auth{Type: a.Type, KeyID: a.KeyID, Data: a.Secret}
		if a.Type.Keyed() {
			p.Auth.Seq = m.xmitSeq
			m.xmitSeq++
		}
	}
	m.out = append(m.out, Action{Kind: SendControl, Packet: p})
	m.sent, m.sentState, m.sentDiag, m.sentContents = true, c.state, c.diag, c
	m.lastSent = m.now
	m.sentIntervals(c.desiredTx, c.requiredRx)
	m.c.PacketsOut++
}

func (m *Machine) startTimer(t Timer, d time.Duration) {
	m.lastToken++
	m.timers[t] = m.lastToken
	m.out = append(m.out, Action{Kind: StartTimer, Timer: t, Duration: d, Token: m.lastToken})
}

func (m *Machine) stopTimer(t Timer) {
	if m.timers[t] != 0 {
		m.timers[t] = 0
		m.out = append(m.out, Action{Kind: StopTimer, Timer: t})
	}
}

// State is bfd.SessionState.
func (m *Machine) State() State { return m.state }

// Config is the configuration in force (with the last applied Profile).
func (m *Machine) Config() Config { return m.cfg }

// TimerRunning reports whether the machine expects an expiry of t, and
// Token which token it expects.
func (m *Machine) TimerRunning(t Timer) bool { return t > 0 && t < numTimers && m.timers[t] != 0 }

// Token is the token of t's running timer, 0 if it is not running.
func (m *Machine) Token(t Timer) uint64 {
	if t > 0 && t < numTimers {
		return m.timers[t]
	}
	return 0
}

// Counters returns the session's state and statistics.
func (m *Machine) Counters() Counters {
	c := m.c
	c.State, c.RemoteState = m.state, m.remoteState
	c.LocalDiag, c.RemoteDiag = m.localDiag, m.remoteDiag
	c.LocalDiscr, c.RemoteDiscr = m.cfg.LocalDiscr, m.remoteDiscr
	c.Polling = m.polling
	c.TransmitInterval = m.transmitInterval()
	if m.remoteDetectMult != 0 {
		c.DetectionTime = m.detectionTime()
	}
	c.EchoActive = m.echoActive
	if m.echoActive {
		c.EchoInterval, c.EchoDetectionTime = m.echoInterval(), m.echoDetectionTime()
	}
	c.DesiredMinTx, c.RequiredMinRx = Micros(m.desiredTx), Micros(m.requiredRx)
	c.RequiredMinEchoRx = Micros(m.advertisedEchoRx())
	c.RemoteDesiredMinTx, c.RemoteMinRx = Micros(m.remoteDesiredTx), Micros(m.remoteMinRx)
	c.RemoteMinEchoRx, c.RemoteDetectMult, c.RemoteDemand = Micros(m.remoteEchoRx), m.remoteDetectMult, m.remoteDemand
	return c
}

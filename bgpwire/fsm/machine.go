package fsm

import (
	"net/netip"
	"time"

	"github.com/heraldlb/herald/bgpwire"
)

// Machine is the state of one BGP connection's finite state machine. It is a
// plain value: copy it to snapshot it. The zero Machine is not usable; build
// one with New.
type Machine struct {
	cfg                 Config
	state               State
	connectRetryCounter uint32
	// tokens holds the token of each timer the shell is running for us
	// (0: not running), so teardown stops exactly those and only the
	// expiry of the running instance of a timer is acted on.
	tokens [numTimers]uint64
	// lastToken is the token of the most recent StartTimer. Tokens are
	// never reused by one Machine, so an expiry of a timer that was since
	// stopped or restarted cannot match.
	lastToken uint64
	// passive is whether the current start was passive: a passive machine
	// never initiates TCP, even when its ConnectRetryTimer fires in Active.
	passive bool

	// Known once a TCP connection is up (initiator) or an OPEN is accepted.
	initiator Initiator
	peerAS    uint32
	peerID    netip.Addr
	hold      time.Duration
	keepalive time.Duration

	// out is the caller's slice during one Step; nil between steps.
	out []Action
}

// New returns a machine in Idle, or the configuration's first error.
func New(cfg Config) (*Machine, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Machine{cfg: cfg}, nil
}

// State is the current RFC 4271 state.
func (m *Machine) State() State { return m.state }

// ConnectRetryCounter is RFC 4271's count of failed attempts. Every start
// resets it, so it counts failures since the last start; the shell's
// restart backoff keeps its own history.
func (m *Machine) ConnectRetryCounter() uint32 { return m.connectRetryCounter }

// TimerRunning reports whether the machine believes the shell is running t.
func (m *Machine) TimerRunning(t Timer) bool { return t < numTimers && m.tokens[t] != 0 }

// TimerToken is the token of the running instance of t, the one its expiry
// must echo; 0 when t is not running.
func (m *Machine) TimerToken(t Timer) uint64 {
	if t >= numTimers {
		return 0
	}
	return m.tokens[t]
}

// Initiator is which side opened the current TCP connection.
func (m *Machine) Initiator() Initiator { return m.initiator }

// PeerID is the BGP Identifier of the peer's accepted OPEN (OpenConfirm and
// Established), else the zero Addr.
func (m *Machine) PeerID() netip.Addr { return m.peerID }

// Session describes the negotiated session in OpenConfirm and Established.
func (m *Machine) Session() Session {
	return Session{HoldTime: m.hold, Keepalive: m.keepalive, PeerAS: m.peerAS, PeerID: m.peerID, Initiator: m.initiator}
}

// Step applies one event and returns the actions for the shell, in order.
func (m *Machine) Step(ev Event) []Action { return m.StepAppend(nil, ev) }

// StepAppend is Step appending to out, so a caller that reuses its slice
// steps without allocating.
func (m *Machine) StepAppend(out []Action, ev Event) []Action {
	m.out = out
	if t := expiredTimer(ev.Kind); t != 0 {
		// Only the running instance of a timer may expire. Any other
		// expiry (of a timer since stopped or restarted, or never
		// started) was already queued when the machine changed its mind:
		// acting on it would, for example, take down an Established
		// session whose hold timer a KEEPALIVE had just restarted.
		if ev.Token == 0 || ev.Token != m.tokens[t] {
			return m.finish()
		}
		m.tokens[t] = 0 // it expired: no longer running, whatever happens next
	}
	switch m.state {
	case Idle:
		m.stepIdle(ev)
	case Connect:
		m.stepConnect(ev)
	case Active:
		m.stepActive(ev)
	case OpenSent:
		m.stepOpenSent(ev)
	case OpenConfirm:
		m.stepOpenConfirm(ev)
	case Established:
		m.stepEstablished(ev)
	}
	return m.finish()
}

func (m *Machine) finish() []Action {
	out := m.out
	m.out = nil
	return out
}

func expiredTimer(k EventKind) Timer {
	switch k {
	case ConnectRetryTimerExpired:
		return ConnectRetryTimer
	case HoldTimerExpired:
		return HoldTimer
	case KeepaliveTimerExpired:
		return KeepaliveTimer
	case IdleHoldTimerExpired:
		return IdleHoldTimer
	case SendHoldTimerExpired:
		return SendHoldTimer
	}
	return 0
}

// --- emitters -------------------------------------------------------------

func (m *Machine) emit(a Action) { m.out = append(m.out, a) }

func (m *Machine) startTimer(t Timer, d time.Duration) {
	m.lastToken++
	m.tokens[t] = m.lastToken
	m.emit(Action{Kind: StartTimer, Timer: t, Duration: d, Token: m.lastToken})
}

func (m *Machine) stopTimer(t Timer) {
	if m.tokens[t] != 0 {
		m.tokens[t] = 0
		m.emit(Action{Kind: StopTimer, Timer: t})
	}
}

func (m *Machine) sendNotification(n bgpwire.Notification) {
	m.emit(Action{Kind: SendNotification, Notification: n})
}

// --- shared transitions ------------------------------------------------------

// start leaves Idle (RFC 4271 Idle, events 1, 3, 4, 5).
func (m *Machine) start(passive bool) {
	m.passive = passive || m.cfg.Passive
	m.connectRetryCounter = 0
	m.stopTimer(IdleHoldTimer)
	m.startTimer(ConnectRetryTimer, m.cfg.connectRetryTime())
	if m.passive {
		m.state = Active
		return
	}
	m.emit(Action{Kind: InitiateConnection})
	m.state = Connect
}

// connected is TCPCRAcked or TCPConnectionConfirmed in Connect or Active: send
// our OPEN and wait for the peer's under the large hold timer.
func (m *Machine) connected(by Initiator) {
	m.stopTimer(ConnectRetryTimer)
	m.initiator = by
	m.emit(Action{Kind: SendOpen, OpenParams: OpenParams{
		ASN:        m.cfg.LocalAS,
		HoldTime:   uint16(m.cfg.holdTime() / time.Second),
		Identifier: m.cfg.RouterID,
	}})
	m.startTimer(HoldTimer, m.cfg.openSentHoldTime())
	m.state = OpenSent
}

// counterChange says what a teardown does to the ConnectRetryCounter.
type counterChange uint8

const (
	counterKeep counterChange = iota
	counterIncrement
	counterReset
)

// teardown is how every state returns to Idle after a connection existed or
// was being attempted: optional NOTIFICATION, timers stopped, routes
// withdrawn if Established, resources released, connection dropped.
type teardown struct {
	notify  bool // send the NOTIFICATION sent
	sent    bgpwire.Notification
	reason  DownReason
	peer    bgpwire.Notification // received from the peer, reported in SessionDown
	counter counterChange
	// restart asks for an IdleHoldTimer when AutomaticRestart is on: true
	// for failures, false for administrative stops.
	restart bool
}

func (m *Machine) toIdle(t teardown) {
	if t.notify {
		m.sendNotification(t.sent)
	}
	m.stopTimer(ConnectRetryTimer)
	m.stopTimer(HoldTimer)
	m.stopTimer(KeepaliveTimer)
	m.stopTimer(SendHoldTimer)
	if m.state == Established {
		down := Action{Kind: SessionDown, Reason: t.reason}
		if t.notify {
			down.Notification = t.sent
		} else {
			down.Notification = t.peer
		}
		m.emit(down)
	}
	m.emit(Action{Kind: ReleaseResources})
	m.emit(Action{Kind: DropConnection})
	switch t.counter {
	case counterIncrement:
		m.connectRetryCounter++
	case counterReset:
		m.connectRetryCounter = 0
	}
	m.forgetConnection()
	m.state = Idle
	if t.restart && m.cfg.AutomaticRestart {
		m.startTimer(IdleHoldTimer, 0)
	}
}

func (m *Machine) forgetConnection() {
	m.initiator = InitiatorUnknown
	m.peerAS, m.peerID, m.hold, m.keepalive = 0, netip.Addr{}, 0, 0
}

// fail is the common failure teardown: NOTIFICATION n, counter+1,
// automatic restart allowed.
func (m *Machine) fail(reason DownReason, n bgpwire.Notification) {
	m.toIdle(teardown{notify: true, sent: n, reason: reason, counter: counterIncrement, restart: true})
}

// failQuietly is fail before any OPEN was sent: no NOTIFICATION.
func (m *Machine) failQuietly(reason DownReason) {
	m.toIdle(teardown{reason: reason, counter: counterIncrement, restart: true})
}

// fsmError is the "any other event" row of OpenSent, OpenConfirm and
// Established: NOTIFICATION Finite State Machine Error with the RFC 6608
// subcode of the state.
func (m *Machine) fsmError() {
	var sub uint8 = bgpwire.SubcodeFSMUnexpectedInOpenSent
	switch m.state {
	case OpenConfirm:
		sub = bgpwire.SubcodeFSMUnexpectedInOpenConfirm
	case Established:
		sub = bgpwire.SubcodeFSMUnexpectedInEstablished
	}
	m.fail(ReasonFSMError, bgpwire.Notification{Code: bgpwire.CodeFSM, Subcode: sub})
}

// stop handles ManualStop and AutomaticStop in OpenSent, OpenConfirm and
// Established: always a Cease, unless the event carries its own.
func (m *Machine) stop(ev Event) {
	n := ev.Notification
	counter, reason := counterIncrement, ReasonAutomaticStop
	if ev.Kind == ManualStop {
		counter, reason = counterReset, ReasonManualStop
		if n.Code == 0 {
			n = bgpwire.Notification{Code: bgpwire.CodeCease, Subcode: bgpwire.SubcodeAdministrativeShutdown}
		}
	}
	if n.Code == 0 {
		n = bgpwire.Notification{Code: bgpwire.CodeCease}
	}
	m.toIdle(teardown{notify: true, sent: n, reason: reason, counter: counter})
}

// sendHold handles the RFC 9687 events shared by every state with an open
// BGP connection. It reports whether ev was one of them.
func (m *Machine) sendHold(ev Event) bool {
	switch ev.Kind {
	case SendBlocked:
		if m.tokens[SendHoldTimer] == 0 {
			hold := m.hold
			if m.state == OpenSent {
				hold = m.cfg.openSentHoldTime()
			}
			m.startTimer(SendHoldTimer, m.cfg.sendHoldTime(hold))
		}
	case SendProgressed:
		m.stopTimer(SendHoldTimer)
	case SendHoldTimerExpired:
		m.fail(ReasonSendHoldTimerExpired, bgpwire.Notification{Code: bgpwire.CodeSendHoldTimerExpired})
	default:
		return false
	}
	return true
}

func isStart(k EventKind) bool {
	switch k {
	case ManualStart, AutomaticStart, ManualStartPassive, AutomaticStartPassive:
		return true
	}
	return false
}

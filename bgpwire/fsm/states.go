package fsm

import "github.com/heraldlb/herald/bgpwire"

// collisionCease is the NOTIFICATION sent on the connection that loses a
// collision (RFC 4271 section 6.8, RFC 4486).
var collisionCease = bgpwire.Notification{Code: bgpwire.CodeCease, Subcode: bgpwire.SubcodeConnectionCollision}

// One method per state, following the event lists of RFC 4271 section 8.2.2
// in order. DelayOpen is not implemented (Herald always sends its OPEN at
// once), so its timer and the rows that depend on it are absent.

func (m *Machine) stepIdle(ev Event) {
	switch ev.Kind {
	case ManualStart, AutomaticStart:
		m.start(false)
	case ManualStartPassive, AutomaticStartPassive:
		m.start(true)
	case IdleHoldTimerExpired:
		// Only reached when we asked for it (StepAppend drops the others):
		// the damped automatic restart.
		m.start(false)
	case ManualStop, AutomaticStop:
		// RFC 4271 ignores stops in Idle; they also cancel a pending
		// automatic restart, which is ours to cancel.
		m.stopTimer(IdleHoldTimer)
	default:
		// "Any other event ... does not cause change in the state."
	}
}

func (m *Machine) stepConnect(ev Event) {
	if isStart(ev.Kind) {
		return
	}
	switch ev.Kind {
	case ManualStop:
		m.toIdle(teardown{reason: ReasonManualStop, counter: counterReset})
	case ConnectRetryTimerExpired:
		// Abandon the attempt in progress and try again.
		m.emit(Action{Kind: DropConnection})
		m.startTimer(ConnectRetryTimer, m.cfg.connectRetryTime())
		m.emit(Action{Kind: InitiateConnection})
	case TCPCRAcked:
		m.connected(InitiatedLocally)
	case TCPConnectionConfirmed:
		m.connected(InitiatedByPeer)
	case TCPConnectionFails:
		// Without DelayOpen: back to Idle, the counter unchanged.
		m.toIdle(teardown{reason: ReasonConnectionFailed, counter: counterKeep, restart: true})
	case BGPHeaderErr, BGPOpenMsgErr:
		m.failBeforeOpen(ev)
	case SendBlocked, SendProgressed, SendHoldTimerExpired, UpdateSent:
		// Shell reports about a connection that has no BGP traffic yet.
	default:
		// Events 8, 10-11, 13, 19, 23-28: no NOTIFICATION (no OPEN was
		// sent), counter+1.
		m.failQuietly(ReasonFSMError)
	}
}

func (m *Machine) stepActive(ev Event) {
	if isStart(ev.Kind) {
		return
	}
	switch ev.Kind {
	case ManualStop:
		m.toIdle(teardown{reason: ReasonManualStop, counter: counterReset})
	case ConnectRetryTimerExpired:
		m.startTimer(ConnectRetryTimer, m.cfg.connectRetryTime())
		if m.passive {
			// Herald's passive peers never dial, so keep listening.
			return
		}
		m.emit(Action{Kind: InitiateConnection})
		m.state = Connect
	case TCPCRAcked:
		m.connected(InitiatedLocally)
	case TCPConnectionConfirmed:
		m.connected(InitiatedByPeer)
	case TCPConnectionFails:
		// RFC 4271 restarts the ConnectRetryTimer here even though the
		// machine goes to Idle, where its expiry is ignored.
		m.startTimer(ConnectRetryTimer, m.cfg.connectRetryTime())
		m.emit(Action{Kind: ReleaseResources})
		m.connectRetryCounter++
		m.forgetConnection()
		m.state = Idle
		if m.cfg.AutomaticRestart {
			m.startTimer(IdleHoldTimer, 0)
		}
	case BGPHeaderErr, BGPOpenMsgErr:
		m.failBeforeOpen(ev)
	case SendBlocked, SendProgressed, SendHoldTimerExpired, UpdateSent:
	default:
		// Events 8, 10-11, 13, 19, 23, 25-28 (and 24 without DelayOpen).
		m.failQuietly(ReasonFSMError)
	}
}

// failBeforeOpen is a header or OPEN error in Connect or Active: the
// NOTIFICATION goes out only if SendNOTIFICATIONwithoutOPEN is set.
func (m *Machine) failBeforeOpen(ev Event) {
	if m.cfg.SendNotificationWithoutOpen {
		m.fail(ReasonHeaderError, ev.Notification)
		return
	}
	m.failQuietly(ReasonHeaderError)
}

func (m *Machine) stepOpenSent(ev Event) {
	if isStart(ev.Kind) || m.sendHold(ev) {
		return
	}
	switch ev.Kind {
	case ManualStop, AutomaticStop:
		m.stop(ev)
	case HoldTimerExpired:
		m.fail(ReasonHoldTimerExpired, bgpwire.Notification{Code: bgpwire.CodeHoldTimerExpired})
	case TCPCRAcked, TCPConnectionConfirmed:
		// A second connection: the shell tracks it with its own machine
		// until its OPEN arrives (section 6.8).
	case TCPConnectionFails:
		// Close and listen again in Active.
		m.stopTimer(HoldTimer)
		m.stopTimer(SendHoldTimer)
		m.emit(Action{Kind: ReleaseResources})
		m.emit(Action{Kind: DropConnection})
		m.forgetConnection()
		m.startTimer(ConnectRetryTimer, m.cfg.connectRetryTime())
		m.state = Active
	case BGPOpen:
		m.receiveOpen(&ev.Open)
	case BGPHeaderErr, BGPOpenMsgErr:
		m.fail(ReasonHeaderError, ev.Notification)
	case OpenCollisionDump:
		m.fail(ReasonCollision, collisionCease)
	case NotifMsgVerErr:
		m.toIdle(teardown{reason: ReasonNotificationReceived, peer: ev.Notification, counter: counterKeep, restart: true})
	case UpdateSent:
	default:
		// Events 9, 11-13, 20, 25-28.
		m.fsmError()
	}
}

// receiveOpen is event 19 in OpenSent: check, negotiate, confirm.
func (m *Machine) receiveOpen(o *bgpwire.Open) {
	if err := CheckOpen(m.cfg, o); err != nil {
		m.fail(ReasonHeaderError, err.Notification())
		return
	}
	m.stopTimer(ConnectRetryTimer)
	m.peerAS, m.peerID = o.AS, o.Identifier
	m.hold, m.keepalive = NegotiateHold(m.cfg, o.HoldTime)
	m.emit(Action{Kind: SendKeepalive})
	if m.hold == 0 {
		m.stopTimer(HoldTimer)
	} else {
		m.startTimer(KeepaliveTimer, m.keepalive)
		m.startTimer(HoldTimer, m.hold)
	}
	m.state = OpenConfirm
}

func (m *Machine) stepOpenConfirm(ev Event) {
	if isStart(ev.Kind) || m.sendHold(ev) {
		return
	}
	switch ev.Kind {
	case ManualStop, AutomaticStop:
		m.stop(ev)
	case HoldTimerExpired:
		m.fail(ReasonHoldTimerExpired, bgpwire.Notification{Code: bgpwire.CodeHoldTimerExpired})
	case KeepaliveTimerExpired:
		m.keepaliveDue()
	case TCPCRAcked, TCPConnectionConfirmed:
		// A second connection, tracked by the shell (section 6.8).
	case TCPConnectionFails:
		m.toIdle(teardown{reason: ReasonConnectionFailed, counter: counterIncrement, restart: true})
	case NotifMsg:
		m.toIdle(teardown{reason: ReasonNotificationReceived, peer: ev.Notification, counter: counterIncrement, restart: true})
	case NotifMsgVerErr:
		m.toIdle(teardown{reason: ReasonNotificationReceived, peer: ev.Notification, counter: counterKeep, restart: true})
	case BGPHeaderErr, BGPOpenMsgErr:
		m.fail(ReasonHeaderError, ev.Notification)
	case OpenCollisionDump:
		m.fail(ReasonCollision, collisionCease)
	case KeepAliveMsg:
		if m.hold != 0 {
			m.startTimer(HoldTimer, m.hold)
		}
		m.state = Established
		m.emit(Action{Kind: SessionUp, Session: m.Session()})
	case UpdateSent:
	default:
		// Events 9, 12-13, 20, 27-28, and an OPEN on this same connection
		// (the collision case of event 19 reaches us as OpenCollisionDump).
		m.fsmError()
	}
}

// keepaliveDue sends a KEEPALIVE and rearms the timer unless keepalives are
// off (negotiated hold time 0).
func (m *Machine) keepaliveDue() {
	m.emit(Action{Kind: SendKeepalive})
	if m.hold != 0 {
		m.startTimer(KeepaliveTimer, m.keepalive)
	}
}

func (m *Machine) stepEstablished(ev Event) {
	if isStart(ev.Kind) || m.sendHold(ev) {
		return
	}
	switch ev.Kind {
	case ManualStop, AutomaticStop:
		m.stop(ev)
	case HoldTimerExpired:
		m.fail(ReasonHoldTimerExpired, bgpwire.Notification{Code: bgpwire.CodeHoldTimerExpired})
	case KeepaliveTimerExpired:
		m.keepaliveDue()
	case UpdateSent:
		// Each UPDATE sent counts as a keepalive (section 4.4).
		if m.hold != 0 {
			m.startTimer(KeepaliveTimer, m.keepalive)
		}
	case TCPCRAcked, TCPConnectionConfirmed:
		// A second connection, tracked by the shell (section 6.8).
	case TCPConnectionFails:
		m.toIdle(teardown{reason: ReasonConnectionFailed, counter: counterIncrement, restart: true})
	case NotifMsg, NotifMsgVerErr:
		m.toIdle(teardown{reason: ReasonNotificationReceived, peer: ev.Notification, counter: counterIncrement, restart: true})
	case KeepAliveMsg:
		m.restartHold()
	case UpdateMsg:
		m.emit(Action{Kind: ProcessUpdate})
		m.restartHold()
	case UpdateMsgErr:
		m.fail(ReasonUpdateError, ev.Notification)
	case BGPHeaderErr:
		// Section 6.1 requires a Message Header Error NOTIFICATION for
		// header errors in any state, which section 8's "any other event"
		// row for Established would replace with an FSM error.
		m.fail(ReasonHeaderError, ev.Notification)
	case OpenCollisionDump:
		m.fail(ReasonCollision, collisionCease)
	default:
		// Events 9, 12-13, 20, 22, and an OPEN on this connection.
		m.fsmError()
	}
}

func (m *Machine) restartHold() {
	if m.hold != 0 {
		m.startTimer(HoldTimer, m.hold)
	}
}

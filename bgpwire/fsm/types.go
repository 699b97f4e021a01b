package fsm

import (
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/heraldlb/herald/bgpwire"
)

// State is one of the six session states of RFC 4271 section 8.2.2.
type State uint8

const (
	Idle State = iota
	Connect
	Active
	OpenSent
	OpenConfirm
	Established
	numStates
)

var stateNames = [numStates]string{"Idle", "Connect", "Active", "OpenSent", "OpenConfirm", "Established"}

func (s State) String() string {
	if s < numStates {
		return stateNames[s]
	}
	return fmt.Sprintf("State(%d)", uint8(s))
}

// EventKind names an input to the machine. The RFC 4271 event number is
// given where one exists, so transcripts can be checked against section 8.1.
type EventKind uint8

const (
	ManualStart              EventKind = iota + 1 // RFC 4271 event 1
	ManualStop                                    // event 2
	AutomaticStart                                // event 3
	ManualStartPassive                            // event 4
	AutomaticStartPassive                         // event 5
	AutomaticStop                                 // event 8
	ConnectRetryTimerExpired                      // event 9
	HoldTimerExpired                              // event 10
	KeepaliveTimerExpired                         // event 11
	IdleHoldTimerExpired                          // event 13
	TCPCRAcked                                    // event 16: our outgoing connection completed
	TCPConnectionConfirmed                        // event 17: we accepted the peer's connection
	TCPConnectionFails                            // event 18
	BGPOpen                                       // event 19: a decoded OPEN (Event.Open)
	BGPHeaderErr                                  // event 21: Event.Notification is what to send
	BGPOpenMsgErr                                 // event 22: Event.Notification is what to send
	OpenCollisionDump                             // event 23: this connection lost a collision
	NotifMsgVerErr                                // event 24: received NOTIFICATION 2/1
	NotifMsg                                      // event 25: received any other NOTIFICATION
	KeepAliveMsg                                  // event 26
	UpdateMsg                                     // event 27: a decoded UPDATE (incl. RFC 7606 treat-as-withdraw)
	UpdateMsgErr                                  // event 28: session-reset class; Event.Notification is what to send
	SendHoldTimerExpired                          // RFC 9687 event 29
	SendBlocked                                   // shell: unsent bytes are queued and the peer is not reading
	SendProgressed                                // shell: the send queue drained
	UpdateSent                                    // shell: an UPDATE was written (restarts the KeepaliveTimer)
	numEventKinds
)

// EventKinds lists every event kind, for tables and generators.
func EventKinds() []EventKind {
	kinds := make([]EventKind, 0, numEventKinds-1)
	for k := ManualStart; k < numEventKinds; k++ {
		kinds = append(kinds, k)
	}
	return kinds
}

// States lists every state in RFC order.
func States() []State { return []State{Idle, Connect, Active, OpenSent, OpenConfirm, Established} }

var eventNames = [numEventKinds]string{
	ManualStart:              "ManualStart",
	ManualStop:               "ManualStop",
	AutomaticStart:           "AutomaticStart",
	ManualStartPassive:       "ManualStartPassive",
	AutomaticStartPassive:    "AutomaticStartPassive",
	AutomaticStop:            "AutomaticStop",
	ConnectRetryTimerExpired: "ConnectRetryTimerExpired",
	HoldTimerExpired:         "HoldTimerExpired",
	KeepaliveTimerExpired:    "KeepaliveTimerExpired",
	IdleHoldTimerExpired:     "IdleHoldTimerExpired",
	TCPCRAcked:               "TCPCRAcked",
	TCPConnectionConfirmed:   "TCPConnectionConfirmed",
	TCPConnectionFails:       "TCPConnectionFails",
	BGPOpen:                  "BGPOpen",
	BGPHeaderErr:             "BGPHeaderErr",
	BGPOpenMsgErr:            "BGPOpenMsgErr",
	OpenCollisionDump:        "OpenCollisionDump",
	NotifMsgVerErr:           "NotifMsgVerErr",
	NotifMsg:                 "NotifMsg",
	KeepAliveMsg:             "KeepAliveMsg",
	UpdateMsg:                "UpdateMsg",
	UpdateMsgErr:             "UpdateMsgErr",
	SendHoldTimerExpired:     "SendHoldTimerExpired",
	SendBlocked:              "SendBlocked",
	SendProgressed:           "SendProgressed",
	UpdateSent:               "UpdateSent",
}

func (k EventKind) String() string {
	if k > 0 && k < numEventKinds {
		return eventNames[k]
	}
	return fmt.Sprintf("EventKind(%d)", uint8(k))
}

// ParseEventKind is the inverse of EventKind.String.
func ParseEventKind(s string) (EventKind, bool) {
	for k := ManualStart; k < numEventKinds; k++ {
		if eventNames[k] == s {
			return k, true
		}
	}
	return 0, false
}

// Event is one input to Step. Only the fields of its Kind are read.
type Event struct {
	Kind EventKind
	// Open is the received OPEN for BGPOpen, as bgpwire decoded it without
	// error: the message checks (version, hold time, identifier not 0) are
	// the decoder's, the peer checks (CheckOpen) the machine's.
	Open bgpwire.Open
	// Notification is the NOTIFICATION to send for BGPHeaderErr,
	// BGPOpenMsgErr and UpdateMsgErr (a decoding error's Notification());
	// the one received for NotifMsg and NotifMsgVerErr; and an optional
	// override of the default Cease for ManualStop and AutomaticStop (for
	// example with an RFC 9003 shutdown communication).
	Notification bgpwire.Notification
	// Token is, for a *TimerExpired event, the token of the StartTimer
	// action that armed the timer. An expiry whose token is not that of
	// the timer's running instance is dropped.
	Token uint64
}

func (e Event) String() string {
	switch e.Kind {
	case BGPOpen:
		o := &e.Open
		s := fmt.Sprintf("BGPOpen(v=%d as=%d hold=%d id=%s", o.Version, o.WireAS, o.HoldTime, o.Identifier)
		if o.Capabilities.FourOctetAS {
			s += fmt.Sprintf(" as4=%d", o.AS)
		}
		return s + ")"
	case BGPHeaderErr, BGPOpenMsgErr, NotifMsgVerErr, NotifMsg, UpdateMsgErr:
		return fmt.Sprintf("%s(%s)", e.Kind, formatNotification(e.Notification))
	case ManualStop, AutomaticStop:
		if e.Notification.Code != 0 {
			return fmt.Sprintf("%s(%s)", e.Kind, formatNotification(e.Notification))
		}
	}
	if expiredTimer(e.Kind) != 0 {
		return fmt.Sprintf("%s(#%d)", e.Kind, e.Token)
	}
	return e.Kind.String()
}

// Timer names the timers the shell runs for the machine.
type Timer uint8

const (
	ConnectRetryTimer Timer = iota + 1
	HoldTimer
	KeepaliveTimer
	IdleHoldTimer
	SendHoldTimer
	numTimers
)

var timerNames = [numTimers]string{"", "ConnectRetry", "Hold", "Keepalive", "IdleHold", "SendHold"}

func (t Timer) String() string {
	if t > 0 && t < numTimers {
		return timerNames[t]
	}
	return fmt.Sprintf("Timer(%d)", uint8(t))
}

// ActionKind names an output of Step.
type ActionKind uint8

const (
	// InitiateConnection: initiate a TCP connection to the peer (report TCPCRAcked or
	// TCPConnectionFails).
	InitiateConnection ActionKind = iota + 1
	// SendOpen: send an OPEN with Action.OpenParams and the speaker's capabilities.
	SendOpen
	SendKeepalive
	// SendNotification: send Action.Notification (best effort; a
	// DropConnection follows).
	SendNotification
	// StartTimer: (re)start Action.Timer for Action.Duration; its expiry
	// event must carry Action.Token. A zero Duration for IdleHoldTimer
	// means the shell's backoff chooses.
	StartTimer
	StopTimer
	// DropConnection: close the TCP connection (after flushing a NOTIFICATION
	// queued just before it, if the socket allows).
	DropConnection
	// ReleaseResources: forget per-connection state (the RIB-In of the session).
	ReleaseResources
	// SessionUp: the session entered Established; Action.Session has the
	// negotiated values.
	SessionUp
	// SessionDown: the session left Established; withdraw its routes.
	// Action.Reason says why, Action.Notification is the NOTIFICATION sent or
	// received, if any.
	SessionDown
	// ProcessUpdate: apply the UPDATE of the event to the session's RIB-In.
	ProcessUpdate
	numActionKinds
)

var actionNames = [numActionKinds]string{"", "InitiateConnection", "SendOpen", "SendKeepalive", "SendNotification",
	"StartTimer", "StopTimer", "DropConnection", "ReleaseResources", "SessionUp", "SessionDown", "ProcessUpdate"}

func (k ActionKind) String() string {
	if k > 0 && k < numActionKinds {
		return actionNames[k]
	}
	return fmt.Sprintf("ActionKind(%d)", uint8(k))
}

// OpenParams are the machine-owned fields of the OPEN to send. The speaker
// adds capabilities; bgpwire.AppendOpen puts AS_TRANS in the 2-octet field
// when ASN > 65535.
type OpenParams struct {
	ASN        uint32
	HoldTime   uint16 // seconds
	Identifier netip.Addr
}

// Session describes an Established session: negotiated timers and the peer.
type Session struct {
	HoldTime  time.Duration // 0: no keepalives and no hold timer
	Keepalive time.Duration
	PeerAS    uint32
	PeerID    netip.Addr
	Initiator Initiator
}

// DownReason says why a session left Established.
type DownReason uint8

const (
	ReasonManualStop DownReason = iota + 1
	ReasonAutomaticStop
	ReasonHoldTimerExpired
	ReasonSendHoldTimerExpired
	ReasonConnectionFailed
	ReasonNotificationReceived
	ReasonUpdateError
	ReasonHeaderError
	ReasonFSMError
	ReasonCollision
	numReasons
)

var reasonNames = [numReasons]string{"", "ManualStop", "AutomaticStop", "HoldTimerExpired", "SendHoldTimerExpired",
	"ConnectionFailed", "NotificationReceived", "UpdateError", "HeaderError", "FSMError", "Collision"}

func (r DownReason) String() string {
	if r > 0 && r < numReasons {
		return reasonNames[r]
	}
	return fmt.Sprintf("DownReason(%d)", uint8(r))
}

// Action is one output of Step. Only the fields of its Kind are set.
type Action struct {
	Kind     ActionKind
	Timer    Timer
	Duration time.Duration
	// Token identifies this start of Timer: its expiry event echoes it.
	// Tokens are never 0 and never reused by one Machine.
	Token        uint64
	Notification bgpwire.Notification
	OpenParams   OpenParams
	Session      Session
	Reason       DownReason
}

func (a Action) String() string {
	switch a.Kind {
	case SendOpen:
		p := a.OpenParams
		return fmt.Sprintf("SendOpen(as=%d hold=%d id=%s)", p.ASN, p.HoldTime, p.Identifier)
	case SendNotification:
		return fmt.Sprintf("SendNotification(%s)", formatNotification(a.Notification))
	case StartTimer:
		return fmt.Sprintf("StartTimer(%s %s #%d)", a.Timer, a.Duration, a.Token)
	case StopTimer:
		return fmt.Sprintf("StopTimer(%s)", a.Timer)
	case SessionUp:
		s := a.Session
		return fmt.Sprintf("SessionUp(hold=%s keepalive=%s peer-as=%d peer-id=%s by=%s)",
			s.HoldTime, s.Keepalive, s.PeerAS, s.PeerID, s.Initiator)
	case SessionDown:
		if a.Notification.Code != 0 {
			return fmt.Sprintf("SessionDown(%s %s)", a.Reason, formatNotification(a.Notification))
		}
		return fmt.Sprintf("SessionDown(%s)", a.Reason)
	}
	return a.Kind.String()
}

// FormatActions renders actions one per line, for transcripts and logs.
func FormatActions(actions []Action) string {
	var b strings.Builder
	for _, a := range actions {
		b.WriteString(a.String())
		b.WriteByte('\n')
	}
	return b.String()
}

// formatNotification is the compact CODE/SUBCODE [data=HEX] form of n used
// in transcripts.
func formatNotification(n bgpwire.Notification) string {
	if len(n.Data) == 0 {
		return fmt.Sprintf("%d/%d", n.Code, n.Subcode)
	}
	return fmt.Sprintf("%d/%d data=%x", n.Code, n.Subcode, n.Data)
}

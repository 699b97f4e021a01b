package bfd

import (
	"fmt"
	"strings"
	"time"
)

// EventKind names an input to Machine.Step.
type EventKind uint8

const (
	// Enable administratively enables the session (§6.8.16): a new
	// Machine, or one in AdminDown, goes to Down and starts sending
	// (unless passive).
	Enable EventKind = iota + 1
	// Disable administratively disables the session: AdminDown with
	// Event.Diag (default AdministrativelyDown; PathDown when the shell
	// knows the path failed). It keeps sending AdminDown packets at the
	// slow rate, which §6.8.16 allows, until the shell removes it.
	Disable
	// Received is a Control packet: Event.Packet, decoded by Decode from
	// Event.Raw (the bytes are needed to check a digest).
	Received
	// TimerExpired is the expiry of Event.Timer, armed with Event.Token.
	TimerExpired
	// EchoReceived: one of this session's Echo packets came back.
	EchoReceived
	// Reconfigure applies Event.Profile (already validated; an invalid one
	// is ignored) without taking the session down.
	Reconfigure
	numEventKinds
)

var eventNames = [numEventKinds]string{"", "Enable", "Disable", "Received", "TimerExpired", "EchoReceived", "Reconfigure"}

func (k EventKind) String() string {
	if k > 0 && k < numEventKinds {
		return eventNames[k]
	}
	return fmt.Sprintf("EventKind(%d)", uint8(k))
}

// EventKinds lists every event kind.
func EventKinds() []EventKind {
	out := make([]EventKind, 0, numEventKinds-1)
	for k := Enable; k < numEventKinds; k++ {
		out = append(out, k)
	}
	return out
}

// Event is one input to Step. Only the fields of its Kind are read, except
// Rand.
type Event struct {
	Kind EventKind
	// Packet and Raw for Received. The machine keeps neither.
	Packet *Packet
	Raw    []byte
	// Timer and Token for TimerExpired.
	Timer Timer
	Token uint64
	// Diag for Disable.
	Diag Diag
	// Profile for Reconfigure.
	Profile Profile
	// Rand is a uniformly random 32-bit value the shell draws for every
	// event: the machine derives the jitter of every timer it arms in this
	// step from it (§6.8.7), so that it draws no randomness itself.
	Rand uint32
	// Now is the shell's monotonic clock when the event happened (any
	// origin, never going back). The machine only subtracts readings: when
	// an interval shortens, the next packet is due that much after the
	// last one (§6.8.3), which a timer armed from the current step cannot
	// express. A shell that passes 0 throughout gets timers counted from
	// each step instead.
	Now time.Duration
}

func (e Event) String() string {
	switch e.Kind {
	case Received:
		if e.Packet == nil {
			return "Received(nil)"
		}
		return "Received(" + e.Packet.String() + ")"
	case TimerExpired:
		return fmt.Sprintf("TimerExpired(%s #%d)", e.Timer, e.Token)
	case Disable:
		return fmt.Sprintf("Disable(%s)", e.Diag)
	}
	return e.Kind.String()
}

// Timer names the timers the shell runs for a Machine.
type Timer uint8

const (
	// TransmitTimer paces periodic Control packets.
	TransmitTimer Timer = iota + 1
	// DetectTimer is the Detection Time (§6.8.4); it is restarted by every
	// accepted packet.
	DetectTimer
	// EchoTransmitTimer paces Echo packets while the Echo function is
	// active.
	EchoTransmitTimer
	// EchoDetectTimer expires when no Echo packet came back for the Echo
	// detection time (§6.8.5).
	EchoDetectTimer
	numTimers
)

var timerNames = [numTimers]string{"", "Transmit", "Detect", "EchoTransmit", "EchoDetect"}

func (t Timer) String() string {
	if t > 0 && t < numTimers {
		return timerNames[t]
	}
	return fmt.Sprintf("Timer(%d)", uint8(t))
}

// Timers lists every timer.
func Timers() []Timer { return []Timer{TransmitTimer, DetectTimer, EchoTransmitTimer, EchoDetectTimer} }

// ActionKind names an output of Step.
type ActionKind uint8

const (
	// SendControl: encode Action.Packet with AppendPacket and send it.
	SendControl ActionKind = iota + 1
	// SendEcho: send one Echo packet for this session.
	SendEcho
	// StartTimer: (re)start Action.Timer for Action.Duration; its expiry
	// is the event TimerExpired with Action.Token.
	StartTimer
	// StopTimer: Action.Timer is no longer needed. An expiry that arrives
	// anyway is dropped by its stale token.
	StopTimer
	// SessionUp: the session entered Up.
	SessionUp
	// SessionDown: the session left Up; Action.Cause says why and whether
	// it is a failure (DownCause.Failure).
	SessionDown
	numActionKinds
)

var actionNames = [numActionKinds]string{"", "SendControl", "SendEcho", "StartTimer", "StopTimer", "SessionUp", "SessionDown"}

func (k ActionKind) String() string {
	if k > 0 && k < numActionKinds {
		return actionNames[k]
	}
	return fmt.Sprintf("ActionKind(%d)", uint8(k))
}

// DownCause says why a session left Up.
type DownCause uint8

const (
	// CauseDetectionTimeExpired: no Control packet for the Detection Time
	// (diag 1).
	CauseDetectionTimeExpired DownCause = iota + 1
	// CauseEchoFailed: the Echo function lost its packets (diag 2).
	CauseEchoFailed
	// CauseNeighborDown: the peer signaled Down (diag 3): it lost us.
	CauseNeighborDown
	// CauseNeighborAdminDown: the peer signaled AdminDown (diag 3). Not a
	// failure: RFC 5882 §3.2 forbids taking a client session down for it.
	CauseNeighborAdminDown
	// CauseAdminDown: the local Disable event.
	CauseAdminDown
	numCauses
)

var causeNames = [numCauses]string{"", "DetectionTimeExpired", "EchoFailed", "NeighborDown", "NeighborAdminDown", "AdminDown"}

func (c DownCause) String() string {
	if c > 0 && c < numCauses {
		return causeNames[c]
	}
	return fmt.Sprintf("DownCause(%d)", uint8(c))
}

// Failure reports whether the path is to be considered failed: true for
// detection, Echo and neighbor-signaled Down; false for either side's
// AdminDown (RFC 5882 §3.2), which a client such as BGP must not treat as
// a failure.
func (c DownCause) Failure() bool {
	return c == CauseDetectionTimeExpired || c == CauseEchoFailed || c == CauseNeighborDown
}

// Action is one output of Step. Only the fields of its Kind are set.
type Action struct {
	Kind ActionKind
	// Packet for SendControl. Its Auth.Data is the configured secret.
	Packet Packet
	// Timer, Duration and Token for StartTimer (Timer for StopTimer).
	Timer    Timer
	Duration time.Duration
	Token    uint64
	// Cause for SessionDown.
	Cause DownCause
}

func (a Action) String() string {
	switch a.Kind {
	case SendControl:
		return "SendControl(" + a.Packet.String() + ")"
	case StartTimer:
		return fmt.Sprintf("StartTimer(%s %s #%d)", a.Timer, a.Duration, a.Token)
	case StopTimer:
		return fmt.Sprintf("StopTimer(%s)", a.Timer)
	case SessionDown:
		return fmt.Sprintf("SessionDown(%s)", a.Cause)
	}
	return a.Kind.String()
}

// FormatActions renders actions one per line.
func FormatActions(actions []Action) string {
	var b strings.Builder
	for _, a := range actions {
		b.WriteString(a.String())
		b.WriteByte('\n')
	}
	return b.String()
}

// Counters is the session's state and statistics as a plain value.
type Counters struct {
	State       State
	RemoteState State
	LocalDiag   Diag
	RemoteDiag  Diag
	// LastDown is the cause of the last Up->Down transition (0 if none).
	LastDown    DownCause
	LocalDiscr  uint32
	RemoteDiscr uint32
	// Flaps counts Up->Down transitions, Ups Down/Init->Up ones.
	Flaps uint64
	Ups   uint64
	// PacketsIn counts Received events, accepted or not; PacketsOut the
	// SendControl actions. EchoOut and EchoIn count SendEcho actions and
	// EchoReceived events while the Echo function is active.
	PacketsIn  uint64
	PacketsOut uint64
	EchoOut    uint64
	EchoIn     uint64
	// Drops counts the packets the machine discarded, by reason;
	// AuthFailures is the sum of its authentication reasons.
	Drops        DropCounts
	AuthFailures uint64
	// StaleTimers counts expiries dropped for a token that was not the
	// running timer's.
	StaleTimers uint64
	// Polls counts Poll Sequences started, Finals those ended by a Final.
	Polls  uint64
	Finals uint64
	// Polling is whether a Poll Sequence is in progress.
	Polling bool
	// The negotiated values in force: the periodic transmit interval
	// before jitter, the Detection Time, and for Echo the same pair (zero
	// while Echo is not active).
	TransmitInterval  time.Duration
	DetectionTime     time.Duration
	EchoActive        bool
	EchoInterval      time.Duration
	EchoDetectionTime time.Duration
	// What this system advertises and what the peer last advertised.
	DesiredMinTx       time.Duration
	RequiredMinRx      time.Duration
	RequiredMinEchoRx  time.Duration
	RemoteDesiredMinTx time.Duration
	RemoteMinRx        time.Duration
	RemoteMinEchoRx    time.Duration
	RemoteDetectMult   uint8
	RemoteDemand       bool
}

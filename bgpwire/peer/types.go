package peer

import (
	"fmt"
	"net/netip"
	"slices"
	"time"

	"github.com/heraldlb/herald/bgpwire"
	"github.com/heraldlb/herald/bgpwire/fsm"
)

// ConnID names one TCP connection of the peer. The Peer chooses it, for the
// connection it asks the shell to open (Dial) and for the one the shell
// accepted (Accept), and never reuses it.
type ConnID uint32

// Slot is one of the Peer's two state machines (RFC 4271 section 6.8: a
// connection we opened and one the peer opened can exist at once).
type Slot uint8

// The two slots.
const (
	Outgoing Slot = iota // connections the Peer dials
	Incoming             // connections the shell accepted from the peer's address
	numSlots
)

func (s Slot) String() string {
	switch s {
	case Outgoing:
		return "out"
	case Incoming:
		return "in"
	}
	return fmt.Sprintf("Slot(%d)", uint8(s))
}

// TimerKind names a timer the shell runs for the Peer.
type TimerKind uint8

// Timers. RestartTimer is the Peer's own restart backoff; the others are
// the RFC 4271 timers of one slot's machine.
const (
	RestartTimer TimerKind = iota + 1
	ConnectRetryTimer
	HoldTimer
	KeepaliveTimer
	SendHoldTimer
)

var timerKindNames = [...]string{RestartTimer: "restart", ConnectRetryTimer: "connect-retry", HoldTimer: "hold",
	KeepaliveTimer: "keepalive", SendHoldTimer: "send-hold"}

func (k TimerKind) String() string {
	if k > 0 && int(k) < len(timerKindNames) {
		return timerKindNames[k]
	}
	return fmt.Sprintf("TimerKind(%d)", uint8(k))
}

// Timer identifies one timer: a StartTimer of a Timer replaces the running
// instance of the same Timer. Slot is Outgoing for RestartTimer.
type Timer struct {
	Slot Slot
	Kind TimerKind
}

func (t Timer) String() string {
	if t.Kind == RestartTimer {
		return "restart"
	}
	return t.Slot.String() + "." + t.Kind.String()
}

// timerID indexes the Peer's timer table: the restart timer, then four per
// slot.
type timerID uint8

const (
	restartID timerID = 0
	numTimers         = 1 + int(numSlots)*4
)

func (t Timer) id() (timerID, bool) {
	if t.Kind == RestartTimer {
		return restartID, t.Slot == Outgoing
	}
	if t.Kind < ConnectRetryTimer || t.Kind > SendHoldTimer || t.Slot >= numSlots {
		return 0, false
	}
	return timerID(1 + int(t.Slot)*4 + int(t.Kind-ConnectRetryTimer)), true
}

func (id timerID) timer() Timer {
	if id == restartID {
		return Timer{Kind: RestartTimer}
	}
	return Timer{Slot: Slot((id - 1) / 4), Kind: ConnectRetryTimer + TimerKind((id-1)%4)}
}

// fsmTimer maps a slot timer to the machine's, and back.
func (k TimerKind) fsmTimer() fsm.Timer {
	switch k {
	case ConnectRetryTimer:
		return fsm.ConnectRetryTimer
	case HoldTimer:
		return fsm.HoldTimer
	case KeepaliveTimer:
		return fsm.KeepaliveTimer
	case SendHoldTimer:
		return fsm.SendHoldTimer
	}
	return 0
}

func kindOf(t fsm.Timer) TimerKind {
	switch t {
	case fsm.ConnectRetryTimer:
		return ConnectRetryTimer
	case fsm.HoldTimer:
		return HoldTimer
	case fsm.KeepaliveTimer:
		return KeepaliveTimer
	case fsm.SendHoldTimer:
		return SendHoldTimer
	}
	return 0
}

func expiryOf(t fsm.Timer) fsm.EventKind {
	switch t {
	case fsm.ConnectRetryTimer:
		return fsm.ConnectRetryTimerExpired
	case fsm.HoldTimer:
		return fsm.HoldTimerExpired
	case fsm.KeepaliveTimer:
		return fsm.KeepaliveTimerExpired
	case fsm.SendHoldTimer:
		return fsm.SendHoldTimerExpired
	}
	return 0
}

// Class is the write queue a Send belongs to. The shell keeps one queue per
// class and per connection and always writes Control first, so a KEEPALIVE
// or NOTIFICATION never waits behind queued UPDATEs.
type Class uint8

// Classes.
const (
	// Control: OPEN, KEEPALIVE, NOTIFICATION.
	Control Class = iota + 1
	// Bulk: UPDATE (End-of-RIB included) and the ROUTE-REFRESH markers
	// around a re-sent table, in order.
	Bulk
)

func (c Class) String() string {
	switch c {
	case Control:
		return "control"
	case Bulk:
		return "bulk"
	}
	return fmt.Sprintf("Class(%d)", uint8(c))
}

// AF is an address family Herald announces: IPv4 or IPv6 unicast.
type AF uint8

// Address families, as indexes of per-family arrays.
const (
	IPv4 AF = iota
	IPv6
	numAF
)

// AFs lists the address families.
var AFs = [numAF]AF{IPv4, IPv6}

func (af AF) String() string {
	if af == IPv6 {
		return "ipv6"
	}
	return "ipv4"
}

// Family is the AFI/SAFI of af.
func (af AF) Family() bgpwire.Family {
	if af == IPv6 {
		return bgpwire.IPv6Unicast
	}
	return bgpwire.IPv4Unicast
}

func (af AF) afi() bgpwire.AFI { return af.Family().AFI }

func afOf(p netip.Prefix) AF {
	if p.Addr().Is4() {
		return IPv4
	}
	return IPv6
}

func afOfFamily(f bgpwire.Family) (AF, bool) {
	switch f {
	case bgpwire.IPv4Unicast:
		return IPv4, true
	case bgpwire.IPv6Unicast:
		return IPv6, true
	}
	return 0, false
}

// LocalAddrs are this node's addresses for one connection, as the shell
// knows them once TCP is up.
type LocalAddrs struct {
	// Transport is the connection's local address. Its family decides the
	// session's own family (and an IPv6 link-local one makes the session
	// unnumbered: IPv4 routes then go with an IPv6 next hop, RFC 8950).
	Transport netip.Addr
	// IPv4 and IPv6 are the next hops to announce routes of each family
	// with; when invalid, Transport serves for its own family.
	IPv4, IPv6 netip.Addr
	// LinkLocal is the IPv6 link-local address of the interface towards
	// the peer, sent beside a global IPv6 next hop to a directly
	// connected peer (RFC 2545) or alone when there is no global one.
	LinkLocal netip.Addr
}

// Attrs are the path attributes a route carries besides those the Peer
// adds itself (ORIGIN IGP, AS_PATH, NEXT_HOP).
type Attrs struct {
	Communities      []bgpwire.Community
	LargeCommunities []bgpwire.LargeCommunity
	// LocalPref is sent to internal peers only; without it they get 100.
	LocalPref    uint32
	HasLocalPref bool
}

// Equal reports whether a and b are the same attributes, communities in
// the same order.
func (a *Attrs) Equal(b *Attrs) bool {
	return a.HasLocalPref == b.HasLocalPref && a.LocalPref == b.LocalPref &&
		slices.Equal(a.Communities, b.Communities) && slices.Equal(a.LargeCommunities, b.LargeCommunities)
}

// Route is one prefix to announce with its attributes.
type Route struct {
	Prefix netip.Prefix
	Attrs  Attrs
}

// EventKind names an input to the Peer.
type EventKind uint8

// Events.
const (
	// Start: bring the session up (dial unless Passive; accept).
	Start EventKind = iota + 1
	// Stop: close every connection with Cease/Administrative Shutdown and
	// Event.Reason as its RFC 9003 shutdown communication; stay down until
	// Start.
	Stop
	// Deconfigure: the peer was removed: close with Cease/Peer
	// De-configured. The Peer is done; later events are ignored.
	Deconfigure
	// BFDDown: BFD declared the path down: close the Established session
	// with Cease/BFD Down (RFC 9384) and restart with backoff.
	BFDDown
	// Connected: the dial Event.Conn completed; Event.Local are our
	// addresses on it.
	Connected
	// DialFailed: the dial Event.Conn failed.
	DialFailed
	// Accepted: the shell accepted a TCP connection from the peer's
	// address; Event.Local are our addresses on it. The Peer answers with
	// Accept (and the ConnID it gives the connection) or Refuse.
	Accepted
	// Closed: connection Event.Conn failed or was closed by the peer.
	Closed
	// Received: bytes Event.Data arrived on Event.Conn, any split of the
	// stream. The Peer does not keep Data.
	Received
	// SendBlocked: the shell has bytes queued for Event.Conn that the peer
	// does not read (RFC 9687). The Peer holds back UPDATEs, coalescing
	// route changes, until SendProgressed.
	SendBlocked
	// SendProgressed: the queue of Event.Conn drained.
	SendProgressed
	// TimerExpired: Event.Timer fired; Event.Token is its StartTimer's.
	TimerExpired
	// SetRoutes: Event.Routes is the whole desired route set.
	SetRoutes
	// ChangeRoutes: add or replace Event.Routes, remove Event.Withdraw.
	ChangeRoutes
	numEventKinds
)

var eventNames = [numEventKinds]string{Start: "Start", Stop: "Stop", Deconfigure: "Deconfigure", BFDDown: "BFDDown",
	Connected: "Connected", DialFailed: "DialFailed", Accepted: "Accepted", Closed: "Closed", Received: "Received",
	SendBlocked: "SendBlocked", SendProgressed: "SendProgressed", TimerExpired: "TimerExpired",
	SetRoutes: "SetRoutes", ChangeRoutes: "ChangeRoutes"}

func (k EventKind) String() string {
	if k > 0 && k < numEventKinds {
		return eventNames[k]
	}
	return fmt.Sprintf("EventKind(%d)", uint8(k))
}

// Event is one input to Step. Only the fields of its Kind are read, plus
// At and Jitter, which every event carries.
type Event struct {
	Kind EventKind
	// At is when the shell saw the event (its clock, not the Peer's). It is
	// recorded in Status and measures the time since the last failure for
	// the restart backoff.
	At time.Time
	// Jitter is a random fraction in [0, 1] drawn by the shell for this
	// step: every ConnectRetryTimer, KeepaliveTimer and RestartTimer the
	// step starts is shortened by Jitter/4 of its value (RFC 4271 section
	// 10: a random 0 to 25% less). Values outside [0, 1] are clamped.
	Jitter float64

	Conn  ConnID
	Local LocalAddrs
	Data  []byte
	Timer Timer
	Token uint64
	// Routes for SetRoutes and ChangeRoutes; the Peer copies what it keeps.
	Routes   []Route
	Withdraw []netip.Prefix
	// Reason is Stop's shutdown communication (at most 255 bytes of UTF-8
	// are sent).
	Reason string
	// Err is why a DialFailed dial or a Closed connection failed, for
	// Status.LastError (nil: not known).
	Err error
}

// ActionKind names an output of Step.
type ActionKind uint8

// Actions.
const (
	// Dial: open a TCP connection to the peer; report Connected or
	// DialFailed for Action.Conn.
	Dial ActionKind = iota + 1
	// Accept: the connection just reported by Accepted is Action.Conn.
	Accept
	// Refuse: close the connection just reported by Accepted, unanswered.
	Refuse
	// Send: queue Action.Bytes (whole messages) on Action.Conn in the
	// queue of Action.Class. The bytes are the shell's from now on.
	Send
	// Close: close Action.Conn after writing what its Control queue holds
	// (a NOTIFICATION queued just before); drop its Bulk queue.
	Close
	// StartTimer: (re)start Action.Timer for Action.Duration; report its
	// expiry as TimerExpired with Action.Token.
	StartTimer
	// StopTimer: stop Action.Timer (an expiry already queued is harmless).
	StopTimer
	// SessionUp: a session reached Established; Action.Session describes it.
	SessionUp
	// SessionDown: the Established session ended; Action.Down says why.
	SessionDown
	// Report: something worth a log line or a Kubernetes Event.
	Report
	numActionKinds
)

var actionNames = [numActionKinds]string{Dial: "Dial", Accept: "Accept", Refuse: "Refuse", Send: "Send", Close: "Close",
	StartTimer: "StartTimer", StopTimer: "StopTimer", SessionUp: "SessionUp", SessionDown: "SessionDown", Report: "Report"}

func (k ActionKind) String() string {
	if k > 0 && k < numActionKinds {
		return actionNames[k]
	}
	return fmt.Sprintf("ActionKind(%d)", uint8(k))
}

// Action is one output of Step. Only the fields of its Kind are set.
type Action struct {
	Kind     ActionKind
	Conn     ConnID
	Class    Class
	Bytes    []byte
	Timer    Timer
	Token    uint64
	Duration time.Duration
	Session  Session
	Down     Down
	Report   ReportInfo

	// off and end locate Bytes in the step's write buffer until the step
	// ends (the buffer may move while it grows).
	off, end int
}

// Session describes an Established session as negotiated.
type Session struct {
	Conn      ConnID
	Slot      Slot
	PeerAS    uint32
	PeerID    netip.Addr
	LocalAS   uint32 // the AS we present to this peer
	IBGP      bool
	HoldTime  time.Duration // 0: no keepalives, no hold timer
	Keepalive time.Duration
	// Families are the negotiated address families.
	Families [numAF]bool
	// NextHops is what routes of each family are announced with; an
	// invalid Addr means none is known and routes of that family are not
	// sent (a NoNextHop report says so).
	NextHops                [numAF]bgpwire.NextHop
	FourOctetAS             bool
	ExtendedMessage         bool // UPDATEs up to 65535 bytes (RFC 8654)
	RouteRefresh            bool // the peer may ask for the table again (RFC 2918)
	EnhancedRouteRefresh    bool // re-sent tables are framed by BoRR/EoRR (RFC 7313)
	ExtendedNextHop         bool // IPv4 routes may take an IPv6 next hop (RFC 8950)
	PeerGracefulRestart     bool // the peer advertised graceful restart (RFC 4724)
	GracefulRestart         bool // both did
	PeerGracefulRestartTime time.Duration
	PeerRestarting          bool // the R bit in the peer's OPEN
	PeerForwardingPreserved [numAF]bool
}

// Down says why an Established session ended.
type Down struct {
	Conn   ConnID
	Reason fsm.DownReason
	// Notification is the NOTIFICATION sent or received, if any (Code 0:
	// none, e.g. the connection failed).
	Notification bgpwire.Notification
}

// ReportKind names what a Report is about.
type ReportKind uint8

// Reports.
const (
	// NotificationSent: a NOTIFICATION went out (ReportInfo.Notification).
	NotificationSent ReportKind = iota + 1
	// NotificationReceived: the peer sent one (ReportInfo.Notification,
	// with its shutdown communication if any).
	NotificationReceived
	// MalformedUpdate: an UPDATE from the peer was malformed and handled
	// by RFC 7606 without a reset (ReportInfo.Action and Attr; Err is the
	// decoder's *bgpwire.NotificationError or a session check's).
	MalformedUpdate
	// ConnectionRefused: an accepted connection was refused (Err says why).
	ConnectionRefused
	// NoNextHop: a negotiated family has no next hop among the local
	// addresses; its routes are not announced on this session.
	NoNextHop
	// RoutesNotSent: routes could not be encoded for this session (Err:
	// their attributes do not fit a message); they are not announced.
	RoutesNotSent
	// InvalidRoute: a route given in SetRoutes or ChangeRoutes was ignored
	// (Err).
	InvalidRoute
	// SessionReplaced: a new connection from a peer that advertised
	// graceful restart replaced its Established session (RFC 4724).
	SessionReplaced
	// CollisionResolved: a connection collision was decided (Err names the
	// connection dumped and why).
	CollisionResolved
	numReportKinds
)

var reportNames = [numReportKinds]string{NotificationSent: "NotificationSent", NotificationReceived: "NotificationReceived",
	MalformedUpdate: "MalformedUpdate", ConnectionRefused: "ConnectionRefused", NoNextHop: "NoNextHop",
	RoutesNotSent: "RoutesNotSent", InvalidRoute: "InvalidRoute", SessionReplaced: "SessionReplaced",
	CollisionResolved: "CollisionResolved"}

func (k ReportKind) String() string {
	if k > 0 && k < numReportKinds {
		return reportNames[k]
	}
	return fmt.Sprintf("ReportKind(%d)", uint8(k))
}

// ReportInfo is the content of a Report action.
type ReportInfo struct {
	Kind         ReportKind
	Conn         ConnID
	Err          error
	Notification bgpwire.Notification
	Action       bgpwire.Action
	Attr         bgpwire.AttrType
	Family       AF
}

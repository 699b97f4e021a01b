package peer

import (
	"time"

	"github.com/heraldlb/herald/bgpwire"
	"github.com/heraldlb/herald/bgpwire/fsm"
)

// NotificationInfo is a NOTIFICATION sent or received, with its data
// copied; Code 0 means none yet. Its String names the code and subcode and
// quotes an RFC 9003 shutdown communication; ShutdownReason returns it.
type NotificationInfo struct {
	bgpwire.Notification
	Conn ConnID
	At   time.Time
}

// MessageCounts counts messages by type (index: bgpwire.MessageType).
type MessageCounts [bgpwire.TypeRouteRefresh + 1]uint64

// Transition is a change of the Peer's state.
type Transition struct {
	From, To fsm.State
	Event    uint64    // Status.Events when it happened
	At       time.Time // the event's At
}

// Status is the Peer's state and counters as a plain value: it shares no
// memory with the Peer, so the shell can publish it to other goroutines.
type Status struct {
	// State is the most advanced state of the Peer's connections.
	State          fsm.State
	LastTransition Transition
	// Admin: started and not stopped; Deconfigured: removed for good.
	Admin, Deconfigured bool
	// Session is the Established session, zero when there is none.
	Session Session
	// Events counts the events stepped.
	Events uint64

	LastError    error
	LastErrorAt  time.Time
	LastSent     NotificationInfo
	LastReceived NotificationInfo

	MessagesIn, MessagesOut MessageCounts
	// Desired is the number of desired routes per family; Announced the
	// number the Established peer has from us now.
	Desired, Announced [numAF]int
	// UpdatesSent counts UPDATE messages carrying routes (not End-of-RIB);
	// EndOfRIBSent the End-of-RIB markers.
	UpdatesSent, EndOfRIBSent uint64
	// PeerEndOfRIB: the peer sent its End-of-RIB on this session.
	PeerEndOfRIB        [numAF]bool
	SessionsEstablished uint64
	// Failures is the restart backoff's count and RestartDelay the last
	// delay it chose.
	Failures     int
	RestartDelay time.Duration
}

// Status returns the current status.
func (p *Peer) Status() Status {
	st := p.st
	st.State = p.state()
	st.Admin, st.Deconfigured = p.admin, p.gone
	return st
}

// state is the most advanced state of the two machines.
func (p *Peer) state() fsm.State {
	return max(p.slots[Outgoing].m.State(), p.slots[Incoming].m.State())
}

func (p *Peer) noteTransition(before fsm.State) {
	if after := p.state(); after != before {
		p.st.LastTransition = Transition{From: before, To: after, Event: p.st.Events, At: p.now}
		if after != fsm.Established {
			p.st.PeerEndOfRIB = [numAF]bool{}
		}
	}
}

package speaker

import (
	"maps"
	"net"
	"net/netip"
	"reflect"
	"slices"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/heraldlb/herald/actors"
	"github.com/heraldlb/herald/announce"
	"github.com/heraldlb/herald/bgpwire/peer"
	"github.com/heraldlb/herald/config"
)

// drainTimeout bounds how long a stopping speaker waits for its sessions to
// send their withdrawals before it stops anyway.
const drainTimeout = 5 * time.Second

// peersActor keeps one peer actor per BGP session the planner opens on this
// node, and the routes the planner wants on each, so a session restarted
// (its BGPPeer changed, or its actor failed) starts from the whole set. It
// is the one place that turns the planner's session and route changes into
// messages to the sessions.
type peersActor struct {
	term
	e   *env
	cfg *config.Config
	// started: the first configuration came; peers created before it was
	// replaced are the process's first (graceful restart's Restart State).
	configs int

	open map[string]bool
	// routes are the routes each session is to have, handed whole to a
	// session that starts. Routes with equal attributes that arrive
	// together share one Attrs (lastAttrs): at 10,000 Services a copy of
	// the attributes in each map entry was most of this actor's memory.
	routes    map[string]map[netip.Prefix]*peer.Attrs
	lastAttrs *peer.Attrs
	children  map[string]*peerChild
	// planned: the planner has handed over every session and route of
	// this node once (routesPlanned). No session starts before: it would
	// send a partial table and, with graceful restart, an End-of-RIB that
	// makes the router drop the routes it kept for this node.
	planned bool
	// early are the route changes of each session that came before
	// planned, as they would have gone to the session: its first actor
	// gets them in order rather than the routes alone, so the journeys
	// they carry (their traces) go on to the wire.
	early map[string][]changeRoutes
	// leaving are children told to stop, by PID, with their session's
	// name: a session's replacement starts once its predecessor is gone,
	// as both would hold the same listener registration and status
	// object.
	leaving map[string]string
	// stopping: this term ends (a restart, or the tree stopping).
	stopping bool

	drain *drainAll
}

type peerChild struct {
	pid *actor.PID
	cfg *config.Peer
}

type drainAll struct {
	reply   *actor.PID
	waiting map[string]bool
}

// Messages to the peers actor.
type (
	// drainPeers (a request): the speaker stops; answer peersDrained once
	// every session said goodbye (or drainTimeout passed).
	drainPeers struct{}
	// routesPlanned, from the planner: every session and route of this
	// node has been sent (after its first plan, and after a replan).
	routesPlanned struct{}
	// respawnPeer, to itself: start a failed session's actor again.
	respawnPeer struct{ name string }
	// forgetAgain, to itself: delete a forgotten session's
	// BGPSessionState once more (see forget).
	forgetAgain   struct{ name string }
	peersDrained  struct{}
	drainDeadline struct{}
)

func newPeersActor(e *env) actor.Actor { return &peersActor{e: e} }

func (a *peersActor) Receive(c actor.Context) {
	switch m := c.Message().(type) {
	case *actor.Started:
		a.open = map[string]bool{}
		a.routes = map[string]map[netip.Prefix]*peer.Attrs{}
		a.children = map[string]*peerChild{}
		a.leaving = map[string]string{}
		a.early = map[string][]changeRoutes{}
		if a.restarted {
			// Restarted: it lost the configuration and the planner's
			// sessions and routes; both send them again. (At the first
			// start they come on their own.)
			c.Send(a.e.config, resendConfig{to: c.Self()})
			c.Send(a.e.planner, replan{})
		}
	case configUpdated:
		a.cfg = m.cfg
		a.configs++
		a.reconcileAll(c)
	case sessionChange:
		if m.open {
			a.open[m.peer] = true
		} else {
			delete(a.open, m.peer)
			delete(a.routes, m.peer)
			delete(a.early, m.peer)
		}
		a.reconcile(c, m.peer)
		a.forget(c, m.peer)
	case routeChanges:
		a.applyRoutes(c, m)
	case routesResync:
		a.resync(c, m)
	case routesPlanned:
		if !a.planned {
			a.planned = true
			a.reconcileAll(c)
			listSessionStates(a.e, c.Self())
		}
	case sessionStatesListed:
		a.dropStaleSessionStates(m)
	case *actor.Terminated:
		a.terminated(c, m.Who)
	case *actor.Restarting, *actor.Stopping:
		// protoactor stops every child now and waits for them: nothing
		// may start another.
		a.stopping = true
	case respawnPeer:
		a.reconcile(c, m.name)
	case forgetAgain:
		if a.forgotten(m.name) {
			deleteSessionState(a.e, m.name)
		}
	case drainPeers:
		a.startDrain(c, c.Sender())
	case drained:
		if a.drain != nil {
			delete(a.drain.waiting, m.peer)
			if len(a.drain.waiting) == 0 {
				a.finishDrain(c)
			}
		}
	case drainDeadline:
		if a.drain != nil {
			a.e.Log.Warn("stopping before every BGP session said goodbye", "waiting", slices.Sorted(maps.Keys(a.drain.waiting)))
			a.finishDrain(c)
		}
	}
}

// reconcileAll makes every session match the configuration: a BGPPeer
// changed restarts its session (its timers, ASNs or addresses may have
// changed; a session cannot change them in place).
func (a *peersActor) reconcileAll(c actor.Context) {
	names := slices.Collect(maps.Keys(a.open))
	names = append(names, slices.Collect(maps.Keys(a.children))...)
	slices.Sort(names)
	for _, name := range slices.Compact(names) {
		a.reconcile(c, name)
	}
}

func (a *peersActor) reconcile(c actor.Context, name string) {
	if a.drain != nil {
		return // stopping: no new sessions
	}
	var want *config.Peer
	if a.open[name] && a.cfg != nil {
		want, _ = a.cfg.Peer(name)
	}
	ch := a.children[name]
	if ch != nil && want != nil && sameSession(ch.cfg, want) && !reflect.DeepEqual(ch.cfg.BFD, want.BFD) {
		// Only the BFD profile changed: the BFD session renegotiates
		// (a Poll Sequence) and the BGP session stays up.
		c.Send(ch.pid, setBFD{profile: want.BFD})
		ch.cfg = want
	}
	if ch != nil && (want == nil || !sameSession(ch.cfg, want)) {
		// Stopping says goodbye with Cease/Peer De-configured.
		c.Stop(ch.pid)
		a.leaving[ch.pid.Id] = name
		delete(a.children, name)
		ch = nil
	}
	if ch == nil && want != nil && a.planned && !a.stopping && !a.isLeaving(name) {
		early := a.early[name]
		delete(a.early, name)
		var routes []peer.Route
		if early == nil {
			// Otherwise the same routes reach it as the changes that
			// made them.
			routes = make([]peer.Route, 0, len(a.routes[name]))
			for prefix, attrs := range a.routes[name] {
				routes = append(routes, peer.Route{Prefix: prefix, Attrs: *attrs})
			}
		}
		restarted := a.configs == 1
		p := want
		pid := c.Spawn(actors.NewProps(a.e.Log, "peer", func() actor.Actor { return newPeerActor(a.e, p, routes, restarted) }))
		a.children[name] = &peerChild{pid: pid, cfg: want}
		// In this turn, so in the mailbox before the first connection's
		// news: the session is up only with all of them.
		for _, msg := range early {
			c.Send(pid, msg)
		}
	}
}

func (a *peersActor) isLeaving(name string) bool {
	for _, n := range a.leaving {
		if n == name {
			return true
		}
	}
	return false
}

// terminated handles a child that stopped: one told to leave makes room
// for its replacement; one that stopped on its own failed (a peer actor's
// panic stops it rather than restarting it: actors.StopFailedChildren), and starts
// again from the routes and configuration in force now, not those it was
// first given.
func (a *peersActor) terminated(c actor.Context, who *actor.PID) {
	if a.stopping {
		return // protoactor stops the children of a stopping or restarting actor
	}
	if name, ok := a.leaving[who.Id]; ok {
		delete(a.leaving, who.Id)
		a.reconcile(c, name)
		a.forget(c, name)
		return
	}
	for name, ch := range a.children {
		if ch.pid.Id == who.Id {
			delete(a.children, name)
			if a.drain != nil {
				delete(a.drain.waiting, name)
				if len(a.drain.waiting) == 0 {
					a.finishDrain(c)
				}
				return
			}
			a.e.Log.Error("a BGP session's actor failed; starting it again", "peer", name)
			a.e.After(peerRespawnDelay, c.Self(), respawnPeer{name: name})
			return
		}
	}
}

// peerRespawnDelay spaces the restarts of a failing session's actor.
const peerRespawnDelay = time.Second

// sameSession reports whether two compilations of a BGPPeer describe the
// same BGP session, their BFD profiles aside (a profile change renegotiates
// BFD without restarting BGP). Which nodes the BGPPeer selects is not part
// of it either: whether this node has the session at all is the planner's
// decision (a sessionChange), and another node's labels or a reworded
// selector that still selects this node must not restart a session that is
// up.
func sameSession(a, b *config.Peer) bool {
	x, y := *a, *b
	x.Nodes, y.Nodes = config.NodeSelection{}, config.NodeSelection{}
	x.BFD, y.BFD = nil, nil
	return reflect.DeepEqual(&x, &y)
}

func (a *peersActor) applyRoutes(c actor.Context, m routeChanges) {
	rs := a.routes[m.peer]
	if rs == nil {
		rs = map[netip.Prefix]*peer.Attrs{}
		a.routes[m.peer] = rs
	}
	msg := changeRoutes{trace: m.trace, at: m.at}
	for _, list := range [][]announce.Route{m.changes.Added, m.changes.Changed} {
		for _, r := range list {
			pr := peerRoute(r)
			rs[pr.Prefix] = a.shareAttrs(pr.Attrs)
			msg.routes = append(msg.routes, pr)
		}
	}
	for _, p := range m.changes.Removed {
		delete(rs, p)
		msg.withdraw = append(msg.withdraw, p)
	}
	if ch := a.children[m.peer]; ch != nil {
		c.Send(ch.pid, msg)
	} else if !a.planned || a.early[m.peer] != nil {
		// Kept whole until the session's first actor starts (also when
		// that waits for its BGPPeer after planned).
		a.early[m.peer] = append(a.early[m.peer], msg)
	}
}

// resync makes the sessions and their routes exactly a restarted
// planner's: sessions it does not open close, and routes it does not list
// are withdrawn. Routes go first, so a session it opens starts from them.
func (a *peersActor) resync(c actor.Context, m routesResync) {
	for _, name := range slices.Sorted(maps.Keys(a.open)) {
		if _, ok := m.sessions[name]; !ok {
			delete(a.open, name)
			delete(a.routes, name)
			delete(a.early, name)
			a.reconcile(c, name)
			a.forget(c, name)
		}
	}
	for _, name := range slices.Sorted(maps.Keys(m.sessions)) {
		routes := m.sessions[name]
		keep := make(map[netip.Prefix]bool, len(routes))
		for _, r := range routes {
			keep[r.Prefix] = true
		}
		var gone []netip.Prefix
		for p := range a.routes[name] {
			if !keep[p] {
				gone = append(gone, p)
			}
		}
		a.applyRoutes(c, routeChanges{peer: name, changes: announce.RouteChanges{
			Node: a.e.node, Peer: name, Added: routes, Removed: gone}})
		a.open[name] = true
		a.reconcile(c, name)
	}
	// The restarted planner knows nothing of the sessions already up.
	for _, ch := range a.children {
		c.Send(ch.pid, resendCarries{})
	}
}

// forget deletes a session's BGPSessionState once nothing of it is left:
// not planned, no actor, none leaving. A stopping speaker keeps its
// objects for the next one. A session actor's writes run off the actor, so
// one may still land after its actor stopped and after this deletion; the
// deletion is made again forgetRecheck later if the session is still gone.
func (a *peersActor) forget(c actor.Context, name string) {
	if !a.forgotten(name) {
		return
	}
	deleteSessionState(a.e, name)
	a.e.metrics.forgetPeerCounters(name)
	a.e.After(forgetRecheck, c.Self(), forgetAgain{name: name})
}

func (a *peersActor) forgotten(name string) bool {
	return a.drain == nil && !a.stopping && !a.open[name] && a.children[name] == nil && !a.isLeaving(name)
}

// forgetRecheck is how long after a session's BGPSessionState was deleted
// it is deleted again, should a write of its last actor have landed later.
const forgetRecheck = 5 * time.Second

func (a *peersActor) startDrain(c actor.Context, reply *actor.PID) {
	a.drain = &drainAll{reply: reply, waiting: map[string]bool{}}
	for name, ch := range a.children {
		a.drain.waiting[name] = true
		c.Send(ch.pid, drainPeer{reply: c.Self()})
	}
	if len(a.drain.waiting) == 0 {
		a.finishDrain(c)
		return
	}
	a.e.After(drainTimeout, c.Self(), drainDeadline{})
}

func (a *peersActor) finishDrain(c actor.Context) {
	if a.drain.reply != nil {
		c.Send(a.drain.reply, peersDrained{})
		a.drain.reply = nil
	}
}

// shareAttrs returns a pointer to attributes equal to at: the previous
// route's when they are equal, which in a burst of changes they usually
// are. Nothing writes through these pointers, and the sessions copy what
// they keep.
func (a *peersActor) shareAttrs(at peer.Attrs) *peer.Attrs {
	if l := a.lastAttrs; l != nil && l.Equal(&at) {
		return l
	}
	a.lastAttrs = &at
	return a.lastAttrs
}

func addrOf(a net.Addr) netip.Addr {
	if ta, ok := a.(*net.TCPAddr); ok {
		ip, _ := netip.AddrFromSlice(ta.IP)
		return ip.Unmap()
	}
	return netip.Addr{}
}

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
	drainPeers    struct{}
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
		if a.e.begun.Load() {
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
		}
		a.reconcile(c, m.peer)
	case routeChanges:
		a.applyRoutes(c, m)
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
		delete(a.children, name)
		ch = nil
	}
	if ch == nil && want != nil {
		routes := make([]peer.Route, 0, len(a.routes[name]))
		for prefix, attrs := range a.routes[name] {
			routes = append(routes, peer.Route{Prefix: prefix, Attrs: *attrs})
		}
		restarted := a.configs == 1
		p := want
		pid := c.Spawn(actors.NewProps(a.e.Log, "peer", func() actor.Actor { return newPeerActor(a.e, p, routes, restarted) }))
		a.children[name] = &peerChild{pid: pid, cfg: want}
	}
}

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
	}
}

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

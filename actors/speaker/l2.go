package speaker

import (
	"maps"
	"net/netip"
	"slices"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"go.opentelemetry.io/otel/trace"

	"github.com/heraldlb/herald/actors"
	"github.com/heraldlb/herald/l2"
)

// ifacesActor follows this node's network interfaces (l2.Watch, a netlink
// subscription: a link going down or an address coming is acted on at
// once), keeps one interface actor per usable interface, tells the planner
// which interfaces can answer, and hands each interface actor the IPs it
// must answer ARP/NDP for.
type ifacesActor struct {
	term
	e       *env
	watcher *l2.Watcher
	// usable are the usable links by name; actors their interface actors.
	usable map[string]l2.Link
	actors map[string]*actor.PID
	// owned is what this node answers for: IP -> the interfaces allowed
	// (nil: any usable one).
	owned map[netip.Addr][]string
	// traces are the plan spans of the ownership changes not yet handed
	// to an interface actor, since the informer event times of those a
	// Service or EndpointSlice event caused.
	traces map[netip.Addr]trace.SpanContext
	since  map[netip.Addr]time.Time
	// listed: the interfaces were listed once and the planner told.
	// never: they never will be (L2 off, bad exclusions, no netlink).
	listed, never bool
}

// Messages of the L2 actors.
type (
	// linkEvent is a netlink notification about one link.
	linkEvent struct{ ev l2.Event }
	// l2Owned is every IP this node owns, with the interfaces it may
	// answer on (nil: any).
	// traces are the speaker.plan spans of the IPs whose ownership the
	// planner's last step changed; since when the informer event behind
	// each IP this node gained was received (see serviceEvent).
	l2Owned struct {
		ips    map[netip.Addr][]string
		traces map[netip.Addr]trace.SpanContext
		since  map[netip.Addr]time.Time
	}
	// localInterfaces are this node's usable interfaces, sorted.
	localInterfaces struct{ names []string }
	// ifaceOwned are the IPs one interface answers for.
	ifaceOwned struct {
		ips    []netip.Addr
		traces map[netip.Addr]trace.SpanContext
		since  map[netip.Addr]time.Time
	}
	// interfacesListed: the watcher's first listing has been handled.
	interfacesListed struct{}
	// watchInterfaces, from the top actor: the tree exists, start
	// following the interfaces.
	watchInterfaces struct{}
	// resendOwned, to the planner: send l2Owned again (a restarted
	// interfaces actor).
	resendOwned struct{}
	// resendLocalInterfaces, from a restarted planner: send
	// localInterfaces again, once they are listed, or noInterfaces when
	// they never will be.
	resendLocalInterfaces struct{}
	noInterfaces          struct{}
)

func newIfacesActor(e *env) actor.Actor { return &ifacesActor{e: e} }

func (a *ifacesActor) Receive(c actor.Context) {
	switch m := c.Message().(type) {
	case *actor.Started:
		a.usable, a.actors, a.owned = map[string]l2.Link{}, map[string]*actor.PID{}, map[netip.Addr][]string{}
		if a.restarted {
			// Restarted alone: its interface actors are gone with what
			// they answered for; the planner says it again.
			a.watch(c)
			c.Send(a.e.planner, resendOwned{})
		}
	case watchInterfaces:
		a.watch(c)
	case linkEvent:
		a.link(c, m.ev)
	case interfacesListed:
		// The planner hears the usable interfaces at least once, even
		// when there are none (it says so on L2Advertisements naming
		// interfaces).
		a.listed = true
		c.Send(a.e.planner, localInterfaces{names: slices.Sorted(maps.Keys(a.usable))})
	case resendLocalInterfaces:
		switch {
		case a.listed:
			c.Send(a.e.planner, localInterfaces{names: slices.Sorted(maps.Keys(a.usable))})
		case a.never:
			c.Send(a.e.planner, noInterfaces{})
		} // else the listing tells the planner
	case l2Owned:
		a.owned = m.ips
		a.traces, a.since = m.traces, m.since
		a.distribute(c)
		a.traces, a.since = nil, nil
	case *actor.Stopping, *actor.Restarting:
		if a.watcher != nil {
			a.watcher.Close()
			a.watcher = nil
		}
	}
}

// watch follows this node's interfaces by netlink.
func (a *ifacesActor) watch(c actor.Context) {
	if a.watcher != nil {
		return
	}
	if a.e.noL2 {
		a.never = true
		return
	}
	filter, err := l2.NewFilter(a.e.l2Exclude)
	if err != nil {
		a.e.Log.Error("L2 interface exclusions are invalid; answering on no interface", "err", err)
		a.never = true
		return
	}
	self, root := c.Self(), a.e.Root
	a.watcher, err = l2.Watch(l2.WatchOptions{Filter: filter}, func(ev l2.Event) { root.Send(self, linkEvent{ev}) })
	if err != nil {
		// Without netlink (no privileges) there is no L2 mode on this
		// node; BGP is unaffected.
		a.e.Log.Warn("cannot follow network interfaces: this node answers no ARP/NDP", "err", err)
		a.never = true
		return
	}
	// The first listing's events are in the mailbox already (Watch
	// sent them from this goroutine): this comes after them.
	c.Send(self, interfacesListed{})
}

func (a *ifacesActor) link(c actor.Context, ev l2.Event) {
	name := ev.Link.Name
	_, was := a.usable[name]
	switch {
	case ev.Usable() && ev.Kind != l2.LinkRemoved:
		if pid := a.actors[name]; pid != nil && (ev.Link.MAC != a.usable[name].MAC || ev.Link.Index != a.usable[name].Index) {
			c.Stop(pid) // a new MAC or a new link of that name: a new responder
			delete(a.actors, name)
		}
		a.usable[name] = ev.Link
		if a.actors[name] == nil {
			link := ev.Link
			a.actors[name] = c.Spawn(actors.NewProps(a.e.Log, "iface", func() actor.Actor { return newIfaceActor(a.e, link) }))
		}
	default:
		delete(a.usable, name)
		if pid := a.actors[name]; pid != nil {
			c.Stop(pid)
			delete(a.actors, name)
		}
	}
	if _, is := a.usable[name]; is != was {
		if is {
			a.e.Log.Info("interface answers ARP/NDP", "interface", name)
		} else {
			a.e.Log.Info("interface no longer answers ARP/NDP", "interface", name, "reason", string(ev.Reason))
		}
		c.Send(a.e.planner, localInterfaces{names: slices.Sorted(maps.Keys(a.usable))})
	}
	a.distribute(c)
}

// distribute tells each interface actor what it answers for.
func (a *ifacesActor) distribute(c actor.Context) {
	per := map[string][]netip.Addr{}
	for ip, allowed := range a.owned {
		for name := range a.usable {
			if allowed == nil || slices.Contains(allowed, name) {
				per[name] = append(per[name], ip)
			}
		}
	}
	for name, pid := range a.actors {
		ips := per[name]
		slices.SortFunc(ips, netip.Addr.Compare)
		c.Send(pid, ifaceOwned{ips: ips, traces: a.traces, since: a.since})
	}
}

// ifaceActor owns one interface's l2.Responder: its sockets, its reader
// goroutines (which answer without waiting for this actor) and its
// gratuitous schedule. It only hands the responder the IPs to answer for.
type ifaceActor struct {
	e    *env
	link l2.Link
	r    *l2.Responder
	last []netip.Addr
}

func newIfaceActor(e *env, link l2.Link) actor.Actor { return &ifaceActor{e: e, link: link} }

// responderDied: the responder's sockets failed for good.
type responderDied struct{ err error }

func (a *ifaceActor) Receive(c actor.Context) {
	switch m := c.Message().(type) {
	case *actor.Started:
		r, err := l2.Open(l2.Interface{Name: a.link.Name, Index: a.link.Index, MAC: a.link.MAC}, l2.OpenOptions{})
		if err != nil {
			a.e.Log.Error("cannot answer ARP/NDP on an interface", "interface", a.link.Name, "err", err)
			return
		}
		a.r = r
		a.e.metrics.l2.add(r)
		self, root := c.Self(), a.e.Root
		go func() {
			<-r.Done()
			root.Send(self, responderDied{err: r.Err()})
		}()
		if a.last != nil {
			a.set(a.last, nil, nil)
		}
	case ifaceOwned:
		a.last = m.ips
		a.set(m.ips, m.traces, m.since)
	case responderDied:
		if m.err != nil {
			// The supervisor restarts the actor, which opens new sockets.
			panic("ARP/NDP responder on " + a.link.Name + " failed: " + m.err.Error())
		}
	case *actor.Stopping, *actor.Restarting:
		// Restarting too: the new actor opens its own sockets.
		if a.r != nil {
			a.e.metrics.l2.remove(a.r)
			a.r.Close()
			a.r = nil
		}
	}
}

func (a *ifaceActor) set(ips []netip.Addr, traces map[netip.Addr]trace.SpanContext, since map[netip.Addr]time.Time) {
	if a.r == nil {
		return
	}
	ch, err := a.r.Set(ips)
	if err != nil {
		a.e.Log.Warn("ARP/NDP responder refused part of its IPs", "interface", a.link.Name, "err", err)
	}
	a.l2Started(ch.Added, since)
	for _, ip := range ch.Added {
		a.e.Log.Info("answering ARP/NDP", "ip", ip, "interface", a.link.Name)
		a.traceOwner(ip, true, traces[ip])
	}
	for _, ip := range ch.Removed {
		a.e.Log.Info("no longer answering ARP/NDP", "ip", ip, "interface", a.link.Name)
		a.traceOwner(ip, false, traces[ip])
	}
}

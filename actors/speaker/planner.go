package speaker

import (
	"maps"
	"net/netip"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/heraldlb/herald/alloc"
	"github.com/heraldlb/herald/announce"
	"github.com/heraldlb/herald/config"
	"github.com/heraldlb/herald/informers"
)

// plannerActor owns this node's announce.Planner. It feeds it every change
// the informers report, at once (no debounce: one Service's change reaches
// the wire in the same pass), and hands what changed to the actors that
// carry it out: sessions and routes to the peers actor.
//
// Until the first valid configuration arrives the planner has none and
// plans nothing; an invalid configuration later never reaches it (the
// config actor keeps the last valid one), so a broken edit withdraws
// nothing.
type plannerActor struct {
	e *env
	p *announce.Planner
	// ready: a configuration has been set.
	ready bool
	// ann follows which peers each Service is announced to, for its
	// ServiceBGPStatus and Events.
	ann *announcements
	// nodes are the Nodes known; ifaces this node's usable interfaces.
	nodes  map[string]bool
	ifaces []string
	// owned are the IPs this node answers ARP/NDP for, with the
	// interfaces allowed (nil: any).
	owned map[netip.Addr][]string
}

func newPlannerActor(e *env) actor.Actor { return &plannerActor{e: e} }

func (a *plannerActor) Receive(c actor.Context) {
	switch m := c.Message().(type) {
	case *actor.Started:
		// Also after a restart: the planner is rebuilt from the caches,
		// and the config actor re-sends the configuration.
		a.p = announce.New(a.e.node)
		a.ann = newAnnouncements()
		a.nodes, a.owned = map[string]bool{}, map[netip.Addr][]string{}
		a.ready = false
		if a.e.begun.Load() {
			c.Send(a.e.config, resendConfig{to: c.Self()})
		}
	case configUpdated:
		a.apply(c, a.p.SetConfig(m.cfg))
		if !a.ready {
			a.ready = true
			a.loadAll(c)
		}
	case replan:
		// The peers actor restarted: every session and route again.
		for _, name := range a.p.Sessions(a.e.node) {
			c.Send(a.e.peers, sessionChange{peer: name, open: true})
			c.Send(a.e.peers, routeChanges{peer: name, changes: announce.RouteChanges{
				Node: a.e.node, Peer: name, Added: a.p.Routes(a.e.node, name)}})
		}
	case localInterfaces:
		a.ifaces = m.names
		if a.ready {
			a.speakers(c)
		}
	case informers.Key:
		if !a.ready {
			return // loadAll reads everything once the configuration is in
		}
		switch m.Kind {
		case informers.KindService, informers.KindEndpoints:
			a.service(c, alloc.ServiceKey{Namespace: m.Namespace, Name: m.Name})
		case informers.KindNode:
			a.node(c, m.Name)
		}
	}
}

// loadAll gives the planner every Node and Service the caches hold.
func (a *plannerActor) loadAll(c actor.Context) {
	for _, n := range a.e.inf.Nodes() {
		a.nodes[n.Name] = true
		a.apply(c, a.p.SetNode(plannedNode(&n)))
	}
	a.speakers(c)
	for _, s := range a.e.inf.Services() {
		a.service(c, s.Key)
	}
	c.Send(a.e.bgpStatus, planned{})
}

func (a *plannerActor) node(c actor.Context, name string) {
	n, ok := a.e.inf.Node(name)
	if !ok {
		delete(a.nodes, name)
		a.apply(c, a.p.DeleteNode(name))
		a.speakers(c)
		return
	}
	known := a.nodes[name]
	a.nodes[name] = true
	a.apply(c, a.p.SetNode(plannedNode(n)))
	if !known {
		a.speakers(c)
	}
}

// speakers gives the planner the live speakers and their interfaces.
// Until the liveness mesh reports them, every Node counts as running a
// live speaker, with this node's usable interfaces for its own and, for
// the others, the same names (nodes of a cluster usually share their
// interface names).
func (a *plannerActor) speakers(c actor.Context) {
	var out []announce.Speaker
	for name := range a.nodes {
		out = append(out, announce.Speaker{Node: name, Interfaces: a.ifaces})
	}
	a.apply(c, a.p.SetSpeakers(out))
}

// service plans one Service: a LoadBalancer of the served class with IPs in
// its status, or nothing.
func (a *plannerActor) service(c actor.Context, k alloc.ServiceKey) {
	key := announce.ServiceKey{Namespace: k.Namespace, Name: k.Name}
	s, ok := a.e.inf.Service(k)
	if !ok || !s.Ours(a.e.class) || len(s.StatusIPs) == 0 {
		a.apply(c, a.p.DeleteService(key), a.ann.setService(key, nil)...)
		return
	}
	a.apply(c, a.p.SetService(plannedService(s, a.e.inf.EndpointSlices(k))), a.ann.setService(key, s.StatusIPs)...)
}

// apply hands a step's changes on; touched are Services whose IPs changed
// in the step.
func (a *plannerActor) apply(c actor.Context, ch announce.Changes, touched ...announce.ServiceKey) {
	for _, s := range ch.Sessions {
		if s.Node != a.e.node {
			continue
		}
		c.Send(a.e.peers, sessionChange{peer: s.Peer, open: s.Open})
	}
	for _, r := range ch.Routes {
		if r.Node != a.e.node {
			continue
		}
		c.Send(a.e.peers, routeChanges{peer: r.Peer, changes: r})
		touched = append(touched, a.ann.routes(r)...)
	}
	for k, peers := range a.ann.changed(touched) {
		c.Send(a.e.bgpStatus, serviceAnnounced{key: k, peers: peers})
	}
	if len(ch.L2) > 0 {
		changed := false
		for _, l := range ch.L2 {
			switch {
			case l.New.Node == a.e.node:
				a.owned[l.IP] = l.New.Interfaces
				changed = true
			case l.Old.Node == a.e.node:
				delete(a.owned, l.IP)
				changed = true
			}
		}
		if changed {
			c.Send(a.e.ifaces, l2Owned{ips: maps.Clone(a.owned)})
		}
	}
	for _, cf := range ch.Conflicts {
		if cf.Node == a.e.node {
			a.e.Log.Warn("BGPAdvertisements disagree on a prefix's localPref", "conflict", cf.String())
		}
	}
}

// replan asks the planner for every session and route of this node again.
type replan struct{}

// configUpdated carries a newly compiled valid configuration.
type configUpdated struct{ cfg *config.Config }

// resendConfig asks the config actor to send its configuration to to
// again (a restarted planner or peers actor lost it).
type resendConfig struct{ to *actor.PID }

// sessionChange: this node now opens (or no longer opens) a session to the
// BGPPeer named peer.
type sessionChange struct {
	peer string
	open bool
}

// serviceAnnounced: this node now announces the Service to peers (none:
// no longer).
type serviceAnnounced struct {
	key   announce.ServiceKey
	peers []string
}

// routeChanges: the difference of one session's routes.
type routeChanges struct {
	peer    string
	changes announce.RouteChanges
}

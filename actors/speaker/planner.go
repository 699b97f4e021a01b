package speaker

import (
	"maps"
	"net/netip"
	"slices"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"go.opentelemetry.io/otel/trace"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/heraldlb/herald/alloc"
	"github.com/heraldlb/herald/announce"
	"github.com/heraldlb/herald/config"
	"github.com/heraldlb/herald/informers"
	"github.com/heraldlb/herald/tracing"
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
	term
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
	// interfaces allowed (nil: any); l2Shown what each Service's
	// ServiceL2Status was last told.
	owned   map[netip.Addr][]string
	l2Shown map[announce.ServiceKey][]string
	// mesh is the liveness mesh's last word (nil: not heard yet, or the
	// mesh is off).
	mesh *speakersAlive
	// cfg is the configuration in force; ifacesKnown says the interfaces
	// actor has listed this node's interfaces; ifCheck says when an
	// L2Advertisement's interfaces are missing here.
	cfg         *config.Config
	ifacesKnown bool
	ifCheck     *interfaceCheck
	// resyncDue: this term follows a failed one and has not loaded yet.
	// The actors it feeds still hold the previous term's sessions,
	// routes, L2 IPs and status wishes, some of which may be stale now;
	// the first loadAll replaces them whole (resync) rather than adding
	// to them.
	resyncDue bool
	// ifacesNever: the interfaces actor will never list this node's
	// interfaces (L2 off, or it cannot); a restarted term stops waiting.
	ifacesNever bool
	// carried says when a planned route cannot go out on its session.
	carried *carriedCheck
	// plan is the speaker.plan span of the step being applied (invalid
	// when nothing is traced) and since when the Service or EndpointSlice
	// event it serves was received (zero: no such event): the messages
	// apply sends carry both.
	plan  trace.SpanContext
	since time.Time
}

func newPlannerActor(e *env) actor.Actor { return &plannerActor{e: e} }

func (a *plannerActor) Receive(c actor.Context) {
	switch m := c.Message().(type) {
	case *actor.Started:
		// Also after a restart: the planner is rebuilt from the caches,
		// and the config actor re-sends the configuration.
		a.p = announce.New(a.e.node)
		a.ann = newAnnouncements(a.p)
		a.nodes, a.owned, a.l2Shown = map[string]bool{}, map[netip.Addr][]string{}, map[announce.ServiceKey][]string{}
		a.ready = false
		a.ifCheck = newInterfaceCheck()
		a.carried = newCarriedCheck()
		if a.restarted {
			// Restarted: the configuration, this node's interfaces and
			// the mesh's alive set are lost with the previous term, and
			// their owners send them only when they change; ask for them.
			a.resyncDue = true
			c.Send(a.e.config, resendConfig{to: c.Self()})
			if a.e.ifaces != nil {
				c.Send(a.e.ifaces, resendLocalInterfaces{})
			}
			if a.e.mesh != nil {
				c.Send(a.e.mesh, resendAlive{})
			}
		}
	case configUpdated:
		a.cfg = m.cfg
		a.apply(c, a.p.SetConfig(m.cfg))
		a.loadWhenReady(c)
		a.checkInterfaces()
	case replan:
		// The peers actor restarted: every session and route again.
		for _, name := range a.p.Sessions(a.e.node) {
			c.Send(a.e.peers, sessionChange{peer: name, open: true})
			c.Send(a.e.peers, routeChanges{peer: name, changes: announce.RouteChanges{
				Node: a.e.node, Peer: name, Added: a.p.Routes(a.e.node, name)}})
		}
		if a.ready { // else loadAll says it
			c.Send(a.e.peers, routesPlanned{})
		}
	case speakersAlive:
		a.mesh = &m
		if a.ready {
			a.speakers(c)
		}
		a.loadWhenReady(c)
	case resendAnnounced:
		a.resendAnnounced(c, m.l2)
	case sessionCarries:
		a.sessionCarried(m)
	case noInterfaces:
		a.ifacesNever = true
		a.loadWhenReady(c)
	case resendOwned:
		c.Send(a.e.ifaces, l2Owned{ips: maps.Clone(a.owned)})
	case resendInterfaces:
		if a.ifaces != nil {
			c.Send(a.e.mesh, localInterfaces{names: a.ifaces})
		}
	case localInterfaces:
		a.ifaces, a.ifacesKnown = m.names, true
		if !a.ready {
			if a.e.mesh != nil {
				c.Send(a.e.mesh, m)
			}
			a.loadWhenReady(c)
			a.checkInterfaces()
			return
		}
		if a.e.mesh != nil {
			c.Send(a.e.mesh, m)
		}
		if a.ready {
			a.speakers(c)
			a.l2Statuses(c, slices.Collect(maps.Keys(a.l2Shown)))
		}
		a.checkInterfaces()
	case serviceEvent:
		if a.ready {
			a.since = m.at
			a.service(c, alloc.ServiceKey{Namespace: m.key.Namespace, Name: m.key.Name})
			a.since = time.Time{}
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
			if m.Name == a.e.node {
				a.checkInterfaces() // its labels feed node selectors
			}
		}
	}
}

// resendAnnounced answers a restarted status actor: what it was last told
// of each Service announced now, then planned. Before the first
// configuration nothing is planned yet, and loadAll sends both then.
func (a *plannerActor) resendAnnounced(c actor.Context, l2 bool) {
	if !a.ready {
		return
	}
	to := a.e.bgpStatus
	if l2 {
		to = a.e.l2Status
	}
	for _, msg := range a.announcedNow(l2) {
		c.Send(to, msg)
	}
	c.Send(to, planned{})
}

// announcedNow is what the status actor of one kind was last told of each
// Service announced now, sorted by Service.
func (a *plannerActor) announcedNow(l2 bool) []serviceAnnounced {
	last := a.ann.last
	if l2 {
		last = a.l2Shown
	}
	out := make([]serviceAnnounced, 0, len(last))
	for k, names := range last {
		out = append(out, serviceAnnounced{key: k, names: names})
	}
	slices.SortFunc(out, func(x, y serviceAnnounced) int { return x.key.Compare(y.key) })
	return out
}

// loadWhenReady runs loadAll once the configuration is in; a restarted
// term also waits for this node's interfaces and the mesh's alive set, so
// that its whole-state resync does not withdraw every L2 IP (and delete
// every ServiceL2Status) for the moment they are missing.
func (a *plannerActor) loadWhenReady(c actor.Context) {
	if a.ready || a.cfg == nil {
		return
	}
	if a.resyncDue && ((a.e.ifaces != nil && !a.ifacesKnown && !a.ifacesNever) || (a.e.mesh != nil && a.mesh == nil)) {
		return
	}
	a.ready = true
	a.loadAll(c)
}

// loadAll gives the planner every Node and Service the caches hold. In a
// restarted term it then replaces what the previous term left with the
// actors it feeds (resync).
func (a *plannerActor) loadAll(c actor.Context) {
	if a.resyncDue {
		// Before any wish of this term: the status actors drop the
		// previous term's, and what this term does not say again is
		// stale once planned comes.
		c.Send(a.e.bgpStatus, forgetWishes{})
		c.Send(a.e.l2Status, forgetWishes{})
	}
	for _, n := range a.e.inf.Nodes() {
		a.nodes[n.Name] = true
		a.apply(c, a.p.SetNode(plannedNode(&n)))
	}
	a.speakers(c)
	for _, s := range a.e.inf.Services() {
		a.service(c, s.Key)
	}
	if a.resyncDue {
		a.resync(c)
	}
	c.Send(a.e.peers, routesPlanned{})
	c.Send(a.e.bgpStatus, planned{})
	c.Send(a.e.l2Status, planned{})
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

// l2Statuses tells the l2Status actor, for each of keys whose answer
// changed, the interfaces this node answers its IPs on.
func (a *plannerActor) l2Statuses(c actor.Context, keys []announce.ServiceKey) {
	for _, k := range keys {
		set := map[string]bool{}
		for _, ip := range a.p.ServiceIPs(k) {
			allowed, ok := a.owned[ip]
			if !ok {
				continue
			}
			for _, name := range a.ifaces {
				if allowed == nil || slices.Contains(allowed, name) {
					set[name] = true
				}
			}
		}
		now := slices.Sorted(maps.Keys(set))
		if slices.Equal(now, a.l2Shown[k]) {
			continue
		}
		if len(now) == 0 {
			delete(a.l2Shown, k)
		} else {
			a.l2Shown[k] = now
		}
		c.Send(a.e.l2Status, serviceAnnounced{key: k, names: now})
	}
}

// speakers gives the planner the live speakers and their interfaces: the
// liveness mesh's alive set (Nodes that exist only), with the interfaces
// each speaker reported, this node's own for itself. A speaker not heard
// from yet is taken to have this node's interface names (nodes of a
// cluster usually share them) until it is. With the mesh off, every Node
// counts as running a live speaker.
func (a *plannerActor) speakers(c actor.Context) {
	var out []announce.Speaker
	switch {
	case a.e.mesh == nil:
		for name := range a.nodes {
			out = append(out, announce.Speaker{Node: name, Interfaces: a.ifaces})
		}
	case a.mesh != nil:
		for _, name := range a.mesh.nodes {
			if !a.nodes[name] {
				continue
			}
			ifs, ok := a.mesh.ifaces[name]
			if name == a.e.node || !ok {
				ifs = a.ifaces
			}
			out = append(out, announce.Speaker{Node: name, Interfaces: ifs})
		}
	}
	a.apply(c, a.p.SetSpeakers(out))
}

// service plans one Service: a LoadBalancer of the served class with IPs in
// its status, or nothing.
func (a *plannerActor) service(c actor.Context, k alloc.ServiceKey) {
	key := announce.ServiceKey{Namespace: k.Namespace, Name: k.Name}
	s, ok := a.e.inf.Service(k)
	if !ok || !s.Ours(a.e.class) || len(s.StatusIPs) == 0 {
		a.apply(c, a.p.DeleteService(key), key)
		return
	}
	var began time.Time
	if a.e.tracer.Enabled() {
		began = a.e.Clock.Now()
	}
	ch := a.p.SetService(plannedService(s, a.e.inf.EndpointSlices(k)))
	span := a.planSpan(ch, s, began)
	a.plan = span.SpanContext()
	a.apply(c, ch, key)
	a.plan = trace.SpanContext{}
	span.End()
}

// planSpan starts the speaker.plan span of a Service's step when the step
// changes what this node announces: a child of the traceparent the
// controller wrote with the status, so the journey goes on in this
// process. A step that changes nothing here (another node's business, an
// echo) traces nothing.
func (a *plannerActor) planSpan(ch announce.Changes, s informers.Service, began time.Time) trace.Span {
	if !a.e.tracer.Enabled() || !changesNode(ch, a.e.node) {
		return noSpan
	}
	parent, _ := tracing.ParseTraceparent(s.Traceparent) // invalid: a new trace
	span := a.e.tracer.StartWith(tracing.SpanPlan, parent, tracing.SpanOptions{Time: began})
	span.SetAttributes(tracing.ServiceAttrs(s.Key.Namespace, s.Key.Name)...)
	span.SetAttributes(tracing.AttrIPs.StringSlice(addrStrings(s.StatusIPs)))
	return span
}

// changesNode says whether a planner step changes routes or L2 ownership on
// node.
func changesNode(ch announce.Changes, node string) bool {
	for _, r := range ch.Routes {
		if r.Node == node {
			return true
		}
	}
	for _, l := range ch.L2 {
		if l.New.Node == node || l.Old.Node == node {
			return true
		}
	}
	return false
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
		c.Send(a.e.peers, routeChanges{trace: a.plan, at: a.since, peer: r.Peer, changes: r})
		touched = append(touched, a.ann.routes(r)...)
	}
	changed := a.ann.changed(touched)
	for k, peers := range changed {
		c.Send(a.e.bgpStatus, serviceAnnounced{key: k, names: peers})
		a.checkCarried(k, peers)
	}
	for _, k := range touched {
		// Announced to the same peers, with other routes: an IP added
		// may be of a family a session cannot carry.
		if _, ok := changed[k]; !ok && len(a.ann.last[k]) > 0 {
			a.checkCarried(k, a.ann.last[k])
		}
	}
	if len(ch.L2) > 0 {
		a.e.metrics.observeL2(ch.L2, a.e.node)
		var l2Touched []announce.ServiceKey
		ownedChanged := false
		var traces map[netip.Addr]trace.SpanContext
		var since map[netip.Addr]time.Time
		for _, l := range ch.L2 {
			switch {
			case l.New.Node == a.e.node:
				a.owned[l.IP] = l.New.Interfaces
			case l.Old.Node == a.e.node:
				delete(a.owned, l.IP)
			default:
				continue
			}
			ownedChanged = true
			l2Touched = a.p.ServicesIn(l2Touched, netip.PrefixFrom(l.IP, l.IP.BitLen()))
			if a.plan.IsValid() {
				if traces == nil {
					traces = map[netip.Addr]trace.SpanContext{}
				}
				traces[l.IP] = a.plan
			}
			if !a.since.IsZero() && l.New.Node == a.e.node {
				if since == nil {
					since = map[netip.Addr]time.Time{}
				}
				since[l.IP] = a.since
			}
		}
		// Whether or not a Service still holds the IP: when its last
		// Service went, the interfaces actor must stop answering for it.
		if ownedChanged {
			c.Send(a.e.ifaces, l2Owned{ips: maps.Clone(a.owned), traces: traces, since: since})
		}
		touched = append(touched, l2Touched...)
	}
	a.l2Statuses(c, touched)
	for _, cf := range ch.Conflicts {
		if cf.Node == a.e.node {
			a.e.Log.Warn("BGPAdvertisements disagree on a prefix's localPref", "conflict", cf.String())
		}
	}
}

// replan asks the planner for every session and route of this node again.
type replan struct{}

// routesResync, from a restarted planner to the peers actor: every session
// this node opens and all of its routes. Sessions and routes the peers
// actor has beyond these are the previous term's and go.
type routesResync struct {
	sessions map[string][]announce.Route
}

// resync replaces, after a restarted term's loadAll, what the actors fed by
// the planner still hold of the previous term: loadAll's changes only add
// to it, so a Service deleted or moved while the planner was down would
// stay announced (its route at the router, its IP answered on the link).
func (a *plannerActor) resync(c actor.Context) {
	a.resyncDue = false
	sessions := map[string][]announce.Route{}
	for _, name := range a.p.Sessions(a.e.node) {
		sessions[name] = a.p.Routes(a.e.node, name)
	}
	c.Send(a.e.peers, routesResync{sessions: sessions})
	if a.e.ifaces != nil {
		c.Send(a.e.ifaces, l2Owned{ips: maps.Clone(a.owned)})
	}
}

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

// routeChanges: the difference of one session's routes.
type routeChanges struct {
	trace trace.SpanContext // the speaker.plan span that made them
	// at is when the informer event that caused them was received (zero:
	// none did).
	at      time.Time
	peer    string
	changes announce.RouteChanges
}

// checkInterfaces puts a Warning Event on each L2Advertisement that
// selects this node but names none of its usable interfaces (see
// interfaceCheck), once the configuration and the interfaces are known.
func (a *plannerActor) checkInterfaces() {
	if a.cfg == nil || !a.ifacesKnown {
		return
	}
	n, ok := a.e.inf.Node(a.e.node)
	if !ok {
		return
	}
	warnings := a.ifCheck.check(a.cfg, a.e.node, n.Labels, a.ifaces)
	if len(warnings) == 0 {
		return
	}
	uids := map[string]types.UID{}
	if in, err := a.e.inf.ConfigInput(); err == nil {
		for _, adv := range in.L2Advertisements {
			uids[adv.Namespace+"/"+adv.Name] = adv.UID
		}
	}
	for _, w := range warnings {
		a.e.Log.Warn("an L2Advertisement names no interface of this node", "l2advertisement", w.name, "detail", w.message)
		if a.e.recorder != nil {
			a.e.recorder.Event(l2AdvertisementRef(w.namespace, w.name, uids[w.namespace+"/"+w.name]),
				corev1.EventTypeWarning, ReasonInterfaceNotFound, w.message)
		}
	}
}

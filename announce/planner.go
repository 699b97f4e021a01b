package announce

import (
	"cmp"
	"maps"
	"net/netip"
	"slices"

	"github.com/heraldlb/herald/config"
)

// Planner keeps the inputs and the decisions derived from them, and returns
// what each change of an input changed. It is not safe for concurrent use.
type Planner struct {
	// self is the node whose BGP routes are planned; all plans every node.
	self string
	all  bool

	w     *world
	nodes map[string]*nodeInfo
	// alive is the alive set, by node name.
	alive  []Speaker
	svcs   map[ServiceKey]*svcInfo
	ipSvcs map[netip.Addr][]*svcInfo // the Services holding each IP, by key

	ribs  map[string]*rib // planned nodes that are known
	l2    map[netip.Addr]*l2Entry
	owned map[string]map[netip.Addr]struct{} // owner -> its IPs

	// touched and pairs are scratch space of serviceBGP and ballotFor,
	// kept to spare allocations.
	touched map[touchKey]routeBefore
	pairs   []svcAd
}

// New returns a planner for one node: the BGP sessions and routes of node,
// and the L2 owner of every IP. This is the speaker's view.
func New(node string) *Planner { return newPlanner(node, false) }

// NewAll returns a planner for every node's BGP sessions and routes, and
// the L2 owner of every IP: the view of `kubectl herald` and of tests.
func NewAll() *Planner { return newPlanner("", true) }

func newPlanner(self string, all bool) *Planner {
	return &Planner{self: self, all: all, w: newWorld(nil),
		nodes: map[string]*nodeInfo{}, svcs: map[ServiceKey]*svcInfo{},
		ipSvcs: map[netip.Addr][]*svcInfo{}, ribs: map[string]*rib{}, l2: map[netip.Addr]*l2Entry{},
		owned: map[string]map[netip.Addr]struct{}{}}
}

func (p *Planner) planned(node string) bool { return p.all || node == p.self }

// SetConfig replaces the configuration; nil withdraws everything. It
// recomputes every decision.
func (p *Planner) SetConfig(cfg *config.Config) Changes {
	st := &step{}
	p.w = newWorld(cfg)
	for name, ni := range p.nodes {
		p.nodes[name] = newNodeInfo(ni.Node, p.w)
	}
	for name := range p.nodes {
		if p.planned(name) {
			p.rebuildRIB(name, st)
		}
	}
	p.rebuildL2(st)
	return st.changes()
}

// SetNode adds or replaces a Node. It recomputes that node's routes (when
// planned) and its standing in every L2 election.
func (p *Planner) SetNode(n Node) Changes {
	st := &step{}
	if old := p.nodes[n.Name]; old != nil && sameNode(old.Node, n) {
		return Changes{}
	}
	p.nodes[n.Name] = newNodeInfo(n, p.w)
	p.nodeChanged(n.Name, st)
	return st.changes()
}

// DeleteNode removes a Node: it announces nothing any more.
func (p *Planner) DeleteNode(name string) Changes {
	st := &step{}
	if _, ok := p.nodes[name]; !ok {
		return Changes{}
	}
	delete(p.nodes, name)
	p.nodeChanged(name, st)
	return st.changes()
}

func sameNode(a, b Node) bool {
	return a.Unschedulable == b.Unschedulable && a.NetworkUnavailable == b.NetworkUnavailable && maps.Equal(a.Labels, b.Labels)
}

func (p *Planner) nodeChanged(name string, st *step) {
	if p.planned(name) {
		p.rebuildRIB(name, st)
	}
	p.nodeL2(name, st)
}

// SetSpeakers replaces the alive set. Only L2 decisions depend on it: a
// node's BGP routes are what it sends while its sessions are up, and a dead
// speaker's sessions are down. The cost is in proportion to the IPs the
// changed speakers own, plus one evaluation of each changed speaker per L2
// IP.
func (p *Planner) SetSpeakers(speakers []Speaker) Changes {
	st := &step{}
	next := make([]Speaker, 0, len(speakers))
	for _, s := range speakers {
		s.Interfaces = slices.Compact(slices.Sorted(slices.Values(s.Interfaces)))
		next = append(next, s)
	}
	// A name listed twice counts once, the last time.
	slices.SortStableFunc(next, func(a, b Speaker) int { return cmp.Compare(a.Node, b.Node) })
	kept := next[:0]
	for k, s := range next {
		if k+1 == len(next) || next[k+1].Node != s.Node {
			kept = append(kept, s)
		}
	}
	next = kept
	var changed []string
	old := p.alive
	i, j := 0, 0
	for i < len(old) || j < len(next) {
		switch {
		case j == len(next) || (i < len(old) && old[i].Node < next[j].Node):
			changed = append(changed, old[i].Node)
			i++
		case i == len(old) || next[j].Node < old[i].Node:
			changed = append(changed, next[j].Node)
			j++
		default:
			if !slices.Equal(old[i].Interfaces, next[j].Interfaces) {
				changed = append(changed, old[i].Node)
			}
			i++
			j++
		}
	}
	p.alive = next
	for _, name := range changed {
		p.nodeL2(name, st)
	}
	return st.changes()
}

// SetService adds or replaces a Service (its IPs, labels, traffic policy
// and endpoints). The cost is in proportion to that Service: its routes on
// each planned node, and the elections of its IPs.
func (p *Planner) SetService(s Service) Changes {
	return p.serviceChanged(s.Key, newSvcInfo(s))
}

// DeleteService removes a Service.
func (p *Planner) DeleteService(key ServiceKey) Changes {
	if _, ok := p.svcs[key]; !ok {
		return Changes{}
	}
	return p.serviceChanged(key, nil)
}

func (p *Planner) serviceChanged(key ServiceKey, nw *svcInfo) Changes {
	st := &step{}
	old := p.svcs[key]
	p.serviceBGP(old, nw, st)
	var ips []netip.Addr
	if old != nil {
		ips = append(ips, old.ips...)
		for _, ip := range old.ips {
			p.ipSvcs[ip] = slices.DeleteFunc(p.ipSvcs[ip], func(s *svcInfo) bool { return s == old })
			if len(p.ipSvcs[ip]) == 0 {
				delete(p.ipSvcs, ip)
			}
		}
		delete(p.svcs, key)
	}
	if nw != nil {
		ips = append(ips, nw.ips...)
		for _, ip := range nw.ips {
			list := p.ipSvcs[ip]
			i, _ := slices.BinarySearchFunc(list, key, func(s *svcInfo, k ServiceKey) int { return s.key.Compare(k) })
			p.ipSvcs[ip] = slices.Insert(list, i, nw)
		}
		p.svcs[key] = nw
	}
	slices.SortFunc(ips, netip.Addr.Compare)
	for _, ip := range slices.Compact(ips) {
		p.reelect(ip, st)
	}
	return st.changes()
}

// ServiceIPs returns the valid IPs of a Service as last set, sorted,
// without repeats (nil: unknown). The slice is the planner's: read it,
// do not change or keep it.
func (p *Planner) ServiceIPs(key ServiceKey) []netip.Addr {
	if s := p.svcs[key]; s != nil {
		return s.ips
	}
	return nil
}

// ServicesIn appends to dst the Services holding an IP within prefix
// (a host prefix: that IP), and returns it. It costs the smaller of the
// prefix's size and the number of IPs the planner knows: an aggregate's
// addresses are looked up one by one when there are fewer of them, so a
// Service that adds or removes a /30 or /124 aggregate costs in proportion
// to it, not to every IP.
func (p *Planner) ServicesIn(dst []ServiceKey, prefix netip.Prefix) []ServiceKey {
	add := func(svcs []*svcInfo) {
		for _, s := range svcs {
			dst = append(dst, s.key)
		}
	}
	if prefix.IsSingleIP() {
		add(p.ipSvcs[prefix.Addr()])
		return dst
	}
	if hostBits := prefix.Addr().BitLen() - prefix.Bits(); hostBits < 31 && 1<<hostBits < len(p.ipSvcs) {
		prefix = prefix.Masked()
		for ip := prefix.Addr(); ip.IsValid() && prefix.Contains(ip); ip = ip.Next() {
			add(p.ipSvcs[ip])
		}
		return dst
	}
	for ip, svcs := range p.ipSvcs {
		if prefix.Contains(ip) {
			add(svcs)
		}
	}
	return dst
}

// Sessions returns the peers a planned node opens sessions to, by name.
func (p *Planner) Sessions(node string) []string {
	r := p.ribs[node]
	if r == nil {
		return nil
	}
	return slices.Sorted(maps.Keys(r.peers))
}

// Routes returns the routes a planned node sends to a peer, by prefix.
func (p *Planner) Routes(node, peer string) []Route {
	r := p.ribs[node]
	if r == nil || r.peers[peer] == nil {
		return nil
	}
	return sortedRoutes(r.peers[peer])
}

func sortedRoutes(pr *peerRIB) []Route {
	out := make([]Route, 0, len(pr.routes))
	for prefix, rt := range pr.routes {
		out = append(out, Route{prefix, rt.attrs})
	}
	slices.SortFunc(out, func(a, b Route) int { return comparePrefix(a.Prefix, b.Prefix) })
	return out
}

// Conflicts returns every current local preference conflict.
func (p *Planner) Conflicts() []LocalPrefConflict {
	var out []LocalPrefConflict
	for _, r := range p.ribs {
		for _, pr := range r.peers {
			for _, rt := range pr.routes {
				if rt.conflict != nil {
					out = append(out, *rt.conflict)
				}
			}
		}
	}
	sortConflicts(out)
	return out
}

// Owner returns the L2 owner of ip; its Node is empty when ip has none.
func (p *Planner) Owner(ip netip.Addr) L2Owner {
	if e := p.l2[ip.Unmap()]; e != nil {
		return e.owner
	}
	return L2Owner{}
}

// L2 returns the election of ip with its ranked candidates; ok is false
// when no L2Advertisement covers any of its Services.
func (p *Planner) L2(ip netip.Addr) (a L2Assignment, ok bool) {
	ip = ip.Unmap()
	e := p.l2[ip]
	if e == nil {
		return a, false
	}
	return L2Assignment{IP: ip, Owner: e.owner, Candidates: p.rank(ip)}, true
}

// Plan returns every decision as one value.
func (p *Planner) Plan() Plan {
	var pl Plan
	for _, node := range slices.Sorted(maps.Keys(p.ribs)) {
		r := p.ribs[node]
		for _, peer := range slices.Sorted(maps.Keys(r.peers)) {
			pl.BGP = append(pl.BGP, PeerPlan{Node: node, Peer: peer, Routes: sortedRoutes(r.peers[peer])})
		}
	}
	pl.Conflicts = p.Conflicts()
	for _, ip := range slices.SortedFunc(maps.Keys(p.l2), netip.Addr.Compare) {
		a, _ := p.L2(ip)
		pl.L2 = append(pl.L2, a)
	}
	return pl
}

// Input is every input of a plan at once, for Compute.
type Input struct {
	Config   *config.Config
	Nodes    []Node
	Speakers []Speaker
	Services []Service
}

// Compute plans every node from scratch: what NewAll fed with in would
// return from Plan.
func Compute(in Input) Plan {
	p := NewAll()
	p.SetConfig(in.Config)
	for _, n := range in.Nodes {
		p.SetNode(n)
	}
	p.SetSpeakers(in.Speakers)
	for _, s := range in.Services {
		p.SetService(s)
	}
	return p.Plan()
}

// step collects what one planner call changed.
type step struct {
	sessions  []SessionChange
	routes    map[[2]string]*RouteChanges
	conflicts []LocalPrefConflict
	// l2 keeps one change per IP: a step may move an IP more than once.
	l2 map[netip.Addr]*L2Change
}

func (st *step) ownerChanged(ip netip.Addr, old, nw L2Owner) {
	if st.l2 == nil {
		st.l2 = map[netip.Addr]*L2Change{}
	}
	if c := st.l2[ip]; c != nil {
		c.New = nw
		return
	}
	st.l2[ip] = &L2Change{IP: ip, Old: old, New: nw}
}

func (st *step) routeChanges(node, peer string) *RouteChanges {
	if st.routes == nil {
		st.routes = map[[2]string]*RouteChanges{}
	}
	k := [2]string{node, peer}
	rc := st.routes[k]
	if rc == nil {
		rc = &RouteChanges{Node: node, Peer: peer}
		st.routes[k] = rc
	}
	return rc
}

func (st *step) changes() Changes {
	c := Changes{Sessions: st.sessions, Conflicts: st.conflicts}
	for _, l2c := range st.l2 {
		if !l2c.Old.equal(l2c.New) {
			c.L2 = append(c.L2, *l2c)
		}
	}
	slices.SortFunc(c.Sessions, func(a, b SessionChange) int {
		return cmp.Or(cmp.Compare(a.Node, b.Node), cmp.Compare(a.Peer, b.Peer))
	})
	for _, rc := range st.routes {
		if len(rc.Added)+len(rc.Changed)+len(rc.Removed) == 0 {
			continue
		}
		byPrefix := func(a, b Route) int { return comparePrefix(a.Prefix, b.Prefix) }
		slices.SortFunc(rc.Added, byPrefix)
		slices.SortFunc(rc.Changed, byPrefix)
		slices.SortFunc(rc.Removed, comparePrefix)
		c.Routes = append(c.Routes, *rc)
	}
	slices.SortFunc(c.Routes, func(a, b RouteChanges) int {
		return cmp.Or(cmp.Compare(a.Node, b.Node), cmp.Compare(a.Peer, b.Peer))
	})
	sortConflicts(c.Conflicts)
	slices.SortFunc(c.L2, func(a, b L2Change) int { return a.IP.Compare(b.IP) })
	return c
}

func sortConflicts(cs []LocalPrefConflict) {
	slices.SortFunc(cs, func(a, b LocalPrefConflict) int {
		return cmp.Or(cmp.Compare(a.Node, b.Node), cmp.Compare(a.Peer, b.Peer), comparePrefix(a.Prefix, b.Prefix))
	})
}

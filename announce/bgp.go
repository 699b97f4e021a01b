package announce

import (
	"cmp"
	"net/netip"
	"slices"

	"github.com/heraldlb/herald/config"
)

// rib is one node's BGP sessions, by peer name, and their routes.
type rib struct {
	node  string
	peers map[string]*peerRIB
}

type peerRIB struct {
	peer   *config.Peer
	routes map[netip.Prefix]*route
}

// route is one prefix towards one peer. ads are the advertisements that
// contribute it, sorted by name, each with the number of (Service, IP) pairs
// it contributes through: the route lives while any count is above zero, so
// an aggregate is sent once and withdrawn with its last Service.
type route struct {
	ads      []adCount
	attrs    Attrs
	conflict *LocalPrefConflict
}

type adCount struct {
	ad *config.BGPAdvertisement
	n  int
}

func newRIB(ni *nodeInfo) *rib {
	r := &rib{node: ni.Name, peers: make(map[string]*peerRIB, len(ni.sessions))}
	for _, p := range ni.sessions {
		r.peers[p.Name] = &peerRIB{peer: p, routes: map[netip.Prefix]*route{}}
	}
	return r
}

// eachContribution calls fn for every (peer, prefix, advertisement) through
// which node ni announces Service s. A Service with two IPs in one aggregate
// contributes to it twice.
func (w *world) eachContribution(ni *nodeInfo, s *svcInfo, fn func(peer *config.Peer, prefix netip.Prefix, ad *config.BGPAdvertisement)) {
	if !ni.announces || len(ni.sessions) == 0 || !s.announcedOn(ni.Name) {
		return
	}
	for _, ip := range s.ips {
		pool := w.poolOf(ip)
		if pool == nil {
			continue
		}
		for _, ad := range pool.BGPAdvertisements {
			if !ni.bgpAds[ad] || !selectsService(ad.ServiceSelectors, s.labels) {
				continue
			}
			prefix := prefixFor(ip, ad)
			for _, peer := range ni.sessions {
				if hasPeer(ad, peer.Name) {
					fn(peer, prefix, ad)
				}
			}
		}
	}
}

// add counts one more contribution of ad to prefix towards peer, and
// returns the route.
func (pr *peerRIB) add(prefix netip.Prefix, ad *config.BGPAdvertisement) *route {
	rt := pr.routes[prefix]
	if rt == nil {
		rt = &route{}
		pr.routes[prefix] = rt
	}
	i, found := slices.BinarySearchFunc(rt.ads, ad.Name, func(c adCount, name string) int { return cmp.Compare(c.ad.Name, name) })
	if found {
		rt.ads[i].n++
	} else {
		rt.ads = slices.Insert(rt.ads, i, adCount{ad, 1})
	}
	return rt
}

// remove takes back one contribution. The route stays, possibly with no
// advertisement left, until settled.
func (pr *peerRIB) remove(prefix netip.Prefix, ad *config.BGPAdvertisement) {
	rt := pr.routes[prefix]
	i, found := -1, false
	if rt != nil {
		i, found = slices.BinarySearchFunc(rt.ads, ad.Name, func(c adCount, name string) int { return cmp.Compare(c.ad.Name, name) })
	}
	if !found {
		panic("announce: removing a contribution that was never added: " + pr.peer.Name + " " + prefix.String() + " " + ad.Name)
	}
	if rt.ads[i].n--; rt.ads[i].n == 0 {
		rt.ads = slices.Delete(rt.ads, i, i+1)
	}
}

// settle computes a route's attributes and conflict from its advertisements.
func (w *world) settle(node string, pr *peerRIB, prefix netip.Prefix, rt *route) {
	ibgp := pr.peer.IBGP()
	rt.conflict = nil
	if len(rt.ads) == 1 {
		rt.attrs = w.attrs([]*config.BGPAdvertisement{rt.ads[0].ad}, ibgp)
		return
	}
	ads := make([]*config.BGPAdvertisement, len(rt.ads))
	for i, c := range rt.ads {
		ads[i] = c.ad
	}
	rt.attrs = w.attrs(ads, ibgp)
	if !ibgp {
		return
	}
	if prefs := localPrefConflict(ads); prefs != nil {
		rt.conflict = &LocalPrefConflict{Node: node, Peer: pr.peer.Name, Prefix: prefix, Advertisements: prefs, Chosen: rt.attrs.LocalPref}
	}
}

// buildRIB computes a node's routes from every Service.
func (p *Planner) buildRIB(ni *nodeInfo) *rib {
	r := newRIB(ni)
	for _, s := range p.svcs {
		p.w.eachContribution(ni, s, func(peer *config.Peer, prefix netip.Prefix, ad *config.BGPAdvertisement) {
			r.peers[peer.Name].add(prefix, ad)
		})
	}
	for _, pr := range r.peers {
		for prefix, rt := range pr.routes {
			p.w.settle(ni.Name, pr, prefix, rt)
		}
	}
	return r
}

// rebuildRIB recomputes a planned node's RIB and records the difference.
func (p *Planner) rebuildRIB(name string, st *step) {
	old := p.ribs[name]
	var nw *rib
	if ni := p.nodes[name]; ni != nil {
		nw = p.buildRIB(ni)
		p.ribs[name] = nw
	} else {
		delete(p.ribs, name)
	}
	st.diffRIB(name, old, nw)
}

// routeBefore is a route as it was when a step first touched it.
type routeBefore struct {
	existed  bool
	attrs    Attrs
	conflict *LocalPrefConflict
}

type touchKey struct {
	node, peer string
	prefix     netip.Prefix
}

// serviceBGP moves a Service's contributions from old to nw (either may be
// nil) on every planned node, and records what changed.
func (p *Planner) serviceBGP(old, nw *svcInfo, st *step) {
	if p.touched == nil {
		p.touched = map[touchKey]routeBefore{}
	}
	touched := p.touched
	defer clear(touched)
	touch := func(node string, pr *peerRIB, prefix netip.Prefix) {
		k := touchKey{node, pr.peer.Name, prefix}
		if _, ok := touched[k]; ok {
			return
		}
		b := routeBefore{}
		if rt := pr.routes[prefix]; rt != nil {
			b = routeBefore{true, rt.attrs, rt.conflict}
		}
		touched[k] = b
	}
	for name, r := range p.ribs {
		ni := p.nodes[name]
		if old != nil {
			p.w.eachContribution(ni, old, func(peer *config.Peer, prefix netip.Prefix, ad *config.BGPAdvertisement) {
				pr := r.peers[peer.Name]
				touch(name, pr, prefix)
				pr.remove(prefix, ad)
			})
		}
		if nw != nil {
			p.w.eachContribution(ni, nw, func(peer *config.Peer, prefix netip.Prefix, ad *config.BGPAdvertisement) {
				pr := r.peers[peer.Name]
				touch(name, pr, prefix)
				pr.add(prefix, ad)
			})
		}
	}
	for k, b := range touched {
		pr := p.ribs[k.node].peers[k.peer]
		rt := pr.routes[k.prefix]
		rc := st.routeChanges(k.node, k.peer)
		if len(rt.ads) == 0 {
			delete(pr.routes, k.prefix)
			if b.existed {
				rc.Removed = append(rc.Removed, k.prefix)
			}
			continue
		}
		p.w.settle(k.node, pr, k.prefix, rt)
		switch {
		case !b.existed:
			rc.Added = append(rc.Added, Route{k.prefix, rt.attrs})
		case !rt.attrs.Equal(b.attrs):
			rc.Changed = append(rc.Changed, Route{k.prefix, rt.attrs})
		}
		if rt.conflict != nil && !rt.conflict.equal(b.conflict) {
			st.conflicts = append(st.conflicts, *rt.conflict)
		}
	}
}

// diffRIB records the difference between two RIBs of one node; either may
// be nil.
func (st *step) diffRIB(node string, old, nw *rib) {
	var oldPeers, newPeers map[string]*peerRIB
	if old != nil {
		oldPeers = old.peers
	}
	if nw != nil {
		newPeers = nw.peers
	}
	for name, op := range oldPeers {
		if _, ok := newPeers[name]; ok {
			continue
		}
		st.sessions = append(st.sessions, SessionChange{node, name, false})
		if len(op.routes) == 0 {
			continue
		}
		rc := st.routeChanges(node, name)
		for prefix := range op.routes {
			rc.Removed = append(rc.Removed, prefix)
		}
	}
	for name, np := range newPeers {
		op := oldPeers[name]
		if op == nil {
			st.sessions = append(st.sessions, SessionChange{node, name, true})
			op = &peerRIB{}
		}
		var rc *RouteChanges
		get := func() *RouteChanges {
			if rc == nil {
				rc = st.routeChanges(node, name)
			}
			return rc
		}
		for prefix := range op.routes {
			if _, ok := np.routes[prefix]; !ok {
				get().Removed = append(get().Removed, prefix)
			}
		}
		for prefix, nrt := range np.routes {
			ort := op.routes[prefix]
			switch {
			case ort == nil:
				get().Added = append(get().Added, Route{prefix, nrt.attrs})
			case !ort.attrs.Equal(nrt.attrs):
				get().Changed = append(get().Changed, Route{prefix, nrt.attrs})
			}
			var oc *LocalPrefConflict
			if ort != nil {
				oc = ort.conflict
			}
			if nrt.conflict != nil && !nrt.conflict.equal(oc) {
				st.conflicts = append(st.conflicts, *nrt.conflict)
			}
		}
	}
}

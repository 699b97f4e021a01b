package announce

import (
	"bytes"
	"crypto/sha256"
	"net/netip"
	"slices"

	"github.com/heraldlb/herald/config"
)

// l2Entry is the election state of one L2 IP.
type l2Entry struct {
	owner L2Owner
	// best is the owner's rank; meaningful when owner.Node is set.
	best candidate
}

// candidate is one node's standing for one IP.
type candidate struct {
	node string
	// coverage counts the IP's Services the node can announce.
	coverage int
	weight   int64
	hash     [sha256.Size]byte
	// anyIface is set when some advertisement of a covered Service lets
	// any interface answer; ifaces collects the listed ones otherwise.
	anyIface bool
	ifaces   []string
}

// beats reports whether c ranks before o: more Services covered, then more
// preferred weight, then the lower sha256(node + "#" + ip).
func (c *candidate) beats(o *candidate) bool {
	if c.coverage != o.coverage {
		return c.coverage > o.coverage
	}
	if c.weight != o.weight {
		return c.weight > o.weight
	}
	if d := bytes.Compare(c.hash[:], o.hash[:]); d != 0 {
		return d < 0
	}
	return c.node < o.node // equal hashes mean equal names; this keeps the order total regardless
}

func (c *candidate) owner() L2Owner {
	o := L2Owner{Node: c.node}
	if !c.anyIface {
		o.Interfaces = slices.Clone(c.ifaces)
		slices.Sort(o.Interfaces)
		o.Interfaces = slices.Compact(o.Interfaces)
	}
	return o
}

// wantsL2 reports whether an L2Advertisement covers one of the Services.
func wantsL2(pool *config.Pool, svcs []*svcInfo) bool {
	if pool == nil {
		return false
	}
	for _, s := range svcs {
		for _, ad := range pool.L2Advertisements {
			if selectsService(ad.ServiceSelectors, s.labels) {
				return true
			}
		}
	}
	return false
}

// candidateFor evaluates node name, whose speaker is sp, for ip, held by
// svcs from pool. ok is false when the node is not a candidate.
func (p *Planner) candidateFor(ip netip.Addr, pool *config.Pool, svcs []*svcInfo, name string, sp Speaker) (c candidate, ok bool) {
	ni := p.nodes[name]
	if ni == nil || !ni.announces || len(sp.Interfaces) == 0 {
		return c, false
	}
	c.node = name
	var weighed []*config.L2Advertisement
	for _, s := range svcs {
		selected, anyIface := false, false
		var ifaces []string
		for _, ad := range pool.L2Advertisements {
			if !selectsService(ad.ServiceSelectors, s.labels) {
				continue
			}
			w, selects := ni.l2Ads[ad]
			if !selects {
				continue
			}
			if !slices.Contains(weighed, ad) {
				weighed = append(weighed, ad)
				c.weight += w
			}
			selected = true
			if len(ad.Interfaces) == 0 {
				anyIface = true
			} else {
				ifaces = append(ifaces, ad.Interfaces...)
			}
		}
		if !selected || !s.announcedOn(name) {
			continue
		}
		if !anyIface && !slices.ContainsFunc(sp.Interfaces, func(i string) bool { return slices.Contains(ifaces, i) }) {
			continue
		}
		c.coverage++
		c.anyIface = c.anyIface || anyIface
		c.ifaces = append(c.ifaces, ifaces...)
	}
	if c.coverage == 0 {
		return c, false
	}
	c.hash = sha256.Sum256([]byte(name + "#" + ip.String()))
	return c, true
}

// elect returns the best candidate for ip, or ok false.
func (p *Planner) elect(ip netip.Addr, pool *config.Pool, svcs []*svcInfo) (best candidate, ok bool) {
	for name, sp := range p.alive {
		c, isCand := p.candidateFor(ip, pool, svcs, name, sp)
		if isCand && (!ok || c.beats(&best)) {
			best, ok = c, true
		}
	}
	return best, ok
}

// rank returns every candidate for ip, best first.
func (p *Planner) rank(ip netip.Addr) []string {
	pool, svcs := p.w.poolOf(ip), p.ipSvcs[ip]
	if pool == nil {
		return nil
	}
	var cands []candidate
	for name, sp := range p.alive {
		if c, ok := p.candidateFor(ip, pool, svcs, name, sp); ok {
			cands = append(cands, c)
		}
	}
	slices.SortFunc(cands, func(a, b candidate) int {
		switch {
		case a.beats(&b):
			return -1
		case b.beats(&a):
			return 1
		}
		return 0
	})
	out := make([]string, len(cands))
	for i, c := range cands {
		out[i] = c.node
	}
	return out
}

// reelect runs the election for ip from scratch and records a changed
// owner.
func (p *Planner) reelect(ip netip.Addr, st *step) {
	pool, svcs := p.w.poolOf(ip), p.ipSvcs[ip]
	e := p.l2[ip]
	if !wantsL2(pool, svcs) {
		if e != nil {
			p.setOwner(ip, e, nil, st)
			delete(p.l2, ip)
		}
		return
	}
	if e == nil {
		e = &l2Entry{}
		p.l2[ip] = e
	}
	if best, ok := p.elect(ip, pool, svcs); ok {
		p.setOwner(ip, e, &best, st)
	} else {
		p.setOwner(ip, e, nil, st)
	}
}

// setOwner makes c (nil for none) the owner of ip and records the change.
func (p *Planner) setOwner(ip netip.Addr, e *l2Entry, c *candidate, st *step) {
	old := e.owner
	var nw L2Owner
	if c != nil {
		nw = c.owner()
		e.best = *c
		e.best.ifaces = nil // owner() has copied what is needed
	}
	e.owner = nw
	if old.Node != nw.Node {
		if old.Node != "" {
			delete(p.owned[old.Node], ip)
			if len(p.owned[old.Node]) == 0 {
				delete(p.owned, old.Node)
			}
		}
		if nw.Node != "" {
			if p.owned[nw.Node] == nil {
				p.owned[nw.Node] = map[netip.Addr]struct{}{}
			}
			p.owned[nw.Node][ip] = struct{}{}
		}
	}
	if !old.equal(nw) {
		st.ownerChanged(ip, old, nw)
	}
}

// nodeL2 updates the election after something about one node changed (its
// Node, or its speaker). Only that node's standing changed: the IPs it owned
// are elected again, and every other IP only needs to know whether the node
// now beats its owner.
func (p *Planner) nodeL2(name string, st *step) {
	owned := make([]netip.Addr, 0, len(p.owned[name]))
	for ip := range p.owned[name] {
		owned = append(owned, ip)
	}
	for _, ip := range owned {
		p.reelect(ip, st)
	}
	sp, alive := p.alive[name]
	if !alive {
		return
	}
	for ip, e := range p.l2 {
		if e.owner.Node == name {
			continue // elected above
		}
		c, ok := p.candidateFor(ip, p.w.poolOf(ip), p.ipSvcs[ip], name, sp)
		if ok && (e.owner.Node == "" || c.beats(&e.best)) {
			p.setOwner(ip, e, &c, st)
		}
	}
}

// rebuildL2 elects every IP again. Every IP with an entry is held by a
// Service: reelect drops the entry of an IP whose last holder goes.
func (p *Planner) rebuildL2(st *step) {
	for ip := range p.ipSvcs {
		p.reelect(ip, st)
	}
}

package announce

import (
	"bytes"
	"cmp"
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
	ip   netip.Addr
	// coverage counts the IP's Services the node can announce.
	coverage int
	weight   int64
	// hash is sha256(node + "#" + ip), computed when a comparison needs it.
	hash   [sha256.Size]byte
	hashed bool
	// anyIface is set when some advertisement of a covered Service lets
	// any interface answer; ifaces collects the listed ones otherwise.
	anyIface bool
	ifaces   []string
}

func (c *candidate) sum() *[sha256.Size]byte {
	if !c.hashed {
		var buf [96]byte
		b := append(buf[:0], c.node...)
		b = append(b, '#')
		b = c.ip.AppendTo(b)
		c.hash, c.hashed = sha256.Sum256(b), true
	}
	return &c.hash
}

// beats reports whether c ranks before o, a candidate for the same IP: more
// Services covered, then more preferred weight, then the lower
// sha256(node + "#" + ip).
func (c *candidate) beats(o *candidate) bool {
	if c.coverage != o.coverage {
		return c.coverage > o.coverage
	}
	if c.weight != o.weight {
		return c.weight > o.weight
	}
	if d := bytes.Compare(c.sum()[:], o.sum()[:]); d != 0 {
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

// ballot is what every node is measured against for one IP: the Services
// holding it and the advertisements of the IP's pool that select each, as
// (Service index, advertisement) pairs in Service order.
type ballot struct {
	ip    netip.Addr
	svcs  []*svcInfo
	pairs []svcAd
}

type svcAd struct {
	svc int
	ad  *config.L2Advertisement
}

// ballotFor returns the ballot of ip; ok is false when no L2Advertisement
// covers any of the Services holding it, and then ip has no election. The
// ballot's pairs live in a buffer the next ballotFor reuses.
func (p *Planner) ballotFor(ip netip.Addr) (b ballot, ok bool) {
	pool := p.w.poolOf(ip)
	if pool == nil || len(pool.L2Advertisements) == 0 {
		return b, false
	}
	b = ballot{ip: ip, svcs: p.ipSvcs[ip], pairs: p.pairs[:0]}
	for i, s := range b.svcs {
		for _, ad := range pool.L2Advertisements {
			if selectsService(ad.ServiceSelectors, s.labels) {
				b.pairs = append(b.pairs, svcAd{i, ad})
			}
		}
	}
	p.pairs = b.pairs
	return b, len(b.pairs) > 0
}

// candidateFor evaluates the node of speaker sp on the ballot. ok is false
// when the node is not a candidate.
func (p *Planner) candidateFor(b *ballot, sp Speaker) (c candidate, ok bool) {
	ni := p.nodes[sp.Node]
	if ni == nil || !ni.announces || len(sp.Interfaces) == 0 {
		return c, false
	}
	c.node, c.ip = sp.Node, b.ip
	var wbuf [4]*config.L2Advertisement
	weighed := wbuf[:0]
	for start := 0; start < len(b.pairs); {
		i := b.pairs[start].svc
		end := start
		selected, anyIface := false, false
		var ifaces []string
		for ; end < len(b.pairs) && b.pairs[end].svc == i; end++ {
			ad := b.pairs[end].ad
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
		start = end
		if !selected || !b.svcs[i].announcedOn(sp.Node) {
			continue
		}
		if !anyIface && !slices.ContainsFunc(sp.Interfaces, func(i string) bool { return slices.Contains(ifaces, i) }) {
			continue
		}
		c.coverage++
		c.anyIface = c.anyIface || anyIface
		c.ifaces = append(c.ifaces, ifaces...)
	}
	return c, c.coverage > 0
}

// elect returns the best candidate on the ballot, or ok false.
func (p *Planner) elect(b *ballot) (best candidate, ok bool) {
	for _, sp := range p.alive {
		c, isCand := p.candidateFor(b, sp)
		if isCand && (!ok || c.beats(&best)) {
			best, ok = c, true
		}
	}
	return best, ok
}

// rank returns every candidate for ip, best first.
func (p *Planner) rank(ip netip.Addr) []string {
	b, ok := p.ballotFor(ip)
	if !ok {
		return nil
	}
	var cands []candidate
	for _, sp := range p.alive {
		if c, ok := p.candidateFor(&b, sp); ok {
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
	e := p.l2[ip]
	b, ok := p.ballotFor(ip)
	if !ok {
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
	if best, ok := p.elect(&b); ok {
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
	i, alive := slices.BinarySearchFunc(p.alive, name, func(s Speaker, n string) int { return cmp.Compare(s.Node, n) })
	if !alive {
		return
	}
	sp := p.alive[i]
	for ip, e := range p.l2 {
		if e.owner.Node == name {
			continue // elected above
		}
		b, _ := p.ballotFor(ip) // every IP with an entry has one
		c, ok := p.candidateFor(&b, sp)
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

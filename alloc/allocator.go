package alloc

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"
	"strings"
)

// Allocator holds the pools and every Service's assignment. It is not safe
// for concurrent use: its owner (one actor) serialises calls.
type Allocator struct {
	pools    map[string]*poolState
	byName   []*poolState // every pool, by name
	pinned   []*poolState // pools whose serviceAllocation pins, by (priority, name)
	owners   [2][]ownedSpan
	services map[ServiceKey]*held
	ips      map[netip.Addr]*ipUse
	// reserved lists, per Service, the IPs it has a ghost on (see
	// Reserve), sorted; dormant holds the ghosts on IPs no pool can give
	// (yet), so a range removed and added back is still protected.
	reserved map[ServiceKey][]Reservation
	dormant  map[netip.Addr][]*Service
}

type poolState struct {
	Pool
	space    [2]*addrSpace // nil when the pool has no usable address of the family
	services int
	// shared indexes, per family and sharing key, the ordinals of the IPs
	// that carry the key, so an allocation with a key finds the lowest IP
	// it may share without scanning the pool.
	shared [2]map[string]*intervalSet
}

// ownedSpan records which pool owns a run of raw addresses (before
// avoidBuggyIPs), so an IP maps to its pool by binary search.
type ownedSpan struct {
	span
	pool *poolState
}

// held is one Service's assignment. What release reads comes first and svc
// last, so a release at random touches few cache lines of it.
type held struct {
	pool *poolState
	ips  []netip.Addr // points into buf: one allocation per holding
	buf  [2]netip.Addr
	svc  Service
}

// ipUse is one IP in use and the Services on it. All of them carry the same
// sharing key and (under Local traffic) backend, so those live here once.
// The fields release reads (pool, users, first, ord) fill the first 56
// bytes: one cache line of the object, which is what a release at random
// pays for it.
type ipUse struct {
	pool  *poolState
	users []*held // sorted by Service key; starts in first
	first [1]*held
	ord   u128

	addr       netip.Addr
	sharingKey string
	local      bool
	backend    string

	// ghosts are the Services that no longer hold this IP but whose
	// status may still show it (see Reserve), sorted by key. An IP with
	// ghosts and no users stays in use.
	ghosts []*Service
}

// New returns an Allocator with no pools.
func New() *Allocator {
	return &Allocator{
		pools:    map[string]*poolState{},
		services: map[ServiceKey]*held{},
		ips:      map[netip.Addr]*ipUse{},
		reserved: map[ServiceKey][]Reservation{},
		dormant:  map[netip.Addr][]*Service{},
	}
}

// SetPools replaces the pools. Every existing assignment whose IPs still lie
// in one pool that admits the Service (and is the requested pool, if any) is
// kept, whatever the pool is now called; the others are released and
// returned, sorted by Service, each with the reason. Nothing else moves.
// Invalid or overlapping pools are refused and change nothing.
func (a *Allocator) SetPools(pools []Pool) ([]Rejected, error) {
	next := New()
	for _, p := range pools {
		if p.Name == "" {
			return nil, fmt.Errorf("%w: a pool has no name", ErrInvalidPool)
		}
		if _, dup := next.pools[p.Name]; dup {
			return nil, fmt.Errorf("%w: two pools are named %q", ErrInvalidPool, p.Name)
		}
		ps := &poolState{Pool: p}
		ps.Ranges = slices.Clone(p.Ranges)
		var byFam [2][]Range
		for _, r := range p.Ranges {
			if err := r.validate(); err != nil {
				return nil, fmt.Errorf("pool %q: %w", p.Name, err)
			}
			r = r.normal()
			byFam[r.family().index()] = append(byFam[r.family().index()], r)
		}
		for _, f := range []Family{IPv4, IPv6} {
			ps.space[f.index()] = newAddrSpace(f, p.AvoidBuggyIPs, byFam[f.index()])
			ps.shared[f.index()] = map[string]*intervalSet{}
			for _, sp := range mergeSpans(byFam[f.index()]) {
				next.owners[f.index()] = append(next.owners[f.index()], ownedSpan{sp, ps})
			}
		}
		next.pools[p.Name] = ps
		next.byName = append(next.byName, ps)
		if p.Allocation.pins() {
			next.pinned = append(next.pinned, ps)
		}
	}
	for i := range next.owners {
		owners := next.owners[i]
		slices.SortFunc(owners, func(x, y ownedSpan) int { return x.first.cmp(y.first) })
		for j := 1; j < len(owners); j++ {
			if !owners[j-1].last.less(owners[j].first) {
				return nil, fmt.Errorf("%w: pools %q and %q both contain %v", ErrOverlappingPools,
					owners[j-1].pool.Name, owners[j].pool.Name, u128ToAddr(Family(i+1), owners[j].first))
			}
		}
	}
	slices.SortFunc(next.byName, func(x, y *poolState) int { return strings.Compare(x.Name, y.Name) })
	slices.SortFunc(next.pinned, func(x, y *poolState) int {
		return cmp.Or(cmp.Compare(priorityRank(x), priorityRank(y)), strings.Compare(x.Name, y.Name))
	})

	var evicted []Rejected
	for _, h := range a.sortedHeld() {
		p, ordered, err := next.checkIPs(&h.svc, h.ips, "assigned")
		if err != nil {
			evicted = append(evicted, Rejected{Service: h.svc.Key, IPs: h.ips, Err: err})
			continue
		}
		next.commit(&h.svc, p, ordered)
	}
	next.carryReservations(a)
	*a = *next
	return evicted, nil
}

func priorityRank(p *poolState) int {
	if p.Allocation.Priority == 0 {
		return int(^uint(0) >> 1)
	}
	return p.Allocation.Priority
}

func mergeSpans(ranges []Range) []span {
	var spans []span
	for _, r := range ranges {
		spans = append(spans, span{addrToU128(r.First), addrToU128(r.Last)})
	}
	slices.SortFunc(spans, func(a, b span) int { return a.first.cmp(b.first) })
	var out []span
	for _, sp := range spans {
		if n := len(out); n > 0 {
			prev := &out[n-1]
			if prev.last == maxU128 || !prev.last.inc().less(sp.first) {
				if prev.last.less(sp.last) {
					prev.last = sp.last
				}
				continue
			}
		}
		out = append(out, sp)
	}
	return out
}

func (a *Allocator) sortedHeld() []*held {
	out := make([]*held, 0, len(a.services))
	for _, h := range a.services {
		out = append(out, h)
	}
	slices.SortFunc(out, func(x, y *held) int {
		return cmp.Or(strings.Compare(x.svc.Key.Namespace, y.svc.Key.Namespace), strings.Compare(x.svc.Key.Name, y.svc.Key.Name))
	})
	return out
}

// Allocate gives svc its IPs. A Service that already holds IPs keeps them
// if they still satisfy it (same request, pool still admits, sharing still
// compatible with its current ports and key); otherwise they are released
// and it is allocated afresh: its requested IPs, else the lowest free
// address (or lowest address it may share) of its requested pool, else of
// the first candidate pool that can serve it (see candidates). On failure
// the Service holds nothing.
func (a *Allocator) Allocate(svc Service) (Assignment, error) {
	s := normalize(svc)
	plans, err := familyPlans(&s)
	if err != nil {
		return Assignment{}, err
	}
	if h := a.services[s.Key]; h != nil {
		if p, ordered, err := a.checkIPs(&s, h.ips, "assigned"); err == nil {
			a.release(h)
			return a.commit(&s, p, ordered).assignment(), nil
		}
		a.release(h)
	}
	if len(s.RequestedIPs) > 0 {
		ips, err := orderByPlan(&s, plans, s.RequestedIPs, "requested")
		if err != nil {
			return Assignment{}, fmt.Errorf("%v: %w", s.Key, err)
		}
		p, ips, err := a.checkIPs(&s, ips, "requested")
		if err != nil {
			return Assignment{}, err
		}
		return a.commit(&s, p, ips).assignment(), nil
	}
	var pools []*poolState
	var notTried []string
	if s.RequestedPool != "" {
		p := a.pools[s.RequestedPool]
		if p == nil {
			return Assignment{}, fmt.Errorf("%v: %w: %q (metallb.io/address-pool)", s.Key, ErrUnknownPool, s.RequestedPool)
		}
		if err := admits(p, &s); err != nil {
			return Assignment{}, fmt.Errorf("%v: requested %w", s.Key, err)
		}
		pools = []*poolState{p}
	} else if pools, notTried, err = a.candidates(&s); err != nil {
		return Assignment{}, err
	}
	// Plans outermost: a dual-stack pool anywhere in the order beats a
	// single-stack answer from an earlier pool.
	var reasons []error
	for _, plan := range plans {
		for _, p := range pools {
			ips, err := a.pickInPool(p, &s, plan)
			if err != nil {
				if !slices.ContainsFunc(reasons, func(r error) bool { return r.Error() == err.Error() }) {
					reasons = append(reasons, err)
				}
				continue
			}
			return a.commit(&s, p, ips).assignment(), nil
		}
	}
	return Assignment{}, &AllocationError{Service: s.Key, Reasons: reasons, NotTried: notTried}
}

// pickInPool chooses, without committing, one IP per family of plan from p.
func (a *Allocator) pickInPool(p *poolState, svc *Service, plan []Family) ([]netip.Addr, error) {
	ips := make([]netip.Addr, 0, len(plan))
	for _, f := range plan {
		sp := p.space[f.index()]
		if sp == nil {
			return nil, fmt.Errorf("pool %q: %w: it has no %v addresses, and the service needs %v", p.Name, ErrFamilyUnavailable, f, familiesText(plan))
		}
		ip, err := a.pick(p, sp, svc)
		if err != nil {
			return nil, err
		}
		ips = append(ips, ip)
	}
	return ips, nil
}

func familiesText(plan []Family) string {
	if len(plan) == 2 {
		return "both IPv4 and IPv6"
	}
	return plan[0].String()
}

// pick returns the lowest address of sp that svc may take: the lowest free
// one, or a lower one already carrying svc's sharing key whose Services it
// can join (MetalLB's rule: the lowest free-or-shareable address). Finding
// the free address is O(log n); the shareable ones are tried in order,
// which costs O(k) in the IPs carrying this key in this pool.
func (a *Allocator) pick(p *poolState, sp *addrSpace, svc *Service) (netip.Addr, error) {
	free, ok := sp.lowestFree()
	// An IP reserved for this very Service is as good as free to it.
	if o, found := a.ownReserved(p, sp, svc.Key); found && (!ok || o.less(free)) {
		free, ok = o, true
	}
	var shareWhy error
	if svc.SharingKey != "" {
		if set := p.shared[sp.family.index()][svc.SharingKey]; set != nil {
			var found netip.Addr
			set.ascend(func(lo, hi u128) bool {
				for o := lo; ; o = o.inc() {
					if ok && !o.less(free) {
						return false
					}
					use := a.ips[u128ToAddr(sp.family, sp.addrAt(o))]
					err := shareError(use, svc)
					if err == nil {
						found = use.addr
						return false
					}
					if shareWhy == nil {
						shareWhy = err
					}
					if o == hi {
						return true
					}
				}
			})
			if found.IsValid() {
				return found, nil
			}
		}
	}
	if ok {
		return u128ToAddr(sp.family, sp.addrAt(free)), nil
	}
	detail := ""
	if shareWhy != nil {
		detail = fmt.Sprintf(", and no address with allow-shared-ip key %q can take this service (first refusal: %v)", svc.SharingKey, shareWhy)
	}
	return netip.Addr{}, fmt.Errorf("pool %q: %w: all %v usable %v addresses are in use%s",
		p.Name, ErrPoolExhausted, Count{sp.capacity}, sp.family, detail)
}

// poolOf returns the pool whose ranges contain ip (ignoring avoidBuggyIPs).
func (a *Allocator) poolOf(ip netip.Addr) *poolState {
	f := addrFamily(ip)
	x := addrToU128(ip)
	owners := a.owners[f.index()]
	i, found := slices.BinarySearchFunc(owners, x, func(o ownedSpan, x u128) int { return o.first.cmp(x) })
	if !found {
		i--
	}
	if i < 0 || owners[i].last.less(x) {
		return nil
	}
	return owners[i].pool
}

// checkIPs decides whether svc may hold ips (ordered, one per family) and
// returns their pool: they lie in one pool, usable there, that pool is the
// requested one if any and admits svc, they equal the requested IPs if
// any, and svc can share each with its current users.
func (a *Allocator) checkIPs(svc *Service, ips []netip.Addr, what string) (*poolState, []netip.Addr, error) {
	plans, err := familyPlans(svc)
	if err != nil {
		return nil, nil, err
	}
	ordered, err := orderByPlan(svc, plans, ips, what)
	if err != nil {
		return nil, nil, fmt.Errorf("%v: %w", svc.Key, err)
	}
	if len(svc.RequestedIPs) > 0 && what != "requested" && !sameIPs(svc.RequestedIPs, ordered) {
		return nil, nil, fmt.Errorf("%v: %w: %s IPs %v are not the requested IPs %v", svc.Key, ErrInvalidRequest, what, ordered, svc.RequestedIPs)
	}
	var pool *poolState
	for _, ip := range ordered {
		p := a.poolOf(ip)
		switch {
		case p == nil:
			return nil, nil, fmt.Errorf("%v: %s IP %v: %w: no address pool contains it", svc.Key, what, ip, ErrIPNotInPool)
		case !p.space[addrFamily(ip).index()].contains(ip):
			return nil, nil, fmt.Errorf("%v: %s IP %v: %w: pool %q avoids addresses ending in .0 and .255 (avoidBuggyIPs)", svc.Key, what, ip, ErrIPNotInPool, p.Name)
		case svc.RequestedPool != "" && p.Name != svc.RequestedPool:
			return nil, nil, fmt.Errorf("%v: %s IP %v: %w: it is in pool %q, not in the requested pool %q", svc.Key, what, ip, ErrIPNotInPool, p.Name, svc.RequestedPool)
		case pool != nil && p != pool:
			return nil, nil, fmt.Errorf("%v: %w: %s IPs %v (pool %q) and %v (pool %q) are in different pools; both IPs of a dual-stack service come from one pool",
				svc.Key, ErrInvalidRequest, what, ordered[0], pool.Name, ip, p.Name)
		}
		pool = p
	}
	if err := admits(pool, svc); err != nil {
		return nil, nil, fmt.Errorf("%v: %s IP %v: %w", svc.Key, what, ordered[0], err)
	}
	for _, ip := range ordered {
		if use := a.ips[ip]; use != nil {
			if err := shareError(use, svc); err != nil {
				return nil, nil, fmt.Errorf("%v: %s IP %w", svc.Key, what, err)
			}
		}
	}
	return pool, ordered, nil
}

func sameIPs(x, y []netip.Addr) bool {
	if len(x) != len(y) {
		return false
	}
	for _, ip := range x {
		if !slices.Contains(y, ip) {
			return false
		}
	}
	return true
}

// commit records that svc holds ips from p; the caller has checked it.
func (a *Allocator) commit(svc *Service, p *poolState, ips []netip.Addr) *held {
	h := &held{svc: *svc, pool: p} // svc is a private copy
	h.ips = append(h.buf[:0], ips...)
	for _, ip := range ips {
		use := a.ips[ip]
		if use != nil {
			// svc holds it again: its ghost is no longer needed.
			a.dropGhost(use.addr, &use.ghosts, svc.Key)
		}
		if use == nil || len(use.users) == 0 {
			sp := p.space[addrFamily(ip).index()]
			if use == nil {
				ord, _ := sp.ordinal(addrToU128(ip))
				use = &ipUse{pool: p, ord: ord, addr: ip}
				a.ips[ip] = use
				sp.used.add(ord)
				sp.usedCount++
			}
			use.sharingKey, use.local, use.backend = svc.SharingKey, svc.LocalTraffic, svc.Backend
			use.users = use.first[:0] // most IPs have one user: no second allocation
			if svc.SharingKey != "" {
				idx := p.shared[sp.family.index()]
				if idx[svc.SharingKey] == nil {
					idx[svc.SharingKey] = &intervalSet{}
				}
				idx[svc.SharingKey].add(use.ord)
			}
		}
		i, _ := slices.BinarySearchFunc(use.users, svc.Key, func(u *held, k ServiceKey) int {
			return cmp.Or(strings.Compare(u.svc.Key.Namespace, k.Namespace), strings.Compare(u.svc.Key.Name, k.Name))
		})
		use.users = slices.Insert(use.users, i, h)
	}
	a.services[svc.Key] = h
	p.services++
	return h
}

func (h *held) assignment() Assignment {
	return Assignment{Pool: h.pool.Name, IPs: slices.Clone(h.ips)}
}

// release frees h's IPs (each once its last user leaves).
func (a *Allocator) release(h *held) {
	for _, ip := range h.ips {
		use := a.ips[ip]
		// By identity: comparing keys would read each user's key strings.
		use.users = slices.DeleteFunc(use.users, func(u *held) bool { return u == h })
		if len(use.users) > 0 {
			continue
		}
		sp := use.pool.space[addrFamily(ip).index()]
		if use.sharingKey != "" {
			idx := use.pool.shared[sp.family.index()]
			idx[use.sharingKey].remove(use.ord)
			if idx[use.sharingKey].empty() {
				delete(idx, use.sharingKey)
			}
		}
		// The sharing attributes describe users; with none left they go.
		use.sharingKey, use.local, use.backend = "", false, ""
		if len(use.ghosts) > 0 {
			continue // still shown in a status: reserved
		}
		delete(a.ips, ip)
		sp.used.remove(use.ord)
		sp.usedCount--
	}
	delete(a.services, h.svc.Key)
	h.pool.services--
}

// Claim makes svc hold exactly ips (its status IPs), if it may: see
// Allocate for the rules. On failure nothing changes, including any
// assignment svc already had.
func (a *Allocator) Claim(svc Service, ips []netip.Addr) (Assignment, error) {
	s := normalize(svc)
	unmapped := make([]netip.Addr, len(ips))
	for i, ip := range ips {
		unmapped[i] = ip.Unmap()
	}
	p, ordered, err := a.checkIPs(&s, unmapped, "claimed")
	if err != nil {
		return Assignment{}, err
	}
	if h := a.services[s.Key]; h != nil {
		a.release(h)
	}
	return a.commit(&s, p, ordered).assignment(), nil
}

// Restore claims every Service's existing IPs, as after a restart, before
// any Allocate. Claims are applied oldest first (Created, then
// namespace/name), so when two Services claim one IP and cannot share it,
// the older keeps it whatever order the claims arrive in. It returns the
// claims that failed; those Services hold nothing and need Allocate. Pass
// one claim per Service (a later one for the same Service replaces it).
func (a *Allocator) Restore(claims []Claim) []Rejected {
	sorted := slices.Clone(claims)
	slices.SortStableFunc(sorted, func(x, y Claim) int {
		return cmp.Or(x.Created.Compare(y.Created),
			strings.Compare(x.Service.Key.Namespace, y.Service.Key.Namespace),
			strings.Compare(x.Service.Key.Name, y.Service.Key.Name))
	})
	var rejected []Rejected
	for _, c := range sorted {
		if _, err := a.Claim(c.Service, c.IPs); err != nil {
			if h := a.services[c.Service.Key]; h != nil {
				a.release(h)
			}
			rejected = append(rejected, Rejected{Service: c.Service.Key, IPs: slices.Clone(c.IPs), Err: err})
		}
	}
	return rejected
}

// Release frees the Service's IPs and returns what it held.
func (a *Allocator) Release(k ServiceKey) (Assignment, bool) {
	h := a.services[k]
	if h == nil {
		return Assignment{}, false
	}
	a.release(h)
	return Assignment{Pool: h.pool.Name, IPs: h.ips}, true // h is gone: its slice is the caller's now
}

// Assignment returns what the Service holds.
func (a *Allocator) Assignment(k ServiceKey) (Assignment, bool) {
	h := a.services[k]
	if h == nil {
		return Assignment{}, false
	}
	return h.assignment(), true
}

// Users returns the Services holding ip, sorted.
func (a *Allocator) Users(ip netip.Addr) []ServiceKey {
	use := a.ips[ip.Unmap()]
	if use == nil {
		return nil
	}
	out := make([]ServiceKey, len(use.users))
	for i, u := range use.users {
		out[i] = u.svc.Key
	}
	return out
}

// PoolOf returns the pool that would hand out ip (a usable address of it).
func (a *Allocator) PoolOf(ip netip.Addr) (string, bool) {
	ip = ip.Unmap()
	p := a.poolOf(ip)
	if p == nil || !p.space[addrFamily(ip).index()].contains(ip) {
		return "", false
	}
	return p.Name, true
}

// Stats returns every pool's usage, sorted by pool name.
func (a *Allocator) Stats() []PoolStats {
	out := make([]PoolStats, len(a.byName))
	for i, p := range a.byName {
		out[i] = p.stats()
	}
	return out
}

func (p *poolState) stats() PoolStats {
	return PoolStats{Pool: p.Name, IPv4: p.space[0].stats(), IPv6: p.space[1].stats(), Services: p.services}
}

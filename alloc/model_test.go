package alloc

import (
	"net/netip"
	"slices"
	"sort"
	"strings"
)

// model is the reference allocator for the property tests: every pool's
// usable addresses enumerated in a slice, holdings in a map, and every
// decision by linear scan (the way MetalLB allocates). It shares only
// familyPlans and admits with the real allocator; address sets, ordering,
// sharing and config changes are written again here, simply.
type model struct {
	pools []Pool
	addrs map[string][]netip.Addr // usable addresses per pool, ascending
	held  map[ServiceKey]modelHeld
	// ghosts are, per IP, the Services whose status may still show it
	// (Reserve), in or out of any pool.
	ghosts map[netip.Addr][]Service
	// gens are the generations of the ghosts' reservations.
	gens map[ghostOf]uint64
	// ignoreGhosts is set while setPools re-checks holdings: a config
	// change re-admits holders without asking the ghosts.
	ignoreGhosts bool
}

type ghostOf struct {
	ip netip.Addr
	k  ServiceKey
}

type modelHeld struct {
	svc  Service
	pool string
	ips  []netip.Addr
}

func newModel() *model {
	return &model{addrs: map[string][]netip.Addr{}, held: map[ServiceKey]modelHeld{}, ghosts: map[netip.Addr][]Service{}, gens: map[ghostOf]uint64{}}
}

func enumerate(p Pool) []netip.Addr {
	var out []netip.Addr
	for _, r := range p.Ranges {
		for ip := r.First; ; ip = ip.Next() {
			b := ip.AsSlice()
			if !(p.AvoidBuggyIPs && ip.Is4() && (b[3] == 0 || b[3] == 255)) && !slices.Contains(out, ip) {
				out = append(out, ip)
			}
			if ip == r.Last {
				break
			}
		}
	}
	slices.SortFunc(out, netip.Addr.Compare)
	return out
}

func (m *model) pool(name string) *Pool {
	for i := range m.pools {
		if m.pools[i].Name == name {
			return &m.pools[i]
		}
	}
	return nil
}

func (m *model) poolOf(ip netip.Addr) string {
	for name, addrs := range m.addrs {
		if slices.Contains(addrs, ip) {
			return name
		}
	}
	return ""
}

func (m *model) users(ip netip.Addr, except ServiceKey) []Service {
	var out []Service
	for k, h := range m.held {
		if k != except && slices.Contains(h.ips, ip) {
			out = append(out, h.svc)
		}
	}
	return out
}

func (m *model) canShare(ip netip.Addr, s Service) bool {
	holds := false
	if h, ok := m.held[s.Key]; ok {
		holds = slices.Contains(h.ips, ip)
	}
	if !m.ignoreGhosts && !holds {
		for _, g := range m.ghosts[ip] {
			if g.Key == s.Key {
				continue
			}
			// Reserved for another when no one (s included) holds it.
			if len(m.users(ip, ServiceKey{})) == 0 || !pairOK(g, s) {
				return false
			}
		}
	}
	for _, o := range m.users(ip, s.Key) {
		if !pairOK(o, s) {
			return false
		}
	}
	return true
}

func pairOK(o, s Service) bool {
	if s.SharingKey == "" || o.SharingKey != s.SharingKey {
		return false
	}
	if (s.LocalTraffic || o.LocalTraffic) && (s.LocalTraffic != o.LocalTraffic || s.Backend != o.Backend) {
		return false
	}
	for _, p := range s.Ports {
		if slices.Contains(o.Ports, p) {
			return false
		}
	}
	return true
}

// check mirrors checkIPs: one admitting pool (the requested one if any),
// the requested IPs if any, a family plan, shareable.
func (m *model) check(s Service, ips []netip.Addr, requested bool) (string, []netip.Addr, bool) {
	plans, err := familyPlans(&s)
	if err != nil || len(ips) == 0 {
		return "", nil, false
	}
	ips, err = orderByPlan(&s, plans, ips, "x")
	if err != nil {
		return "", nil, false
	}
	if len(s.RequestedIPs) > 0 && !requested && !sameIPs(s.RequestedIPs, ips) {
		return "", nil, false
	}
	pool := ""
	for _, ip := range ips {
		p := m.poolOf(ip)
		if p == "" || (pool != "" && p != pool) || (s.RequestedPool != "" && p != s.RequestedPool) {
			return "", nil, false
		}
		pool = p
	}
	if admits(&poolState{Pool: *m.pool(pool)}, &s) != nil {
		return "", nil, false
	}
	for _, ip := range ips {
		if !m.canShare(ip, s) {
			return "", nil, false
		}
	}
	return pool, ips, true
}

func (m *model) candidates(s Service) []string {
	if s.RequestedPool != "" {
		p := m.pool(s.RequestedPool)
		if p == nil || admits(&poolState{Pool: *p}, &s) != nil {
			return nil
		}
		return []string{p.Name}
	}
	var pinned, rest []Pool
	for _, p := range m.pools {
		if !p.AutoAssign || admits(&poolState{Pool: p}, &s) != nil {
			continue
		}
		if p.Allocation.pins() {
			pinned = append(pinned, p)
		} else {
			rest = append(rest, p)
		}
	}
	rank := func(p Pool) int {
		if p.Allocation.Priority == 0 {
			return 1 << 30
		}
		return p.Allocation.Priority
	}
	sort.Slice(pinned, func(i, j int) bool {
		if rank(pinned[i]) != rank(pinned[j]) {
			return rank(pinned[i]) < rank(pinned[j])
		}
		return pinned[i].Name < pinned[j].Name
	})
	sort.Slice(rest, func(i, j int) bool { return rest[i].Name < rest[j].Name })
	var out []string
	for _, p := range append(pinned, rest...) {
		out = append(out, p.Name)
	}
	return out
}

func (m *model) allocate(s Service) (Assignment, bool) {
	s = normalize(s)
	plans, err := familyPlans(&s)
	if err != nil {
		return Assignment{}, false
	}
	if h, ok := m.held[s.Key]; ok {
		// Checked while s still holds them, as the allocator does.
		if p, ips, ok := m.check(s, h.ips, false); ok {
			m.commit(s, p, ips)
			return Assignment{p, ips}, true
		}
		delete(m.held, s.Key)
	}
	if len(s.RequestedIPs) > 0 {
		ordered, err := orderByPlan(&s, plans, s.RequestedIPs, "x")
		if err != nil {
			return Assignment{}, false
		}
		p, _, ok := m.check(s, ordered, true)
		if !ok {
			return Assignment{}, false
		}
		m.commit(s, p, ordered)
		return Assignment{p, ordered}, true
	}
	cands := m.candidates(s)
	for _, plan := range plans {
	pools:
		for _, p := range cands {
			var got []netip.Addr
			for _, f := range plan {
				found := false
				for _, ip := range m.addrs[p] {
					if addrFamily(ip) == f && m.canShare(ip, s) {
						got = append(got, ip)
						found = true
						break
					}
				}
				if !found {
					continue pools
				}
			}
			m.commit(s, p, got)
			return Assignment{p, got}, true
		}
	}
	return Assignment{}, false
}

func (m *model) claim(s Service, ips []netip.Addr) (Assignment, bool) {
	s = normalize(s)
	plans, err := familyPlans(&s)
	if err != nil {
		return Assignment{}, false
	}
	ordered, err := orderByPlan(&s, plans, ips, "x")
	if err != nil {
		return Assignment{}, false
	}
	p, _, ok := m.check(s, ordered, false)
	if !ok {
		return Assignment{}, false
	}
	m.commit(s, p, ordered)
	return Assignment{p, ordered}, true
}

// commit records the holding; s's ghosts on those IPs go.
func (m *model) commit(s Service, pool string, ips []netip.Addr) {
	m.held[s.Key] = modelHeld{s, pool, ips}
	for _, ip := range ips {
		m.dropGhost(s.Key, ip)
	}
}

func (m *model) hasGhost(ip netip.Addr, k ServiceKey) bool {
	return slices.ContainsFunc(m.ghosts[ip], func(g Service) bool { return g.Key == k })
}

// reserve mirrors Reserve: s gets a ghost on every IP it does not hold
// and has no ghost on yet, in a pool or not.
func (m *model) reserve(s Service, ips []netip.Addr, gen uint64) []Reservation {
	s = normalize(s)
	var out []Reservation
	for _, ip := range ips {
		ip = ip.Unmap()
		if h, ok := m.held[s.Key]; (ok && slices.Contains(h.ips, ip)) || m.hasGhost(ip, s.Key) {
			continue
		}
		m.ghosts[ip] = append(m.ghosts[ip], s)
		m.gens[ghostOf{ip, s.Key}] = gen
		out = append(out, Reservation{IP: ip, Gen: gen})
	}
	return out
}

// unreserve mirrors Unreserve: only a reservation of the current
// generation goes.
func (m *model) unreserve(k ServiceKey, rs []Reservation) []netip.Addr {
	var freed []netip.Addr
	for _, r := range rs {
		ip := r.IP.Unmap()
		if gen, ok := m.gens[ghostOf{ip, k}]; !ok || gen != r.Gen || !m.hasGhost(ip, k) {
			continue
		}
		m.dropGhost(k, ip)
		freed = append(freed, ip)
	}
	return freed
}

func (m *model) dropGhost(k ServiceKey, ip netip.Addr) {
	delete(m.gens, ghostOf{ip, k})
	m.ghosts[ip] = slices.DeleteFunc(m.ghosts[ip], func(g Service) bool { return g.Key == k })
	if len(m.ghosts[ip]) == 0 {
		delete(m.ghosts, ip)
	}
}

func (m *model) setPools(pools []Pool) []ServiceKey {
	m.pools = slices.Clone(pools)
	m.addrs = map[string][]netip.Addr{}
	for _, p := range pools {
		m.addrs[p.Name] = enumerate(p)
	}
	m.ignoreGhosts = true
	defer func() { m.ignoreGhosts = false }()
	var evicted []ServiceKey
	keys := make([]ServiceKey, 0, len(m.held))
	for k := range m.held {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(x, y ServiceKey) int {
		return strings.Compare(x.Namespace+"/"+x.Name, y.Namespace+"/"+y.Name)
	})
	for _, k := range keys {
		h := m.held[k]
		if p, ips, ok := m.check(h.svc, h.ips, false); ok {
			h.pool, h.ips = p, ips
			m.held[k] = h
		} else {
			delete(m.held, k)
			evicted = append(evicted, k)
		}
	}
	return evicted
}

func (m *model) stats() []PoolStats {
	var out []PoolStats
	for _, p := range m.pools {
		st := PoolStats{Pool: p.Name}
		used := map[netip.Addr]bool{}
		for _, h := range m.held {
			if h.pool == p.Name {
				st.Services++
				for _, ip := range h.ips {
					used[ip] = true
				}
			}
		}
		for ip := range m.ghosts {
			if m.poolOf(ip) == p.Name {
				used[ip] = true
			}
		}
		var cap4, cap6 int
		for _, ip := range m.addrs[p.Name] {
			if ip.Is4() {
				cap4++
			} else {
				cap6++
			}
		}
		for ip := range used {
			if ip.Is4() {
				st.IPv4.Assigned++
			} else {
				st.IPv6.Assigned++
			}
		}
		st.IPv4.Capacity, st.IPv4.Available = CountOf(cap4), CountOf(cap4-st.IPv4.Assigned)
		st.IPv6.Capacity, st.IPv6.Available = CountOf(cap6), CountOf(cap6-st.IPv6.Assigned)
		out = append(out, st)
	}
	slices.SortFunc(out, func(x, y PoolStats) int { return strings.Compare(x.Pool, y.Pool) })
	return out
}

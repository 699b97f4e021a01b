package alloc

import (
	"cmp"
	"net/netip"
	"slices"
)

// Reservation is one ghost of a Service: an IP reserved for it until its
// status no longer shows it, with the generation the reservation was made
// in. Generations come from the caller (the controller numbers them per
// leadership term), so an answer about an earlier reservation of the same
// IP can be told from one about the current one.
type Reservation struct {
	IP  netip.Addr
	Gen uint64
}

// Reserve records that svc's status may still show ips, which it no longer
// holds, and keeps those IPs from anyone who could not share them with svc
// until Unreserve says the status is clear. New reservations get generation
// gen; an IP svc already has a ghost on keeps its reservation as it was.
//
// The allocator frees an IP the moment a Service stops holding it (its
// request changed, a config change evicted it, its request became
// unreadable), but the Service's status.loadBalancer.ingress still shows
// the IP until the controller's write clearing it lands. Handing the IP to
// another Service in between would make two Services show one IP, and
// speakers announce it for both. So svc stays on each IP as a ghost: an IP
// with ghosts and no user is reserved (in use, counted as assigned, given
// to no one but svc itself); an IP that others still hold (shared) takes a
// newcomer only if it could share with svc too, and becomes reserved when
// its last user leaves. Pass svc as it is now (its current sharing key and
// ports decide what it still conflicts with).
//
// IPs svc holds are skipped; an IP outside every pool (or not usable in
// its pool) is remembered, and reserved should a config change make it
// usable again while svc's status may still show it. It returns the
// reservations it made. svc itself may take a reserved IP back: Allocate
// and Claim treat it as free for svc, and the ghost goes with its
// reservation.
func (a *Allocator) Reserve(svc Service, ips []netip.Addr, gen uint64) []Reservation {
	s := normalize(svc)
	k := s.Key
	var out []Reservation
	for _, ip := range ips {
		ip = ip.Unmap()
		if use := a.ips[ip]; use != nil {
			if slices.ContainsFunc(use.users, func(h *held) bool { return h.svc.Key == k }) || hasGhost(use.ghosts, k) {
				continue
			}
			use.ghosts = insertGhost(use.ghosts, &s)
		} else if sp, ord, ok := a.usable(ip); ok {
			a.ips[ip] = &ipUse{pool: a.poolOf(ip), ord: ord, addr: ip, ghosts: []*Service{&s}}
			sp.used.add(ord)
			sp.usedCount++
		} else {
			if hasGhost(a.dormant[ip], k) {
				continue
			}
			a.dormant[ip] = insertGhost(a.dormant[ip], &s)
		}
		r := Reservation{IP: ip, Gen: gen}
		a.reserved[k] = insertReservation(a.reserved[k], r)
		out = append(out, r)
	}
	return out
}

// Unreserve removes k's ghosts named by rs: k's status no longer shows
// them. A reservation whose generation is not the current one of its IP
// (an answer about an earlier reservation, taken back and made again
// since) and IPs k has no ghost on are ignored, so a late or repeated call
// is harmless. An IP left with neither users nor ghosts is free. It returns
// the IPs whose ghost went.
func (a *Allocator) Unreserve(k ServiceKey, rs []Reservation) []netip.Addr {
	var freed []netip.Addr
	for _, r := range rs {
		ip := r.IP.Unmap()
		if cur, ok := a.reservation(k, ip); !ok || cur.Gen != r.Gen {
			continue
		}
		freed = append(freed, ip)
		if use := a.ips[ip]; use != nil {
			a.dropGhost(ip, &use.ghosts, k)
			if len(use.users) == 0 && len(use.ghosts) == 0 {
				delete(a.ips, ip)
				sp := use.pool.space[addrFamily(ip).index()]
				sp.used.remove(use.ord)
				sp.usedCount--
			}
			continue
		}
		if ghosts, ok := a.dormant[ip]; ok {
			a.dropGhost(ip, &ghosts, k)
			if len(ghosts) == 0 {
				delete(a.dormant, ip)
			} else {
				a.dormant[ip] = ghosts
			}
		}
	}
	return freed
}

// Reserved returns k's reservations, sorted by IP.
func (a *Allocator) Reserved(k ServiceKey) []Reservation {
	return slices.Clone(a.reserved[k])
}

// reservation returns k's reservation of ip, if any.
func (a *Allocator) reservation(k ServiceKey, ip netip.Addr) (Reservation, bool) {
	list := a.reserved[k]
	if i, found := slices.BinarySearchFunc(list, ip, compareReservationIP); found {
		return list[i], true
	}
	return Reservation{}, false
}

func compareReservationIP(r Reservation, ip netip.Addr) int { return r.IP.Compare(ip) }

// usable returns ip's address space and ordinal if some pool can give it.
func (a *Allocator) usable(ip netip.Addr) (*addrSpace, u128, bool) {
	p := a.poolOf(ip)
	if p == nil {
		return nil, u128{}, false
	}
	sp := p.space[addrFamily(ip).index()]
	if sp == nil {
		return nil, u128{}, false
	}
	ord, ok := sp.ordinal(addrToU128(ip))
	return sp, ord, ok
}

// dropGhost removes k's ghost from ghosts (those of ip), if any.
func (a *Allocator) dropGhost(ip netip.Addr, ghosts *[]*Service, k ServiceKey) {
	i, found := slices.BinarySearchFunc(*ghosts, k, func(g *Service, k ServiceKey) int { return g.Key.Compare(k) })
	if !found {
		return
	}
	*ghosts = slices.Delete(*ghosts, i, i+1)
	list := a.reserved[k]
	if j, found := slices.BinarySearchFunc(list, ip, compareReservationIP); found {
		list = slices.Delete(list, j, j+1)
	}
	if len(list) == 0 {
		delete(a.reserved, k)
	} else {
		a.reserved[k] = list
	}
}

// ownReserved returns the lowest ordinal of sp reserved for k alone (k's
// ghost and no one else on it), which k may take as if free.
func (a *Allocator) ownReserved(p *poolState, sp *addrSpace, k ServiceKey) (u128, bool) {
	var best u128
	found := false
	for _, r := range a.reserved[k] {
		use := a.ips[r.IP]
		if use == nil || use.pool != p || addrFamily(r.IP) != sp.family || len(use.users) > 0 || len(use.ghosts) != 1 {
			continue
		}
		if !found || use.ord.less(best) {
			best, found = use.ord, true
		}
	}
	return best, found
}

// carryReservations gives a (new) allocator built by SetPools every ghost
// of old, on IPs in use, reserved or dormant alike, each with its
// generation.
func (a *Allocator) carryReservations(old *Allocator) {
	type ghostAt struct {
		ip netip.Addr
		g  *Service
	}
	var all []ghostAt
	for ip, use := range old.ips {
		for _, g := range use.ghosts {
			all = append(all, ghostAt{ip, g})
		}
	}
	for ip, ghosts := range old.dormant {
		for _, g := range ghosts {
			all = append(all, ghostAt{ip, g})
		}
	}
	// Ghosts of different Services on one IP do not interact, so the
	// order does not change the outcome; sorting keeps the work itself
	// deterministic.
	slices.SortFunc(all, func(x, y ghostAt) int { return cmp.Or(x.ip.Compare(y.ip), x.g.Key.Compare(y.g.Key)) })
	for _, c := range all {
		r, _ := old.reservation(c.g.Key, c.ip)
		a.Reserve(*c.g, []netip.Addr{c.ip}, r.Gen)
	}
}

func hasGhost(ghosts []*Service, k ServiceKey) bool {
	_, found := slices.BinarySearchFunc(ghosts, k, func(g *Service, k ServiceKey) int { return g.Key.Compare(k) })
	return found
}

func insertGhost(ghosts []*Service, s *Service) []*Service {
	i, _ := slices.BinarySearchFunc(ghosts, s.Key, func(g *Service, k ServiceKey) int { return g.Key.Compare(k) })
	return slices.Insert(ghosts, i, s)
}

func insertReservation(list []Reservation, r Reservation) []Reservation {
	i, found := slices.BinarySearchFunc(list, r.IP, compareReservationIP)
	if found {
		return list
	}
	return slices.Insert(list, i, r)
}

package alloc

import (
	"cmp"
	"net/netip"
	"slices"
	"strings"
)

// Reserve keeps ips, which k held until now, out of every other Service's
// reach while k's status may still show them.
//
// The allocator frees an IP the moment a Service stops holding it (its
// request changed, a config change evicted it, its request became
// invalid), but the Service's status.loadBalancer.ingress still shows the IP
// until the controller's write clearing it lands. Handing the IP to another
// Service in between would make two Services show one IP, and speakers
// announce it for both. The controller reserves what it took away and
// calls Unreserve once the status is clear.
//
// Only free IPs of a pool (usable there) are reserved; IPs in use (by k
// again, by Services sharing them) or outside every pool are skipped, and
// the IPs reserved are returned. A reserved IP counts as assigned in Stats.
// k itself may take its reserved IPs again: Allocate and Claim treat them
// as free for k, and the reservation then becomes a holding. A config
// change keeps every reservation whose IP is still a usable address of a
// pool.
func (a *Allocator) Reserve(k ServiceKey, ips []netip.Addr) []netip.Addr {
	var out []netip.Addr
	for _, ip := range ips {
		ip = ip.Unmap()
		if a.ips[ip] != nil {
			continue
		}
		p := a.poolOf(ip)
		if p == nil {
			continue
		}
		sp := p.space[addrFamily(ip).index()]
		if sp == nil {
			continue
		}
		ord, ok := sp.ordinal(addrToU128(ip))
		if !ok {
			continue
		}
		a.ips[ip] = &ipUse{pool: p, ord: ord, addr: ip, reserved: true, reservedFor: k}
		sp.used.add(ord)
		sp.usedCount++
		a.reserved[k] = insertAddr(a.reserved[k], ip)
		out = append(out, ip)
	}
	return out
}

// Unreserve frees those of ips that are reserved for k: k's status no
// longer shows them. Other IPs are ignored, so a late or repeated call is
// harmless.
func (a *Allocator) Unreserve(k ServiceKey, ips []netip.Addr) {
	for _, ip := range ips {
		use := a.ips[ip.Unmap()]
		if use == nil || !use.reserved || use.reservedFor != k {
			continue
		}
		a.dropReservation(use)
		delete(a.ips, use.addr)
		sp := use.pool.space[addrFamily(use.addr).index()]
		sp.used.remove(use.ord)
		sp.usedCount--
	}
}

// Reserved returns the IPs reserved for k, sorted.
func (a *Allocator) Reserved(k ServiceKey) []netip.Addr {
	return slices.Clone(a.reserved[k])
}

// takeReservation turns a reserved IP into one its Service holds; the
// caller fills in the users.
func (a *Allocator) takeReservation(use *ipUse) {
	a.dropReservation(use)
	use.reserved = false
	use.reservedFor = ServiceKey{}
}

func (a *Allocator) dropReservation(use *ipUse) {
	k := use.reservedFor
	list := a.reserved[k]
	if i, found := slices.BinarySearchFunc(list, use.addr, netip.Addr.Compare); found {
		list = slices.Delete(list, i, i+1)
	}
	if len(list) == 0 {
		delete(a.reserved, k)
	} else {
		a.reserved[k] = list
	}
}

// ownReserved returns the lowest ordinal of sp reserved for k.
func (a *Allocator) ownReserved(p *poolState, sp *addrSpace, k ServiceKey) (u128, bool) {
	var best u128
	found := false
	for _, ip := range a.reserved[k] {
		use := a.ips[ip]
		if use.pool != p || addrFamily(ip) != sp.family {
			continue
		}
		if !found || use.ord.less(best) {
			best, found = use.ord, true
		}
	}
	return best, found
}

// carryReservations re-reserves, in a (new) allocator built by SetPools,
// every reservation of old whose IP is still usable in some pool.
func (a *Allocator) carryReservations(old *Allocator) {
	keys := make([]ServiceKey, 0, len(old.reserved))
	for k := range old.reserved {
		keys = append(keys, k)
	}
	// Reservations are disjoint, so the order does not change the outcome;
	// sorting keeps the work itself deterministic.
	slices.SortFunc(keys, func(x, y ServiceKey) int {
		return cmp.Or(strings.Compare(x.Namespace, y.Namespace), strings.Compare(x.Name, y.Name))
	})
	for _, k := range keys {
		a.Reserve(k, old.reserved[k])
	}
}

func insertAddr(list []netip.Addr, ip netip.Addr) []netip.Addr {
	i, found := slices.BinarySearchFunc(list, ip, netip.Addr.Compare)
	if found {
		return list
	}
	return slices.Insert(list, i, ip)
}

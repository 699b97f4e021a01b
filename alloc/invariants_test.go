package alloc

import (
	"net/netip"
	"slices"
)

// fataler is what checkInvariants needs from *testing.T and *rapid.T.
type fataler interface {
	Helper()
	Fatalf(format string, args ...any)
}

// checkInvariants cross-checks every internal index against the others.
// It fails t on the first inconsistency.
func checkInvariants(t fataler, a *Allocator) {
	t.Helper()
	perPool := map[*poolState]int{}
	for k, h := range a.services {
		if h.svc.Key != k {
			t.Fatalf("service %v stored under %v", h.svc.Key, k)
		}
		perPool[h.pool]++
		for _, ip := range h.ips {
			use := a.ips[ip]
			if use == nil {
				t.Fatalf("%v holds %v, which is not in use", k, ip)
			}
			if use.pool != h.pool {
				t.Fatalf("%v: IP %v in pool %q, assignment says %q", k, ip, use.pool.Name, h.pool.Name)
			}
			found := false
			for _, u := range use.users {
				found = found || u == h
			}
			if !found {
				t.Fatalf("%v holds %v but is not among its users", k, ip)
			}
		}
	}
	for _, p := range a.byName {
		if p.services != perPool[p] {
			t.Fatalf("pool %q counts %d services, %d hold it", p.Name, p.services, perPool[p])
		}
		for fi, sp := range p.space {
			keyed := 0
			if sp == nil {
				continue
			}
			members := 0
			sp.used.ascend(func(lo, hi u128) bool {
				if sp.lastOrd.less(hi) {
					t.Fatalf("pool %q: used ordinal %v beyond last %v", p.Name, hi, sp.lastOrd)
				}
				members += int(hi.sub(lo).lo) + 1
				return true
			})
			if members != sp.usedCount {
				t.Fatalf("pool %q %v: used set has %d members, count says %d", p.Name, sp.family, members, sp.usedCount)
			}
			inUse := 0
			for _, use := range a.ips {
				if use.pool == p && addrFamily(use.addr) == sp.family {
					inUse++
					if use.sharingKey != "" {
						keyed++
					}
				}
			}
			if inUse != sp.usedCount {
				t.Fatalf("pool %q %v: %d IPs in use, count says %d", p.Name, sp.family, inUse, sp.usedCount)
			}
			for _, set := range p.shared[fi] {
				set.ascend(func(lo, hi u128) bool {
					keyed -= int(hi.sub(lo).lo) + 1
					return true
				})
			}
			if keyed != 0 {
				t.Fatalf("pool %q %v: sharing index off by %d", p.Name, sp.family, keyed)
			}
			st := sp.stats()
			if sum, _ := st.Available.v.add(u64(uint64(st.Assigned))); sum != st.Capacity.v {
				t.Fatalf("pool %q %v: available %v + assigned %d != capacity %v", p.Name, sp.family, st.Available, st.Assigned, st.Capacity)
			}
		}
	}
	reservations := 0
	for k, rs := range a.reserved {
		for i, r := range rs {
			ip := r.IP
			var ghosts []*Service
			if use := a.ips[ip]; use != nil {
				ghosts = use.ghosts
			} else {
				ghosts = a.dormant[ip]
			}
			if !hasGhost(ghosts, k) {
				t.Fatalf("%v listed as reserved for %v, which has no ghost there", ip, k)
			}
			if i > 0 && !rs[i-1].IP.Less(ip) {
				t.Fatalf("reservations of %v not sorted: %v", k, rs)
			}
			reservations++
		}
	}
	checkGhosts := func(ip netip.Addr, ghosts []*Service) {
		for i, g := range ghosts {
			if i > 0 && ghosts[i-1].Key.Compare(g.Key) >= 0 {
				t.Fatalf("ghosts of %v not sorted", ip)
			}
			reservations--
		}
	}
	for ip, ghosts := range a.dormant {
		if _, _, ok := a.usable(ip); ok || a.ips[ip] != nil || len(ghosts) == 0 {
			t.Fatalf("dormant ghosts on %v, which is usable (%v) or in use or has none", ip, ok)
		}
		checkGhosts(ip, ghosts)
	}
	for ip, use := range a.ips {
		if use.addr != ip || (len(use.users) == 0 && len(use.ghosts) == 0) {
			t.Fatalf("IP %v: bad record %+v", ip, use)
		}
		checkGhosts(ip, use.ghosts)
		for _, g := range use.ghosts {
			if slices.ContainsFunc(use.users, func(h *held) bool { return h.svc.Key == g.Key }) {
				t.Fatalf("IP %v: %v both holds it and is a ghost on it", ip, g.Key)
			}
		}
		if len(use.users) == 0 && use.sharingKey != "" {
			t.Fatalf("reserved IP %v carries sharing key %q", ip, use.sharingKey)
		}
		sp := use.pool.space[addrFamily(ip).index()]
		ord, ok := sp.ordinal(addrToU128(ip))
		if !ok || ord != use.ord || !sp.used.contains(ord) {
			t.Fatalf("IP %v: ordinal %v ok=%v, recorded %v, in used set %v", ip, ord, ok, use.ord, sp.used.contains(ord))
		}
		if use.sharingKey != "" && !use.pool.shared[addrFamily(ip).index()][use.sharingKey].contains(ord) {
			t.Fatalf("IP %v missing from sharing index %q", ip, use.sharingKey)
		}
		for i, u := range use.users {
			h := a.services[u.svc.Key]
			if h != u || !containsAddr(h.ips, ip) {
				t.Fatalf("IP %v lists user %v, who does not hold it", ip, u.svc.Key)
			}
			if i > 0 && use.users[i-1].svc.Key.Compare(u.svc.Key) >= 0 {
				t.Fatalf("IP %v users not sorted", ip)
			}
			// Pairwise: every user could join the IP given all the other
			// users. (Not the ghosts: a config change re-admits holders
			// without asking the ghosts, which only keep newcomers out.)
			if err := shareError(&ipUse{addr: use.addr, users: use.users, sharingKey: use.sharingKey, local: use.local, backend: use.backend}, &h.svc); err != nil {
				t.Fatalf("IP %v holds incompatible services: %v", ip, err)
			}
			if h.svc.SharingKey != use.sharingKey || h.svc.LocalTraffic != use.local || (use.local && h.svc.Backend != use.backend) {
				t.Fatalf("IP %v: user %v key/backend differs from the IP's", ip, u.svc.Key)
			}
		}
	}
	if reservations != 0 {
		t.Fatalf("reservation lists and reserved IP records differ by %d", reservations)
	}
}

func containsAddr(s []netip.Addr, ip netip.Addr) bool {
	for _, x := range s {
		if x == ip {
			return true
		}
	}
	return false
}

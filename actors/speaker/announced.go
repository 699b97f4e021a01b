package speaker

import (
	"maps"
	"net/netip"
	"slices"

	"github.com/heraldlb/herald/announce"
)

// announcements follows, from the planner's changes, which peers this node
// announces each Service to: a Service is announced to a peer when a route
// to that peer covers one of its IPs (its host route, or an aggregate). It
// feeds the ServiceBGPStatus objects and the Events that say a node started
// or stopped announcing a Service. It does no I/O; the planner actor owns
// it.
type announcements struct {
	// peers are the peers each prefix goes to from this node, sorted. A
	// slice rather than a set: a prefix goes to a few peers, and at
	// 10,000 Services a map per prefix was most of this struct's memory.
	peers map[netip.Prefix][]string
	// bits counts the prefixes of each length, so the prefixes that may
	// cover an IP are found without scanning them all.
	bits map[int]int
	// ips are the Services' IPs, and byIP the Services of each IP.
	ips  map[announce.ServiceKey][]netip.Addr
	byIP map[netip.Addr][]announce.ServiceKey
	// last is what each Service was last reported announced to.
	last map[announce.ServiceKey][]string
}

func newAnnouncements() *announcements {
	return &announcements{peers: map[netip.Prefix][]string{}, bits: map[int]int{},
		ips: map[announce.ServiceKey][]netip.Addr{}, byIP: map[netip.Addr][]announce.ServiceKey{},
		last: map[announce.ServiceKey][]string{}}
}

// setService records a Service's IPs (nil: it is gone) and returns the
// Services to look at again.
func (a *announcements) setService(k announce.ServiceKey, ips []netip.Addr) []announce.ServiceKey {
	for _, ip := range a.ips[k] {
		a.byIP[ip] = slices.DeleteFunc(a.byIP[ip], func(x announce.ServiceKey) bool { return x == k })
		if len(a.byIP[ip]) == 0 {
			delete(a.byIP, ip)
		}
	}
	delete(a.ips, k)
	if len(ips) > 0 {
		a.ips[k] = slices.Clone(ips)
		for _, ip := range ips {
			a.byIP[ip] = append(a.byIP[ip], k)
		}
	}
	return []announce.ServiceKey{k}
}

// routes applies one session's route changes and returns the Services they
// touch.
func (a *announcements) routes(rc announce.RouteChanges) []announce.ServiceKey {
	var touched []netip.Prefix
	for _, r := range rc.Added {
		ps, ok := a.peers[r.Prefix]
		if !ok {
			a.bits[r.Prefix.Bits()]++
		}
		if i, found := slices.BinarySearch(ps, rc.Peer); !found {
			a.peers[r.Prefix] = slices.Insert(ps, i, rc.Peer)
		}
		touched = append(touched, r.Prefix)
	}
	for _, p := range rc.Removed {
		if ps, ok := a.peers[p]; ok {
			if i, found := slices.BinarySearch(ps, rc.Peer); found {
				ps = slices.Delete(ps, i, i+1)
			}
			if len(ps) > 0 {
				a.peers[p] = ps
			} else {
				delete(a.peers, p)
				if a.bits[p.Bits()]--; a.bits[p.Bits()] == 0 {
					delete(a.bits, p.Bits())
				}
			}
		}
		touched = append(touched, p)
	}
	// Changed routes keep their peers: only attributes changed.
	var out []announce.ServiceKey
	for _, p := range touched {
		if p.IsSingleIP() {
			out = append(out, a.byIP[p.Addr()]...)
			continue
		}
		for ip, keys := range a.byIP {
			if p.Contains(ip) {
				out = append(out, keys...)
			}
		}
	}
	return out
}

// announcedTo returns the peers k is announced to, sorted.
func (a *announcements) announcedTo(k announce.ServiceKey) []string {
	set := map[string]bool{}
	for _, ip := range a.ips[k] {
		for bits := range a.bits {
			if (ip.Is4() && bits > 32) || bits > ip.BitLen() {
				continue
			}
			p, err := ip.Prefix(bits)
			if err != nil {
				continue
			}
			for _, peer := range a.peers[p] {
				set[peer] = true
			}
		}
	}
	return slices.Sorted(maps.Keys(set))
}

// changed returns, for each of keys whose peers differ from what was last
// reported, the new peers (nil: announced nowhere), and records them.
func (a *announcements) changed(keys []announce.ServiceKey) map[announce.ServiceKey][]string {
	out := map[announce.ServiceKey][]string{}
	for _, k := range keys {
		now := a.announcedTo(k)
		if slices.Equal(now, a.last[k]) {
			continue
		}
		if len(now) == 0 {
			delete(a.last, k)
		} else {
			a.last[k] = now
		}
		out[k] = now
	}
	return out
}

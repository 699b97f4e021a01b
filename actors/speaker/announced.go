package speaker

import (
	"maps"
	"net/netip"
	"slices"

	"github.com/heraldlb/herald/announce"
)

// serviceIPs is what announcements asks of the planner: which IPs a
// Service has, and which Services hold the IPs of a prefix.
// announce.Planner answers; it already keeps both, and a second copy here
// was a few MB at 10,000 Services.
type serviceIPs interface {
	ServiceIPs(announce.ServiceKey) []netip.Addr
	ServicesIn(dst []announce.ServiceKey, prefix netip.Prefix) []announce.ServiceKey
}

// announcements follows, from the planner's changes, which peers this node
// announces each Service to: a Service is announced to a peer when a route
// to that peer covers one of its IPs (its host route, or an aggregate). It
// feeds the ServiceBGPStatus objects and the Events that say a node started
// or stopped announcing a Service. It does no I/O; the planner actor owns
// it.
type announcements struct {
	svcs serviceIPs
	// peers are the peers each prefix goes to from this node, sorted. A
	// slice rather than a set: a prefix goes to a few peers, and at
	// 10,000 Services a map per prefix was most of this struct's memory.
	peers map[netip.Prefix][]string
	// bits counts the prefixes of each length, so the prefixes that may
	// cover an IP are found without scanning them all.
	bits map[int]int
	// last is what each Service was last reported announced to.
	last map[announce.ServiceKey][]string
}

func newAnnouncements(svcs serviceIPs) *announcements {
	return &announcements{svcs: svcs, peers: map[netip.Prefix][]string{}, bits: map[int]int{},
		last: map[announce.ServiceKey][]string{}}
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
		out = a.svcs.ServicesIn(out, p)
	}
	return out
}

// announcedTo returns the peers k is announced to, sorted.
func (a *announcements) announcedTo(k announce.ServiceKey) []string {
	set := map[string]bool{}
	for _, ip := range a.svcs.ServiceIPs(k) {
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

package announce

import (
	"cmp"
	"net/netip"
	"slices"

	"github.com/heraldlb/herald/config"
	"k8s.io/apimachinery/pkg/labels"
)

// world is what the planner derives from one Config.
type world struct {
	cfg *config.Config
	// ranges are every pool entry, sorted by first address (IPv4 before
	// IPv6); config guarantees they do not overlap.
	ranges []poolRange
	// single holds, per advertisement, the attributes of a route that it
	// alone contributes: [0] towards eBGP peers, [1] towards iBGP peers.
	// Routes share these slices.
	single map[*config.BGPAdvertisement][2]Attrs
}

type poolRange struct {
	first, last netip.Addr
	pool        *config.Pool
}

func newWorld(cfg *config.Config) *world {
	w := &world{cfg: cfg, single: map[*config.BGPAdvertisement][2]Attrs{}}
	if cfg == nil {
		return w
	}
	for _, p := range cfg.Pools {
		for _, r := range p.Ranges {
			w.ranges = append(w.ranges, poolRange{r.First, r.Last, p})
		}
	}
	slices.SortFunc(w.ranges, func(a, b poolRange) int { return a.first.Compare(b.first) })
	for _, ad := range cfg.BGPAdvertisements {
		one := []*config.BGPAdvertisement{ad}
		w.single[ad] = [2]Attrs{mergeAttrs(one, false), mergeAttrs(one, true)}
	}
	return w
}

// poolOf returns the pool that holds ip, or nil.
func (w *world) poolOf(ip netip.Addr) *config.Pool {
	i, found := slices.BinarySearchFunc(w.ranges, ip, func(r poolRange, ip netip.Addr) int { return r.first.Compare(ip) })
	if !found {
		i-- // the last range starting before ip
	}
	if i < 0 {
		return nil
	}
	if r := w.ranges[i]; r.first.BitLen() == ip.BitLen() && ip.Compare(r.last) <= 0 {
		return r.pool
	}
	return nil
}

// attrs returns the attributes of a route that these advertisements (sorted
// by name, no repeats) contribute.
func (w *world) attrs(ads []*config.BGPAdvertisement, ibgp bool) Attrs {
	if len(ads) == 1 {
		if a, ok := w.single[ads[0]]; ok {
			return a[b2i(ibgp)]
		}
	}
	return mergeAttrs(ads, ibgp)
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// mergeAttrs merges the advertisements' attributes: the union of their
// communities, and towards iBGP peers the highest localPref.
func mergeAttrs(ads []*config.BGPAdvertisement, ibgp bool) Attrs {
	var a Attrs
	for _, ad := range ads {
		for _, c := range ad.Communities {
			if c.Large {
				a.LargeCommunities = append(a.LargeCommunities, LargeCommunity{c.GlobalAdmin, c.LocalData1, c.LocalData2})
			} else {
				a.Communities = append(a.Communities, c.Standard)
			}
		}
		if ibgp && ad.LocalPref > a.LocalPref {
			a.LocalPref, a.HasLocalPref = ad.LocalPref, true
		}
	}
	slices.Sort(a.Communities)
	a.Communities = slices.Clip(slices.Compact(a.Communities))
	slices.SortFunc(a.LargeCommunities, func(x, y LargeCommunity) int {
		return cmp.Or(cmp.Compare(x.GlobalAdmin, y.GlobalAdmin), cmp.Compare(x.LocalData1, y.LocalData1), cmp.Compare(x.LocalData2, y.LocalData2))
	})
	a.LargeCommunities = slices.Clip(slices.Compact(a.LargeCommunities))
	return a
}

// localPrefConflict returns the advertisements' local preferences when
// they differ, or nil when they agree.
func localPrefConflict(ads []*config.BGPAdvertisement) []AdvertisementPref {
	for _, ad := range ads[1:] {
		if ad.LocalPref != ads[0].LocalPref {
			out := make([]AdvertisementPref, len(ads))
			for i, ad := range ads {
				out[i] = AdvertisementPref{ad.Name, ad.LocalPref}
			}
			return out
		}
	}
	return nil
}

// nodeInfo is what the planner derives from one Node under the current
// Config.
type nodeInfo struct {
	Node
	announces bool
	// sessions are the peers whose nodeSelectors select the node, by name.
	sessions []*config.Peer
	bgpAds   map[*config.BGPAdvertisement]bool
	// l2Ads maps every L2Advertisement that selects the node to the summed
	// weight of its preferredNodeSelectors that match the node.
	l2Ads map[*config.L2Advertisement]int64
}

func newNodeInfo(n Node, w *world) *nodeInfo {
	ni := &nodeInfo{Node: n, announces: n.Announces(),
		bgpAds: map[*config.BGPAdvertisement]bool{}, l2Ads: map[*config.L2Advertisement]int64{}}
	if w.cfg == nil {
		return ni
	}
	set := labels.Set(n.Labels)
	for _, p := range w.cfg.Peers {
		if p.Nodes.Matches(set) {
			ni.sessions = append(ni.sessions, p)
		}
	}
	for _, ad := range w.cfg.BGPAdvertisements {
		if ad.Nodes.Matches(set) {
			ni.bgpAds[ad] = true
		}
	}
	for _, ad := range w.cfg.L2Advertisements {
		if !ad.Nodes.Matches(set) {
			continue
		}
		var weight int64
		for _, pn := range ad.PreferredNodes {
			if pn.Selector.Matches(set) {
				weight += int64(pn.Weight)
			}
		}
		ni.l2Ads[ad] = weight
	}
	return ni
}

// svcInfo is what the planner keeps of one Service: its input reduced to
// what decisions read.
type svcInfo struct {
	key    ServiceKey
	labels labels.Set
	ips    []netip.Addr
	local  bool
	// anyServing is set when some endpoint serves; servingNodes are the
	// nodes with a serving endpoint, sorted, kept for Local Services only.
	anyServing   bool
	servingNodes []string
}

func newSvcInfo(s Service) *svcInfo {
	si := &svcInfo{key: s.Key, labels: labels.Set(s.Labels), local: s.TrafficPolicy == Local}
	for _, ip := range s.IPs {
		if ip.IsValid() {
			si.ips = append(si.ips, ip.Unmap().WithZone(""))
		}
	}
	slices.SortFunc(si.ips, netip.Addr.Compare)
	si.ips = slices.Compact(si.ips)
	for _, e := range s.Endpoints {
		if !e.Serves() {
			continue
		}
		si.anyServing = true
		// Only Local reads which nodes serve; a Cluster Service's list
		// would be one more slice per Service for nothing.
		if si.local && e.Node != "" {
			si.servingNodes = append(si.servingNodes, e.Node)
		}
	}
	slices.Sort(si.servingNodes)
	si.servingNodes = slices.Compact(si.servingNodes)
	return si
}

// announcedOn reports whether the Service's endpoints let node announce it:
// a serving endpoint on that node for Local, any serving endpoint for
// Cluster.
func (s *svcInfo) announcedOn(node string) bool {
	if s.local {
		_, ok := slices.BinarySearch(s.servingNodes, node)
		return ok
	}
	return s.anyServing
}

func selectsService(sels []labels.Selector, set labels.Set) bool {
	if len(sels) == 0 {
		return true
	}
	for _, s := range sels {
		if s.Matches(set) {
			return true
		}
	}
	return false
}

func hasPeer(ad *config.BGPAdvertisement, peer string) bool {
	if ad.AllPeers {
		return true
	}
	_, ok := slices.BinarySearch(ad.Peers, peer)
	return ok
}

// prefixFor is ip aggregated to the advertisement's length for its family.
func prefixFor(ip netip.Addr, ad *config.BGPAdvertisement) netip.Prefix {
	bits := ad.AggregationLength
	if ip.Is6() {
		bits = ad.AggregationLengthV6
	}
	p, _ := ip.Prefix(bits) // config bounds the lengths to the family
	return p
}

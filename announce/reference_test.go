package announce

import (
	"bytes"
	"cmp"
	"crypto/sha256"
	"maps"
	"net/netip"
	"slices"

	"github.com/heraldlb/herald/config"
	"k8s.io/apimachinery/pkg/labels"
)

// refPlan is the reference planner for the property tests: every decision
// of doc.go made again from scratch, by loops over everything, in the order
// the rules are written. It shares nothing with the planner but the output
// types and config's own matching methods.
func refPlan(in Input) Plan {
	var out Plan
	cfg := in.Config
	if cfg == nil {
		return out
	}
	nodes := map[string]Node{}
	for _, n := range in.Nodes {
		nodes[n.Name] = n
	}
	// Later Services of one key replace earlier ones, as SetService does.
	services := map[ServiceKey]Service{}
	for _, s := range in.Services {
		services[s.Key] = s
	}
	svcs := slices.SortedFunc(maps.Values(services), func(a, b Service) int {
		return cmp.Or(cmp.Compare(a.Key.Namespace, b.Key.Namespace), cmp.Compare(a.Key.Name, b.Key.Name))
	})

	for _, name := range slices.Sorted(maps.Keys(nodes)) {
		n := nodes[name]
		for _, peer := range cfg.Peers {
			if !peer.Nodes.Matches(labels.Set(n.Labels)) {
				continue
			}
			pp := PeerPlan{Node: name, Peer: peer.Name}
			adsOf := map[netip.Prefix]map[string]*config.BGPAdvertisement{}
			for _, s := range svcs {
				if !refNodeMayAnnounce(n) || !refEndpointsAllow(s, name) {
					continue
				}
				for _, addr := range refIPs(s) {
					pool := refPoolOf(cfg, addr)
					if pool == nil {
						continue
					}
					for _, ad := range cfg.BGPAdvertisements {
						if !slices.Contains(ad.Pools, pool.Name) || !ad.Nodes.Matches(labels.Set(n.Labels)) ||
							!refSelects(ad.ServiceSelectors, s.Labels) || !(ad.AllPeers || slices.Contains(ad.Peers, peer.Name)) {
							continue
						}
						bits := ad.AggregationLength
						if addr.Is6() {
							bits = ad.AggregationLengthV6
						}
						pfx := netip.PrefixFrom(addr, bits).Masked()
						if adsOf[pfx] == nil {
							adsOf[pfx] = map[string]*config.BGPAdvertisement{}
						}
						adsOf[pfx][ad.Name] = ad
					}
				}
			}
			for pfx, ads := range adsOf {
				attrs, conflict := refAttrs(ads, refIBGP(peer))
				pp.Routes = append(pp.Routes, Route{pfx, attrs})
				if conflict != nil {
					conflict.Node, conflict.Peer, conflict.Prefix = name, peer.Name, pfx
					out.Conflicts = append(out.Conflicts, *conflict)
				}
			}
			slices.SortFunc(pp.Routes, func(a, b Route) int {
				return cmp.Or(a.Prefix.Addr().Compare(b.Prefix.Addr()), cmp.Compare(a.Prefix.Bits(), b.Prefix.Bits()))
			})
			out.BGP = append(out.BGP, pp)
		}
	}
	slices.SortFunc(out.Conflicts, func(a, b LocalPrefConflict) int {
		return cmp.Or(cmp.Compare(a.Node, b.Node), cmp.Compare(a.Peer, b.Peer),
			a.Prefix.Addr().Compare(b.Prefix.Addr()), cmp.Compare(a.Prefix.Bits(), b.Prefix.Bits()))
	})

	// L2: every IP of every Service, once.
	holders := map[netip.Addr][]Service{}
	for _, s := range svcs {
		for _, addr := range refIPs(s) {
			holders[addr] = append(holders[addr], s)
		}
	}
	for _, addr := range slices.SortedFunc(maps.Keys(holders), netip.Addr.Compare) {
		pool := refPoolOf(cfg, addr)
		if pool == nil {
			continue
		}
		adsFor := func(s Service) []*config.L2Advertisement {
			var ads []*config.L2Advertisement
			for _, ad := range cfg.L2Advertisements {
				if slices.Contains(ad.Pools, pool.Name) && refSelects(ad.ServiceSelectors, s.Labels) {
					ads = append(ads, ad)
				}
			}
			return ads
		}
		wanted := false
		for _, s := range holders[addr] {
			wanted = wanted || len(adsFor(s)) > 0
		}
		if !wanted {
			continue
		}
		type cand struct {
			node     string
			services int
			weight   int64
			hash     [32]byte
			anyIface bool
			ifaces   []string
		}
		var cands []cand
		for _, sp := range in.Speakers {
			n, known := nodes[sp.Node]
			if !known || !refNodeMayAnnounce(n) {
				continue
			}
			set := labels.Set(n.Labels)
			c := cand{node: sp.Node, hash: sha256.Sum256([]byte(sp.Node + "#" + addr.String()))}
			weighed := map[string]bool{}
			for _, s := range holders[addr] {
				var selecting []*config.L2Advertisement
				for _, ad := range adsFor(s) {
					if ad.Nodes.Matches(set) {
						selecting = append(selecting, ad)
					}
				}
				for _, ad := range selecting {
					if weighed[ad.Name] {
						continue
					}
					weighed[ad.Name] = true
					for _, pn := range ad.PreferredNodes {
						if pn.Selector.Matches(set) {
							c.weight += int64(pn.Weight)
						}
					}
				}
				if len(selecting) == 0 || !refEndpointsAllow(s, sp.Node) {
					continue
				}
				anyIface := false
				var allowed []string
				for _, ad := range selecting {
					anyIface = anyIface || len(ad.Interfaces) == 0
					allowed = append(allowed, ad.Interfaces...)
				}
				usable := false
				for _, i := range sp.Interfaces {
					usable = usable || anyIface || slices.Contains(allowed, i)
				}
				if !usable {
					continue
				}
				c.services++
				c.anyIface = c.anyIface || anyIface
				c.ifaces = append(c.ifaces, allowed...)
			}
			if c.services > 0 {
				cands = append(cands, c)
			}
		}
		slices.SortFunc(cands, func(a, b cand) int {
			return cmp.Or(-cmp.Compare(a.services, b.services), -cmp.Compare(a.weight, b.weight), bytes.Compare(a.hash[:], b.hash[:]))
		})
		a := L2Assignment{IP: addr}
		for _, c := range cands {
			a.Candidates = append(a.Candidates, c.node)
		}
		if len(cands) > 0 {
			a.Owner.Node = cands[0].node
			if !cands[0].anyIface {
				a.Owner.Interfaces = slices.Compact(slices.Sorted(slices.Values(cands[0].ifaces)))
			}
		}
		out.L2 = append(out.L2, a)
	}
	return out
}

func refNodeMayAnnounce(n Node) bool {
	_, excluded := n.Labels["node.kubernetes.io/exclude-from-external-load-balancers"]
	return !excluded && !n.NetworkUnavailable && !n.Unschedulable
}

// refServes follows the EndpointSlice API's words: serving, when set, says
// whether the endpoint takes traffic; when it is not, defer to ready, whose
// absence means ready.
func refServes(e Endpoint) bool {
	switch e.Serving {
	case True:
		return true
	case False:
		return false
	}
	return e.Ready != False
}

func refEndpointsAllow(s Service, node string) bool {
	for _, e := range s.Endpoints {
		if refServes(e) && (s.TrafficPolicy == Cluster || e.Node == node) {
			return true
		}
	}
	return false
}

func refIPs(s Service) []netip.Addr {
	var out []netip.Addr
	for _, a := range s.IPs {
		if a.IsValid() && !slices.Contains(out, a.Unmap()) {
			out = append(out, a.Unmap())
		}
	}
	return out
}

func refPoolOf(cfg *config.Config, a netip.Addr) *config.Pool {
	for _, p := range cfg.Pools {
		if p.Contains(a) {
			return p
		}
	}
	return nil
}

func refSelects(sels []labels.Selector, l map[string]string) bool {
	if len(sels) == 0 {
		return true
	}
	for _, s := range sels {
		if s.Matches(labels.Set(l)) {
			return true
		}
	}
	return false
}

func refAttrs(ads map[string]*config.BGPAdvertisement, ibgp bool) (Attrs, *LocalPrefConflict) {
	var a Attrs
	std := map[uint32]bool{}
	large := map[LargeCommunity]bool{}
	prefs := map[uint32]bool{}
	for _, ad := range ads {
		for _, c := range ad.Communities {
			if c.Large {
				large[LargeCommunity{c.GlobalAdmin, c.LocalData1, c.LocalData2}] = true
			} else {
				std[c.Standard] = true
			}
		}
		prefs[ad.LocalPref] = true
	}
	a.Communities = slices.Sorted(maps.Keys(std))
	a.LargeCommunities = slices.SortedFunc(maps.Keys(large), func(x, y LargeCommunity) int {
		return cmp.Or(cmp.Compare(x.GlobalAdmin, y.GlobalAdmin), cmp.Compare(x.LocalData1, y.LocalData1), cmp.Compare(x.LocalData2, y.LocalData2))
	})
	if !ibgp {
		return a, nil
	}
	a.LocalPref = slices.Max(slices.Collect(maps.Keys(prefs)))
	a.HasLocalPref = a.LocalPref > 0
	if len(prefs) == 1 {
		return a, nil
	}
	c := &LocalPrefConflict{Chosen: a.LocalPref}
	for _, name := range slices.Sorted(maps.Keys(ads)) {
		c.Advertisements = append(c.Advertisements, AdvertisementPref{name, ads[name].LocalPref})
	}
	return a, c
}

// refIBGP is the kind of session as the OPEN messages make it, worked out
// here rather than by config.Peer.IBGP: internal when the peer's AS is the
// one this end presents (localASN if set, else myASN), or as dynamicASN says.
func refIBGP(p *config.Peer) bool {
	switch p.DynamicASN {
	case "internal":
		return true
	case "external":
		return false
	}
	presented := p.MyASN
	if p.LocalASN != 0 {
		presented = p.LocalASN
	}
	return p.ASN == presented
}

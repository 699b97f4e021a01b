package config

import (
	"cmp"
	"slices"
	"strings"

	"github.com/heraldlb/herald/api/v1beta1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// selectPools resolves an advertisement's pool selection: pools named in
// ipAddressPools plus pools matched by ipAddressPoolSelectors, or every
// pool when neither is set. Naming a missing pool, or a selector that
// matches no pool, is an error: such an advertisement announces nothing
// it was meant to, silently.
func selectPools(r ref, names []string, selectors []metav1.LabelSelector, c *Config, d *diagnostics) []string {
	if len(names) == 0 && len(selectors) == 0 {
		out := make([]string, len(c.Pools))
		for i, p := range c.Pools {
			out[i] = p.Name
		}
		return out
	}
	checkDuplicates(r, "spec.ipAddressPools", names, d)
	compileSelectors(r, "spec.ipAddressPoolSelectors", selectors, d) // reports invalid and repeated selectors
	var out []string
	for i, n := range names {
		if _, ok := c.pools[n]; !ok {
			d.errorf(r, index("spec.ipAddressPools", i), "%q: %w", n, ErrUnknownPool)
			continue
		}
		out = append(out, n)
	}
	for i := range selectors {
		s, err := metav1.LabelSelectorAsSelector(&selectors[i])
		if err != nil {
			continue // reported above
		}
		matched := false
		for _, p := range c.Pools {
			if s.Matches(labels.Set(p.Labels)) {
				out = append(out, p.Name)
				matched = true
			}
		}
		if !matched {
			d.errorf(r, index("spec.ipAddressPoolSelectors", i), "%q: %w", s.String(), ErrNoPoolSelected)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

func compileL2Advertisements(in Input, c *Config, d *diagnostics) []*L2Advertisement {
	seen := map[string]bool{}
	var out []*L2Advertisement
	for _, obj := range in.L2Advertisements {
		r := ref{"L2Advertisement", obj.Namespace, obj.Name}
		if !checkName(r, seen, d) {
			continue
		}
		s := obj.Spec
		a := &L2Advertisement{
			Name: obj.Name, Namespace: obj.Namespace,
			Pools:            selectPools(r, s.IPAddressPools, s.IPAddressPoolSelectors, c, d),
			Nodes:            compileNodeSelection(r, "spec.nodeSelectors", s.NodeSelectors, in.Nodes, d),
			Interfaces:       s.Interfaces,
			ServiceSelectors: compileSelectors(r, "spec.serviceSelectors", s.ServiceSelectors, d),
		}
		checkDuplicates(r, "spec.interfaces", s.Interfaces, d)
		for i, ifc := range s.Interfaces {
			if ifc == "" || strings.ContainsAny(ifc, "/ \t\r\n") || len(ifc) > 15 {
				d.errorf(r, index("spec.interfaces", i), "%q: %w: not a Linux interface name", ifc, ErrInvalidValue)
			}
		}
		for i, pn := range s.PreferredNodeSelectors {
			f := index("spec.preferredNodeSelectors", i)
			if pn.Weight < 1 || pn.Weight > 100 {
				d.errorf(r, f+".weight", "%d: %w: must be 1 to 100", pn.Weight, ErrOutOfRange)
			}
			sel, err := metav1.LabelSelectorAsSelector(&pn.Preference)
			if err != nil {
				d.errorf(r, f+".preference", "%w: %v", ErrInvalidSelector, err)
				continue
			}
			a.PreferredNodes = append(a.PreferredNodes, PreferredNodes{Weight: pn.Weight, Selector: sel})
		}
		for _, pn := range a.Pools {
			p := c.pools[pn]
			p.L2Advertisements = append(p.L2Advertisements, a)
		}
		out = append(out, a)
	}
	slices.SortFunc(out, func(a, b *L2Advertisement) int { return cmp.Compare(a.Name, b.Name) })
	for _, p := range c.Pools {
		slices.SortFunc(p.L2Advertisements, func(a, b *L2Advertisement) int { return cmp.Compare(a.Name, b.Name) })
	}
	return out
}

func compileBGPAdvertisements(in Input, c *Config, d *diagnostics) []*BGPAdvertisement {
	seen := map[string]bool{}
	var out []*BGPAdvertisement
	for _, obj := range in.BGPAdvertisements {
		r := ref{"BGPAdvertisement", obj.Namespace, obj.Name}
		if !checkName(r, seen, d) {
			continue
		}
		a := compileBGPAdvertisement(r, obj.Spec, in, c, d)
		for _, pn := range a.Pools {
			p := c.pools[pn]
			p.BGPAdvertisements = append(p.BGPAdvertisements, a)
		}
		out = append(out, a)
	}
	slices.SortFunc(out, func(a, b *BGPAdvertisement) int { return cmp.Compare(a.Name, b.Name) })
	for _, p := range c.Pools {
		slices.SortFunc(p.BGPAdvertisements, func(a, b *BGPAdvertisement) int { return cmp.Compare(a.Name, b.Name) })
	}
	return out
}

func compileBGPAdvertisement(r ref, s v1beta1.BGPAdvertisementSpec, in Input, c *Config, d *diagnostics) *BGPAdvertisement {
	a := &BGPAdvertisement{
		Name: r.Name, Namespace: r.Namespace,
		Pools:               selectPools(r, s.IPAddressPools, s.IPAddressPoolSelectors, c, d),
		AggregationLength:   32,
		AggregationLengthV6: 128,
		LocalPref:           s.LocalPref,
		ServiceSelectors:    compileSelectors(r, "spec.serviceSelectors", s.ServiceSelectors, d),
	}
	if s.AggregationLength != nil {
		a.AggregationLength = int(*s.AggregationLength)
		if a.AggregationLength < 1 || a.AggregationLength > 32 {
			d.errorf(r, "spec.aggregationLength", "%d: %w: must be 1 to 32", a.AggregationLength, ErrOutOfRange)
		}
	}
	if s.AggregationLengthV6 != nil {
		a.AggregationLengthV6 = int(*s.AggregationLengthV6)
		if a.AggregationLengthV6 < 1 || a.AggregationLengthV6 > 128 {
			d.errorf(r, "spec.aggregationLengthV6", "%d: %w: must be 1 to 128", a.AggregationLengthV6, ErrOutOfRange)
		}
	}
	// An aggregate is announced while any Service of the pool has an
	// address in it, so it cannot depend on which Services are selected.
	if len(s.ServiceSelectors) > 0 {
		if a.AggregationLength != 32 {
			d.errorf(r, "spec.aggregationLength", "%w: serviceSelectors and an aggregationLength other than 32", ErrMutuallyExclusive)
		}
		if a.AggregationLengthV6 != 128 {
			d.errorf(r, "spec.aggregationLengthV6", "%w: serviceSelectors and an aggregationLengthV6 other than 128", ErrMutuallyExclusive)
		}
	}

	checkDuplicates(r, "spec.communities", s.Communities, d)
	for i, cs := range s.Communities {
		v, err := resolveCommunity(cs, c.Communities)
		if err != nil {
			d.errorf(r, index("spec.communities", i), "%q: %w", cs, err)
			continue
		}
		if !slices.Contains(a.Communities, v) {
			a.Communities = append(a.Communities, v)
		}
	}

	nodeSelectors := s.NodeSelectors
	if len(s.NodeSelector) > 0 {
		d.warnf(r, "spec.nodeSelector", "read as spec.nodeSelectors (the documented name), merged with it")
		nodeSelectors = append(slices.Clone(s.NodeSelectors), s.NodeSelector...)
	}
	a.Nodes = compileNodeSelection(r, "spec.nodeSelectors", nodeSelectors, in.Nodes, d)

	checkDuplicates(r, "spec.peers", s.Peers, d)
	a.AllPeers = len(s.Peers) == 0
	for i, pn := range s.Peers {
		if _, ok := c.peers[pn]; !ok {
			d.errorf(r, index("spec.peers", i), "%q: %w", pn, ErrUnknownPeer)
			continue
		}
		a.Peers = append(a.Peers, pn)
	}
	if a.AllPeers {
		for _, p := range c.Peers {
			a.Peers = append(a.Peers, p.Name)
		}
		if len(c.Peers) == 0 {
			d.warnWhole(r, "there is no BGPPeer: nothing is announced over BGP")
		}
	}
	slices.Sort(a.Peers)
	a.Peers = slices.Compact(a.Peers)

	if a.LocalPref != 0 && len(a.Peers) > 0 && !slices.ContainsFunc(a.Peers, func(n string) bool { return c.peers[n].IBGP() }) {
		d.warnf(r, "spec.localPref", "has no effect: LOCAL_PREF is sent to iBGP peers only, and every peer of this advertisement is eBGP")
	}
	return a
}

// checkAdvertisementsPerPool applies the rules that tie a BGPAdvertisement
// to the pools it selects.
//
// Aggregation: an aggregate shorter than a pool entry's largest CIDR
// block would cover addresses outside the pool, so it is refused (as
// MetalLB does, ranges counting by the CIDR blocks that make them up).
//
// Local preference: two advertisements of one pool conflict when a peer
// could receive the same prefix from the same node with two LOCAL_PREFs.
// Precisely, advertisements A and B, both selecting pool P, conflict when
// their localPref differ, neither has serviceSelectors (then which
// Services each covers is not known here), for some address family P has
// both use the same aggregation length (so the same prefix), their peers
// intersect (an empty list means all) and their node selections overlap
// (see selectionsOverlap). The later one by name is reported.
func checkAdvertisementsPerPool(c *Config, nodes []corev1.Node, d *diagnostics) {
	known := len(nodes) > 0
	reported := map[[2]*BGPAdvertisement]bool{}
	for _, p := range c.Pools {
		for j, b := range p.BGPAdvertisements {
			checkAggregation(p, b, d)
			for _, a := range p.BGPAdvertisements[:j] {
				if reported[[2]*BGPAdvertisement{a, b}] || !localPrefsConflict(p, a, b, known) {
					continue
				}
				reported[[2]*BGPAdvertisement{a, b}] = true
				d.errorf(ref{"BGPAdvertisement", b.Namespace, b.Name}, "spec.localPref",
					"%d: %w: BGPAdvertisement %s sends the same prefixes of IPAddressPool %s to the same peers from the same nodes with localPref %d",
					b.LocalPref, ErrLocalPrefConflict, ObjectName(a.Namespace, a.Name), ObjectName(p.Namespace, p.Name), a.LocalPref)
			}
		}
	}
}

func checkAggregation(p *Pool, a *BGPAdvertisement, d *diagnostics) {
	r := ref{"BGPAdvertisement", a.Namespace, a.Name}
	done4, done6 := false, false
	for _, ar := range p.Ranges {
		field, length, done := "spec.aggregationLength", a.AggregationLength, &done4
		if ar.Is6() {
			field, length, done = "spec.aggregationLengthV6", a.AggregationLengthV6, &done6
		}
		if *done || length >= ar.ShortestPrefixLen() {
			continue
		}
		*done = true
		d.errorf(r, field, "%d: %w: IPAddressPool %s has %s, whose largest block is a /%d; the aggregate would cover addresses outside the pool",
			length, ErrAggregationLength, ObjectName(p.Namespace, p.Name), ar.String(), ar.ShortestPrefixLen())
	}
}

func localPrefsConflict(p *Pool, a, b *BGPAdvertisement, nodesKnown bool) bool {
	if a.LocalPref == b.LocalPref || len(a.ServiceSelectors) > 0 || len(b.ServiceSelectors) > 0 {
		return false
	}
	samePrefix := (p.HasIPv4() && a.AggregationLength == b.AggregationLength) ||
		(p.HasIPv6() && a.AggregationLengthV6 == b.AggregationLengthV6)
	if !samePrefix {
		return false
	}
	sharedPeer := slices.ContainsFunc(a.Peers, func(n string) bool { _, ok := slices.BinarySearch(b.Peers, n); return ok })
	// With no BGPPeer objects at all, AllPeers advertisements have empty
	// lists; they would still meet on any peer added later.
	if !sharedPeer && !(a.AllPeers && b.AllPeers) {
		return false
	}
	return selectionsOverlap(a.Nodes, b.Nodes, nodesKnown)
}

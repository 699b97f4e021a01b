package config

import (
	"cmp"
	"net/netip"
	"slices"

	"github.com/heraldlb/herald/api/v1beta1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// entryOwner locates one spec.addresses entry, for overlap reports.
type entryOwner struct {
	pool  *Pool
	index int
	r     AddrRange
}

func compilePools(in Input, d *diagnostics) []*Pool {
	seen := map[string]bool{}
	var pools []*Pool
	for _, obj := range in.IPAddressPools {
		r := ref{"IPAddressPool", obj.Namespace, obj.Name}
		if !checkName(r, seen, d) {
			continue
		}
		p := &Pool{
			Name:          obj.Name,
			Namespace:     obj.Namespace,
			Labels:        obj.Labels,
			AutoAssign:    obj.Spec.AutoAssign == nil || *obj.Spec.AutoAssign,
			AvoidBuggyIPs: obj.Spec.AvoidBuggyIPs,
		}
		if len(obj.Spec.Addresses) == 0 {
			d.errorf(r, "spec.addresses", "%w: a pool needs at least one CIDR or range", ErrRequired)
		}
		for i, s := range obj.Spec.Addresses {
			ar, err := ParseAddressRange(s)
			if err != nil {
				d.errorf(r, index("spec.addresses", i), "%q: %w", s, err)
				// Keep indexes aligned with spec.addresses.
				ar = AddrRange{}
			} else if written, _ := netip.ParsePrefix(s); written.IsValid() && written.Addr() != ar.First {
				d.warnf(r, index("spec.addresses", i), "%q has host bits set; read as %s", s, ar.Prefix)
			}
			p.Ranges = append(p.Ranges, ar)
		}
		p.Allocation = compileServiceAllocation(r, obj.Spec.AllocateTo, in.Namespaces, d)
		pools = append(pools, p)
	}
	checkPoolOverlaps(pools, d)
	for _, p := range pools {
		p.Ranges = slices.DeleteFunc(p.Ranges, func(r AddrRange) bool { return !r.First.IsValid() })
	}
	slices.SortFunc(pools, func(a, b *Pool) int { return cmp.Compare(a.Name, b.Name) })
	return pools
}

// checkPoolOverlaps finds every entry that shares an address with an
// entry of the same or another pool, sweeping the entries in address
// order. The entry reported is the later one in (pool name, index) order,
// so the message is the same whatever order the objects came in.
func checkPoolOverlaps(pools []*Pool, d *diagnostics) {
	var entries []entryOwner
	for _, p := range pools {
		for i, r := range p.Ranges {
			if r.First.IsValid() {
				entries = append(entries, entryOwner{p, i, r})
			}
		}
	}
	before := func(a, b entryOwner) bool {
		return a.pool.Name < b.pool.Name || (a.pool.Name == b.pool.Name && a.index < b.index)
	}
	slices.SortFunc(entries, func(a, b entryOwner) int {
		return cmp.Or(cmp.Compare(a.r.First.BitLen(), b.r.First.BitLen()), a.r.First.Compare(b.r.First))
	})
	var reach entryOwner // the entry seen so far that ends last
	for i, e := range entries {
		if i > 0 && reach.r.Overlaps(e.r) {
			later, earlier := e, reach
			if before(e, reach) {
				later, earlier = reach, e
			}
			where := "IPAddressPool " + ObjectName(earlier.pool.Namespace, earlier.pool.Name) + " " + index("spec.addresses", earlier.index)
			if earlier.pool == later.pool {
				where = index("spec.addresses", earlier.index) + " of the same pool"
			}
			d.errorf(ref{"IPAddressPool", later.pool.Namespace, later.pool.Name}, index("spec.addresses", later.index),
				"%q: %w: %s (%s)", later.r.String(), ErrOverlap, earlier.r.String(), where)
		}
		if i == 0 || reach.r.First.BitLen() != e.r.First.BitLen() || reach.r.Last.Less(e.r.Last) {
			reach = e
		}
	}
}

// warnUnannounced points out pools no advertisement selects: their
// addresses are handed to Services but nobody answers for them.
func warnUnannounced(c *Config, d *diagnostics) {
	for _, p := range c.Pools {
		if len(p.L2Advertisements) == 0 && len(p.BGPAdvertisements) == 0 {
			d.warnWhole(ref{"IPAddressPool", p.Namespace, p.Name},
				"no L2Advertisement or BGPAdvertisement selects this pool: its addresses are assigned but not announced")
		}
	}
}

func compileServiceAllocation(r ref, in *v1beta1.ServiceAllocation, namespaces []corev1.Namespace, d *diagnostics) *ServiceAllocation {
	if in == nil {
		return nil
	}
	a := &ServiceAllocation{Priority: in.Priority}
	if in.Priority < 0 {
		d.errorf(r, "spec.serviceAllocation.priority", "%d: %w: must be 0 or more", in.Priority, ErrOutOfRange)
	}
	checkDuplicates(r, "spec.serviceAllocation.namespaces", in.Namespaces, d)
	a.NamedNamespaces = slices.Sorted(slices.Values(in.Namespaces))
	a.Namespaces = append(a.Namespaces, in.Namespaces...)
	a.NamespaceSelectors = compileSelectors(r, "spec.serviceAllocation.namespaceSelectors", in.NamespaceSelectors, d)
	a.ServiceSelectors = compileSelectors(r, "spec.serviceAllocation.serviceSelectors", in.ServiceSelectors, d)
	for _, ns := range namespaces {
		if anyMatches(a.NamespaceSelectors, labels.Set(ns.Labels)) {
			a.Namespaces = append(a.Namespaces, ns.Name)
		}
	}
	slices.Sort(a.Namespaces)
	a.Namespaces = slices.Compact(a.Namespaces)
	return a
}

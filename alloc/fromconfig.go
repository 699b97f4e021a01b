package alloc

import (
	"slices"
	"strings"

	"github.com/heraldlb/herald/config"
)

// PoolsFromConfig converts a compiled configuration's pools for the
// allocator, sorted by name. Namespaces come from the objects as written,
// not from the compiled list, which also holds the namespaces the selectors
// matched at compile time: the allocator matches selectors itself against
// the Namespace's current labels, so a relabelled Namespace is judged by its
// labels of now.
func PoolsFromConfig(cfg *config.Config, in config.Input) []Pool {
	explicit := map[string][]string{}
	for _, p := range in.IPAddressPools {
		if p.Spec.AllocateTo != nil {
			explicit[p.Name] = slices.Clone(p.Spec.AllocateTo.Namespaces)
		}
	}
	out := make([]Pool, 0, len(cfg.Pools))
	for _, p := range cfg.Pools {
		ap := Pool{Name: p.Name, AutoAssign: p.AutoAssign, AvoidBuggyIPs: p.AvoidBuggyIPs}
		for _, r := range p.Ranges {
			ap.Ranges = append(ap.Ranges, Range{First: r.First, Last: r.Last})
		}
		if p.Allocation != nil {
			ap.Allocation = &ServiceAllocation{
				Priority:           p.Allocation.Priority,
				Namespaces:         explicit[p.Name],
				NamespaceSelectors: p.Allocation.NamespaceSelectors,
				ServiceSelectors:   p.Allocation.ServiceSelectors,
			}
		}
		out = append(out, ap)
	}
	slices.SortFunc(out, func(a, b Pool) int { return strings.Compare(a.Name, b.Name) })
	return out
}

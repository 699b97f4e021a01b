package alloc

import (
	"slices"
	"strings"

	"github.com/heraldlb/herald/config"
)

// PoolsFromConfig converts a compiled configuration's pools for the
// allocator, sorted by name. Namespaces are those named, not those the
// selectors matched at compile time: the allocator matches selectors itself
// against the Namespace's current labels, so a relabelled Namespace is
// judged by its labels of now.
func PoolsFromConfig(cfg *config.Config) []Pool {
	out := make([]Pool, 0, len(cfg.Pools))
	for _, p := range cfg.Pools {
		ap := Pool{Name: p.Name, AutoAssign: p.AutoAssign, AvoidBuggyIPs: p.AvoidBuggyIPs}
		for _, r := range p.Ranges {
			ap.Ranges = append(ap.Ranges, Range{First: r.First, Last: r.Last})
		}
		if p.Allocation != nil {
			ap.Allocation = &ServiceAllocation{
				Priority:           p.Allocation.Priority,
				Namespaces:         p.Allocation.NamedNamespaces,
				NamespaceSelectors: p.Allocation.NamespaceSelectors,
				ServiceSelectors:   p.Allocation.ServiceSelectors,
			}
		}
		out = append(out, ap)
	}
	slices.SortFunc(out, func(a, b Pool) int { return strings.Compare(a.Name, b.Name) })
	return out
}

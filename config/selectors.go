package config

import (
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/validation"
)

// checkName validates an object's name and records it in seen. It returns
// false when the object must be skipped: a second object of one kind with
// one name would make every reference to that name ambiguous.
func checkName(r ref, seen map[string]bool, d *diagnostics) bool {
	if r.Name == "" {
		d.errorf(r, "metadata.name", "%w", ErrRequired)
		return false
	}
	if msgs := validation.IsDNS1123Subdomain(r.Name); len(msgs) > 0 {
		d.errorf(r, "metadata.name", "%q: %w: %s", r.Name, ErrInvalidName, strings.Join(msgs, "; "))
	}
	if seen[r.Name] {
		d.errorf(r, "metadata.name", "%q: %w", r.Name, ErrDuplicateName)
		return false
	}
	seen[r.Name] = true
	return true
}

// compileSelectors compiles label selectors, rejecting invalid and
// repeated ones (a repeated selector is harmless but always a mistake).
func compileSelectors(r ref, field string, in []metav1.LabelSelector, d *diagnostics) []labels.Selector {
	var out []labels.Selector
	seen := map[string]int{}
	for i := range in {
		f := index(field, i)
		s, err := metav1.LabelSelectorAsSelector(&in[i])
		if err != nil {
			d.errorf(r, f, "%w: %v", ErrInvalidSelector, err)
			continue
		}
		key := s.String()
		if j, dup := seen[key]; dup {
			d.errorf(r, f, "%w: same selector as %s", ErrDuplicateEntry, index(field, j))
			continue
		}
		seen[key] = i
		out = append(out, s)
	}
	return out
}

func compileNodeSelection(r ref, field string, in []metav1.LabelSelector, nodes []corev1.Node, d *diagnostics) NodeSelection {
	s := NodeSelection{Selectors: compileSelectors(r, field, in, d)}
	if len(in) > 0 && len(s.Selectors) == 0 {
		// Every selector was invalid: select nothing rather than everything.
		s.Selectors = []labels.Selector{labels.Nothing()}
	}
	for _, n := range nodes {
		if s.Matches(n.Labels) {
			s.Nodes = append(s.Nodes, n.Name)
		}
	}
	slices.Sort(s.Nodes)
	return s
}

func anyMatches(sels []labels.Selector, set labels.Set) bool {
	return slices.ContainsFunc(sels, func(s labels.Selector) bool { return s.Matches(set) })
}

// checkDuplicates reports repeated entries of a list of names.
func checkDuplicates(r ref, field string, list []string, d *diagnostics) {
	first := map[string]int{}
	for i, s := range list {
		if j, dup := first[s]; dup {
			d.errorf(r, index(field, i), "%q: %w: same as %s", s, ErrDuplicateEntry, index(field, j))
			continue
		}
		first[s] = i
	}
}

// selectionsOverlap reports whether some node may be selected by both a
// and b. With Nodes known it is exact. Without them (`herald validate` on
// files) it assumes overlap when either selects every node or both share a
// selector, and no overlap otherwise: disjoint-looking selectors are the
// usual way to split nodes between peers.
func selectionsOverlap(a, b NodeSelection, nodesKnown bool) bool {
	if nodesKnown {
		for _, n := range a.Nodes {
			if _, ok := slices.BinarySearch(b.Nodes, n); ok {
				return true
			}
		}
		return false
	}
	if a.All() || b.All() {
		return true
	}
	for _, sa := range a.Selectors {
		for _, sb := range b.Selectors {
			if sa.String() == sb.String() {
				return true
			}
		}
	}
	return false
}

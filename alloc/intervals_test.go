package alloc

import (
	"testing"

	"pgregory.net/rapid"
)

// checkTree verifies the B+tree's structure: recorded minima are exact,
// intervals are sorted, disjoint and non-adjacent, no node is empty or
// overfull, all leaves are at one depth, and the interval count matches.
func checkTree(t fataler, s *intervalSet) {
	t.Helper()
	if s.empty() {
		if s.intervals != 0 {
			t.Fatalf("empty set counts %d intervals", s.intervals)
		}
		return
	}
	leafDepth := -1
	count := 0
	var prev *interval
	var walk func(n *bnode, depth int)
	walk = func(n *bnode, depth int) {
		if n.leaf {
			if leafDepth >= 0 && leafDepth != depth {
				t.Fatalf("leaves at depths %d and %d", leafDepth, depth)
			}
			leafDepth = depth
			if len(n.ivs) == 0 || len(n.ivs) > leafMax {
				t.Fatalf("leaf with %d intervals", len(n.ivs))
			}
			for i := range n.ivs {
				iv := &n.ivs[i]
				if iv.hi.less(iv.lo) {
					t.Fatalf("interval [%v,%v] reversed", iv.lo, iv.hi)
				}
				if prev != nil && !prev.hi.inc().less(iv.lo) {
					t.Fatalf("intervals [%v,%v] and [%v,%v] overlap or touch", prev.lo, prev.hi, iv.lo, iv.hi)
				}
				prev = iv
				count++
			}
			return
		}
		if len(n.kids) == 0 || len(n.kids) > kidsMax || len(n.kids) != len(n.mins) {
			t.Fatalf("inner node with %d kids, %d minima", len(n.kids), len(n.mins))
		}
		for i, k := range n.kids {
			if n.mins[i] != minOf(k) {
				t.Fatalf("recorded minimum %v, child's is %v", n.mins[i], minOf(k))
			}
			walk(k, depth+1)
		}
	}
	walk(s.root, 0)
	if count != s.intervals {
		t.Fatalf("%d intervals counted, %d recorded", count, s.intervals)
	}
}

// TestIntervalSetAgainstMap runs long random add/remove sequences over a
// few thousand values (enough for leaf and inner splits and collapses) and
// compares membership and lowestAbsent with a map.
func TestIntervalSetAgainstMap(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		var s intervalSet
		ref := map[uint64]bool{}
		span := rapid.SampledFrom([]uint64{100, 2_000, 20_000}).Draw(t, "span")
		lowest := func() uint64 {
			var x uint64
			for ref[x] {
				x++
			}
			return x
		}
		ops := rapid.IntRange(2_000, 6_000).Draw(t, "ops")
		for range ops {
			x := rapid.Uint64Range(0, span).Draw(t, "x")
			if rapid.IntRange(0, 2).Draw(t, "op") < 2 {
				if got := s.add(u64(x)); got == ref[x] {
					t.Fatalf("add(%d) = %v, present %v", x, got, ref[x])
				}
				ref[x] = true
			} else {
				if got := s.remove(u64(x)); got != ref[x] {
					t.Fatalf("remove(%d) = %v, present %v", x, got, ref[x])
				}
				delete(ref, x)
			}
		}
		checkTree(t, &s)
		for x := uint64(0); x <= span+1; x++ {
			if s.contains(u64(x)) != ref[x] {
				t.Fatalf("contains(%d) = %v", x, !ref[x])
			}
		}
		if got := s.lowestAbsent(); got != u64(lowest()) {
			t.Fatalf("lowestAbsent %v, want %d", got, lowest())
		}
		// Drain in random order; the tree must stay valid to the end.
		for len(ref) > 0 {
			for x := range ref {
				s.remove(u64(x))
				delete(ref, x)
				break
			}
			if len(ref)%500 == 0 {
				checkTree(t, &s)
			}
		}
		if !s.empty() {
			t.Fatal("set not empty after removing everything")
		}
	})
}

// Sequential fill then shuffled drain of 100k, as the benchmark does,
// checking structure at milestones.
func TestIntervalSetLarge(t *testing.T) {
	var s intervalSet
	const n = 100_000
	for i := uint64(0); i < n; i += 2 {
		s.add(u64(i))
	}
	checkTree(t, &s)
	if s.intervals != n/2 {
		t.Fatalf("%d intervals, want %d", s.intervals, n/2)
	}
	for i := uint64(1); i < n; i += 2 {
		s.add(u64(i))
	}
	checkTree(t, &s)
	if s.intervals != 1 || s.lowestAbsent() != u64(n) {
		t.Fatalf("full: %d intervals, lowestAbsent %v", s.intervals, s.lowestAbsent())
	}
	for i, x := range releaseOrder(n) {
		if !s.remove(u64(uint64(x))) {
			t.Fatalf("remove(%d) missing", x)
		}
		if i%10_000 == 0 {
			checkTree(t, &s)
		}
	}
	if !s.empty() {
		t.Fatal("not empty")
	}
}

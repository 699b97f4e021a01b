package alloc

import "slices"

// intervalSet is a set of 128-bit integers stored as disjoint, non-adjacent
// closed intervals, sorted, in a B+tree: leaves hold up to leafMax
// intervals in a slice, inner nodes up to kidsMax children with the lowest
// member of each. Coalescing adjacent members is what makes "lowest free"
// cheap: if the lowest interval starts at zero, its end+1 is free,
// otherwise zero is. The wide nodes keep a 100,000-interval set three
// levels deep, so an operation touches a few cache lines, not the ~30
// scattered nodes a binary tree would; every operation is O(log n).
// Nodes are never merged when they shrink; a node that empties is removed
// and a root with one child is replaced by it.
type intervalSet struct {
	root      *bnode
	intervals int
}

const (
	leafMax = 64
	kidsMax = 64
	maxPath = 32 // far beyond any reachable height: each level needs ~32x the splits of the one below
)

type interval struct{ lo, hi u128 }

type bnode struct {
	leaf bool
	ivs  []interval // leaf
	mins []u128     // inner: mins[i] is the lowest member under kids[i]
	kids []*bnode   // inner
}

type hop struct {
	n *bnode
	i int
}

// cursor addresses one slot of a leaf, with the inner nodes above it.
type cursor struct {
	path  [maxPath]hop
	depth int
	leaf  *bnode
	i     int // -1: before the leaf's first interval (x below the set's minimum)
}

// upper returns the number of keys <= x among n ascending keys read by key(i).
func upper(n int, x u128, key func(int) u128) int {
	lo, hi := 0, n
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if x.less(key(m)) {
			hi = m
		} else {
			lo = m + 1
		}
	}
	return lo
}

// locate finds the interval with the greatest lo <= x.
func (s *intervalSet) locate(x u128) cursor {
	var c cursor
	n := s.root
	for !n.leaf {
		i := max(upper(len(n.mins), x, func(j int) u128 { return n.mins[j] })-1, 0)
		c.path[c.depth] = hop{n, i}
		c.depth++
		n = n.kids[i]
	}
	c.leaf = n
	c.i = upper(len(n.ivs), x, func(j int) u128 { return n.ivs[j].lo }) - 1
	return c
}

// next returns a cursor at the interval after c's, if any.
func next(c cursor) (cursor, bool) {
	if c.i+1 < len(c.leaf.ivs) {
		c.i++
		return c, true
	}
	for d := c.depth - 1; d >= 0; d-- {
		h := &c.path[d]
		if h.i+1 < len(h.n.kids) {
			h.i++
			n := h.n.kids[h.i]
			c.depth = d + 1
			for !n.leaf {
				c.path[c.depth] = hop{n, 0}
				c.depth++
				n = n.kids[0]
			}
			c.leaf, c.i = n, 0
			return c, true
		}
	}
	return c, false
}

func minOf(n *bnode) u128 {
	if n.leaf {
		return n.ivs[0].lo
	}
	return n.mins[0]
}

// refresh rewrites the recorded minimum of every node on c's path, after
// the leaf's lowest member changed.
func (c *cursor) refresh() {
	n := c.leaf
	for d := c.depth - 1; d >= 0; d-- {
		h := c.path[d]
		h.n.mins[h.i] = minOf(n)
		n = h.n
	}
}

func (s *intervalSet) insertAt(c *cursor, pos int, iv interval) {
	c.leaf.ivs = slices.Insert(c.leaf.ivs, pos, iv)
	if pos == 0 {
		c.refresh()
	}
	child := c.leaf
	for d := c.depth; ; d-- {
		if (child.leaf && len(child.ivs) <= leafMax) || (!child.leaf && len(child.kids) <= kidsMax) {
			return
		}
		right := &bnode{leaf: child.leaf}
		if child.leaf {
			half := len(child.ivs) / 2
			right.ivs = slices.Clone(child.ivs[half:])
			child.ivs = slices.Clip(child.ivs[:half])
		} else {
			half := len(child.kids) / 2
			right.mins, right.kids = slices.Clone(child.mins[half:]), slices.Clone(child.kids[half:])
			child.mins, child.kids = slices.Clip(child.mins[:half]), slices.Clip(child.kids[:half])
		}
		if d == 0 {
			s.root = &bnode{mins: []u128{minOf(child), minOf(right)}, kids: []*bnode{child, right}}
			return
		}
		p := c.path[d-1]
		p.n.mins = slices.Insert(p.n.mins, p.i+1, minOf(right))
		p.n.kids = slices.Insert(p.n.kids, p.i+1, right)
		child = p.n
	}
}

func (s *intervalSet) deleteAt(c *cursor) {
	c.leaf.ivs = slices.Delete(c.leaf.ivs, c.i, c.i+1)
	if len(c.leaf.ivs) > 0 {
		if c.i == 0 {
			c.refresh()
		}
		return
	}
	// Remove the emptied leaf, and every ancestor it empties.
	d := c.depth
	for ; d > 0; d-- {
		p := c.path[d-1]
		p.n.mins = slices.Delete(p.n.mins, p.i, p.i+1)
		p.n.kids = slices.Delete(p.n.kids, p.i, p.i+1)
		if len(p.n.kids) > 0 {
			break
		}
	}
	if d == 0 {
		s.root = &bnode{leaf: true}
		return
	}
	// path[d-1].n lost a child but is not empty: fix the minima above it.
	n := c.path[d-1].n
	for dd := d - 2; dd >= 0; dd-- {
		h := c.path[dd]
		h.n.mins[h.i] = minOf(n)
		n = h.n
	}
	for !s.root.leaf && len(s.root.kids) == 1 {
		s.root = s.root.kids[0]
	}
}

func (s *intervalSet) empty() bool {
	return s.root == nil || (s.root.leaf && len(s.root.ivs) == 0)
}

// min returns the lowest interval.
func (s *intervalSet) min() (interval, bool) {
	if s.empty() {
		return interval{}, false
	}
	n := s.root
	for !n.leaf {
		n = n.kids[0]
	}
	return n.ivs[0], true
}

func (s *intervalSet) contains(x u128) bool {
	if s.empty() {
		return false
	}
	c := s.locate(x)
	return c.i >= 0 && !c.leaf.ivs[c.i].hi.less(x)
}

// lowestAbsent returns the smallest integer not in the set (callers
// bound-check it against their own maximum).
func (s *intervalSet) lowestAbsent() u128 {
	m, ok := s.min()
	if !ok || !m.lo.isZero() {
		return u128{}
	}
	return m.hi.inc()
}

// add inserts x and reports whether it was absent.
func (s *intervalSet) add(x u128) bool {
	if s.root == nil {
		s.root = &bnode{leaf: true}
	}
	c := s.locate(x)
	var l *interval
	if c.i >= 0 {
		l = &c.leaf.ivs[c.i]
		if !l.hi.less(x) {
			return false
		}
	}
	joinLeft := l != nil && l.hi.inc() == x
	rc, hasRight := next(c)
	joinRight := hasRight && x.inc() == rc.leaf.ivs[rc.i].lo
	switch {
	case joinLeft && joinRight:
		l.hi = rc.leaf.ivs[rc.i].hi
		s.deleteAt(&rc)
		s.intervals--
	case joinLeft:
		l.hi = x
	case joinRight:
		rc.leaf.ivs[rc.i].lo = x // still above every lower interval
		if rc.i == 0 {
			rc.refresh()
		}
	default:
		s.insertAt(&c, c.i+1, interval{x, x})
		s.intervals++
	}
	return true
}

// remove deletes x and reports whether it was present.
func (s *intervalSet) remove(x u128) bool {
	if s.empty() {
		return false
	}
	c := s.locate(x)
	if c.i < 0 || c.leaf.ivs[c.i].hi.less(x) {
		return false
	}
	n := &c.leaf.ivs[c.i]
	switch {
	case n.lo == x && n.hi == x:
		s.deleteAt(&c)
		s.intervals--
	case n.lo == x:
		n.lo = x.inc() // still below the next interval
		if c.i == 0 {
			c.refresh()
		}
	case n.hi == x:
		n.hi = x.dec()
	default:
		oldHi := n.hi
		n.hi = x.dec()
		s.insertAt(&c, c.i+1, interval{x.inc(), oldHi})
		s.intervals++
	}
	return true
}

// ascend calls fn for every interval in increasing order until fn returns false.
func (s *intervalSet) ascend(fn func(lo, hi u128) bool) {
	if s.empty() {
		return
	}
	var walk func(n *bnode) bool
	walk = func(n *bnode) bool {
		if n.leaf {
			for _, iv := range n.ivs {
				if !fn(iv.lo, iv.hi) {
					return false
				}
			}
			return true
		}
		for _, k := range n.kids {
			if !walk(k) {
				return false
			}
		}
		return true
	}
	walk(s.root)
}

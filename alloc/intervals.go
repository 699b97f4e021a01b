package alloc

// intervalSet is a set of 128-bit integers stored as disjoint, non-adjacent
// closed intervals in a treap keyed by each interval's low end. Coalescing
// adjacent members is what makes "lowest free" O(1) after an O(log n) descent:
// if the lowest interval starts at zero, its end+1 is free, otherwise zero is.
// Treap priorities come from a per-set counter hashed with splitmix64, so
// the shape is pseudo-random but deterministic (no clock, no global rand),
// and independent of the keys: expected depth is O(log n) whatever order
// addresses are claimed in.
type intervalSet struct {
	root      *ivNode
	seq       uint64
	intervals int
}

type ivNode struct {
	lo, hi      u128
	prio        uint64
	left, right *ivNode
}

func splitmix64(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// floor returns the interval with the greatest lo <= x, or nil.
func (s *intervalSet) floor(x u128) *ivNode {
	var best *ivNode
	for n := s.root; n != nil; {
		if x.less(n.lo) {
			n = n.left
		} else {
			best = n
			n = n.right
		}
	}
	return best
}

// after returns the interval with the smallest lo > x, or nil.
func (s *intervalSet) after(x u128) *ivNode {
	var best *ivNode
	for n := s.root; n != nil; {
		if x.less(n.lo) {
			best = n
			n = n.left
		} else {
			n = n.right
		}
	}
	return best
}

func (s *intervalSet) min() *ivNode {
	n := s.root
	if n == nil {
		return nil
	}
	for n.left != nil {
		n = n.left
	}
	return n
}

func (s *intervalSet) contains(x u128) bool {
	n := s.floor(x)
	return n != nil && !n.hi.less(x)
}

// lowestAbsent returns the smallest integer not in the set.
func (s *intervalSet) lowestAbsent() u128 {
	m := s.min()
	if m == nil || !m.lo.isZero() {
		return u128{}
	}
	return m.hi.inc() // m.hi == max only if the set is everything; callers bound-check
}

// add inserts x and reports whether it was absent.
func (s *intervalSet) add(x u128) bool {
	l := s.floor(x)
	if l != nil && !l.hi.less(x) {
		return false
	}
	joinLeft := l != nil && l.hi.inc() == x && l.hi != maxU128
	r := s.after(x)
	joinRight := r != nil && x.inc() == r.lo
	switch {
	case joinLeft && joinRight:
		l.hi = r.hi
		s.root = treapDelete(s.root, r.lo)
		s.intervals--
	case joinLeft:
		l.hi = x
	case joinRight:
		// Lowering r.lo keeps the BST order: x is above every lower interval.
		r.lo = x
	default:
		s.seq++
		s.root = treapInsert(s.root, &ivNode{lo: x, hi: x, prio: splitmix64(s.seq)})
		s.intervals++
	}
	return true
}

// remove deletes x and reports whether it was present.
func (s *intervalSet) remove(x u128) bool {
	n := s.floor(x)
	if n == nil || n.hi.less(x) {
		return false
	}
	switch {
	case n.lo == x && n.hi == x:
		s.root = treapDelete(s.root, x)
		s.intervals--
	case n.lo == x:
		n.lo = x.inc() // raising lo stays below the next interval's lo
	case n.hi == x:
		n.hi = x.dec()
	default:
		oldHi := n.hi
		n.hi = x.dec()
		s.seq++
		s.root = treapInsert(s.root, &ivNode{lo: x.inc(), hi: oldHi, prio: splitmix64(s.seq)})
		s.intervals++
	}
	return true
}

// ascend calls fn for every interval in increasing order until fn returns false.
func (s *intervalSet) ascend(fn func(lo, hi u128) bool) {
	var walk func(n *ivNode) bool
	walk = func(n *ivNode) bool {
		if n == nil {
			return true
		}
		return walk(n.left) && fn(n.lo, n.hi) && walk(n.right)
	}
	walk(s.root)
}

func treapInsert(t, n *ivNode) *ivNode {
	if t == nil {
		return n
	}
	if n.lo.less(t.lo) {
		t.left = treapInsert(t.left, n)
		if t.left.prio > t.prio {
			l := t.left
			t.left, l.right = l.right, t
			return l
		}
	} else {
		t.right = treapInsert(t.right, n)
		if t.right.prio > t.prio {
			r := t.right
			t.right, r.left = r.left, t
			return r
		}
	}
	return t
}

func treapDelete(t *ivNode, lo u128) *ivNode {
	if t == nil {
		return nil
	}
	switch c := lo.cmp(t.lo); {
	case c < 0:
		t.left = treapDelete(t.left, lo)
	case c > 0:
		t.right = treapDelete(t.right, lo)
	default:
		return treapMerge(t.left, t.right)
	}
	return t
}

// treapMerge joins two treaps where every key of l is below every key of r.
func treapMerge(l, r *ivNode) *ivNode {
	switch {
	case l == nil:
		return r
	case r == nil:
		return l
	case l.prio > r.prio:
		l.right = treapMerge(l.right, r)
		return l
	default:
		r.left = treapMerge(l, r.left)
		return r
	}
}

package alloc

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
)

// ParseRange parses an IPAddressPool address entry: a CIDR ("10.0.0.0/24",
// "2001:db8::/64"; host bits are ignored, as net.ParseCIDR does) or an
// inclusive range "first-last" (spaces around either address are allowed).
// A range written in IPv4-mapped IPv6 form is read as IPv4. Zones are refused.
func ParseRange(s string) (Range, error) {
	if first, last, ok := strings.Cut(s, "-"); ok {
		a, err := netip.ParseAddr(strings.TrimSpace(first))
		if err != nil {
			return Range{}, fmt.Errorf("%w: range %q: first address: %v", ErrInvalidPool, s, err)
		}
		b, err := netip.ParseAddr(strings.TrimSpace(last))
		if err != nil {
			return Range{}, fmt.Errorf("%w: range %q: last address: %v", ErrInvalidPool, s, err)
		}
		r := Range{First: a, Last: b}
		if err := r.validate(); err != nil {
			return Range{}, fmt.Errorf("range %q: %w", s, err)
		}
		return r.normal(), nil
	}
	p, err := netip.ParsePrefix(strings.TrimSpace(s))
	if err != nil {
		return Range{}, fmt.Errorf("%w: %q is neither a CIDR nor a first-last range: %v", ErrInvalidPool, s, err)
	}
	return PrefixRange(p), nil
}

// normal reads a range written in IPv4-mapped IPv6 form (both ends) as
// IPv4; any other range is taken as written.
func (r Range) normal() Range {
	if r.First.Is4In6() && r.Last.Is4In6() {
		return Range{First: r.First.Unmap(), Last: r.Last.Unmap()}
	}
	return r
}

// family is the family of a normalized range.
func (r Range) family() Family {
	if r.First.Is4() {
		return IPv4
	}
	return IPv6
}

func (r Range) validate() error {
	n := r.normal()
	switch {
	case !n.First.IsValid() || !n.Last.IsValid():
		return fmt.Errorf("%w: range has an unset address", ErrInvalidPool)
	case n.First.Zone() != "" || n.Last.Zone() != "":
		return fmt.Errorf("%w: %v: addresses with a zone cannot be pool addresses", ErrInvalidPool, r)
	case n.First.Is4() != n.Last.Is4():
		return fmt.Errorf("%w: %v mixes IPv4 and IPv6", ErrInvalidPool, r)
	case n.Last.Less(n.First):
		return fmt.Errorf("%w: %v ends before it starts", ErrInvalidPool, r)
	}
	return nil
}

// String returns the CIDR when the range is exactly one prefix, else "first-last".
func (r Range) String() string {
	if !r.First.IsValid() || !r.Last.IsValid() {
		return fmt.Sprintf("%v-%v", r.First, r.Last)
	}
	for bits := 0; bits <= r.First.BitLen(); bits++ {
		p := netip.PrefixFrom(r.First, bits)
		if p.Masked() == p && PrefixRange(p) == r {
			return p.String()
		}
	}
	return r.First.String() + "-" + r.Last.String()
}

// span is a closed interval of address integers of one family.
type span struct{ first, last u128 }

// addrSpace is one family of one pool: its usable addresses numbered 0, 1,
// 2, ... in address order ("ordinals"), and which ordinals are in use.
// Numbering the usable addresses (rather than the raw addresses) folds the
// gaps between ranges and the avoided .0/.255 addresses away, so the lowest
// free address is simply the first ordinal past the lowest run of used ones.
type addrSpace struct {
	family     Family
	avoidBuggy bool // IPv4 only
	spans      []span
	startOrd   []u128 // ordinal of the first usable address of spans[i]
	lastOrd    u128   // highest ordinal; the space is never empty
	capacity   u128   // saturating (see Count)
	used       intervalSet
	usedCount  int
}

// newAddrSpace builds the space over ranges (all of family f), merging
// overlapping and adjacent ranges. It returns nil if no address is usable.
func newAddrSpace(f Family, avoidBuggy bool, ranges []Range) *addrSpace {
	s := &addrSpace{family: f, avoidBuggy: avoidBuggy && f == IPv4}
	s.spans = mergeSpans(ranges)
	kept := s.spans[:0]
	var next u128
	for _, sp := range s.spans {
		count, over := s.below(sp.last).sub(s.below(sp.first)).add(s.usableU(sp.last))
		if !over && count.isZero() {
			continue // only avoided addresses
		}
		kept = append(kept, sp)
		s.startOrd = append(s.startOrd, next)
		s.lastOrd = next.add2(count, over)
		if over {
			s.capacity = maxU128
		} else {
			s.capacity = s.capacity.addSat(count)
		}
		next, _ = next.add(count)
	}
	s.spans = kept
	if len(s.spans) == 0 {
		return nil
	}
	return s
}

// add2 returns the last ordinal of a span of count addresses starting at a,
// where over means count is 2^128 (only all of ::/0, which starts at 0).
func (a u128) add2(count u128, over bool) u128 {
	if over {
		return maxU128
	}
	s, _ := a.add(count)
	return s.dec()
}

func buggy(x u128) bool { b := x.lo & 0xff; return b == 0 || b == 0xff }

func (s *addrSpace) usable(x u128) bool { return !s.avoidBuggy || !buggy(x) }

func (s *addrSpace) usableU(x u128) u128 {
	if s.usable(x) {
		return u64(1)
	}
	return u128{}
}

// below returns how many usable addresses of the family lie strictly below x.
// With avoidBuggy, each /24 block holds 254 usable addresses (.1 to .254).
func (s *addrSpace) below(x u128) u128 {
	if !s.avoidBuggy {
		return x
	}
	low := x.lo & 0xff
	n := (x.lo >> 8) * 254
	if low > 0 {
		n += min(low-1, 254)
	}
	return u64(n)
}

// nth returns the usable address with exactly r usable addresses below it.
func (s *addrSpace) nth(r u128) u128 {
	if !s.avoidBuggy {
		return r
	}
	return u64(r.lo/254*256 + r.lo%254 + 1)
}

// ordinal returns x's ordinal, or false if x is not a usable address of the space.
func (s *addrSpace) ordinal(x u128) (u128, bool) {
	i := s.spanOf(x)
	if i < 0 || s.spans[i].last.less(x) || !s.usable(x) {
		return u128{}, false
	}
	o, _ := s.startOrd[i].add(s.below(x).sub(s.below(s.spans[i].first)))
	return o, true
}

// spanOf returns the index of the last span starting at or below x, or -1.
func (s *addrSpace) spanOf(x u128) int {
	i, found := slices.BinarySearchFunc(s.spans, x, func(sp span, x u128) int { return sp.first.cmp(x) })
	if found {
		return i
	}
	return i - 1
}

// addrAt returns the address with ordinal o (o <= lastOrd).
func (s *addrSpace) addrAt(o u128) u128 {
	i, found := slices.BinarySearchFunc(s.startOrd, o, u128.cmp)
	if !found {
		i--
	}
	r, _ := s.below(s.spans[i].first).add(o.sub(s.startOrd[i]))
	return s.nth(r)
}

// lowestFree returns the ordinal of the lowest free address.
func (s *addrSpace) lowestFree() (u128, bool) {
	if m, ok := s.used.min(); ok && m.lo.isZero() && m.hi == s.lastOrd {
		return u128{}, false
	}
	return s.used.lowestAbsent(), true
}

// contains reports whether a is a usable address of s; a nil space (a pool
// whose ranges of the family hold only avoided addresses) contains nothing.
func (s *addrSpace) contains(a netip.Addr) bool {
	if s == nil {
		return false
	}
	_, ok := s.ordinal(addrToU128(a))
	return ok
}

func (s *addrSpace) stats() FamilyStats {
	if s == nil {
		return FamilyStats{}
	}
	return FamilyStats{
		Capacity:  Count{s.capacity},
		Assigned:  s.usedCount,
		Available: Count{s.capacity.sub(u64(uint64(s.usedCount)))},
	}
}

package alloc

import (
	"encoding/binary"
	"math/big"
	"math/bits"
	"net/netip"
)

// u128 is an unsigned 128-bit integer: an IPv6 address, an IPv4 address
// (in the low 32 bits), or an ordinal within a pool's usable addresses.
// IPv6 pools need the full width: a /64 holds 2^64 addresses.
type u128 struct{ hi, lo uint64 }

var maxU128 = u128{^uint64(0), ^uint64(0)}

func u64(x uint64) u128 { return u128{0, x} }

func (a u128) cmp(b u128) int {
	switch {
	case a.hi < b.hi:
		return -1
	case a.hi > b.hi:
		return 1
	case a.lo < b.lo:
		return -1
	case a.lo > b.lo:
		return 1
	}
	return 0
}

func (a u128) less(b u128) bool { return a.cmp(b) < 0 }

func (a u128) isZero() bool { return a.hi == 0 && a.lo == 0 }

// add returns a+b and whether the sum overflowed 128 bits.
func (a u128) add(b u128) (u128, bool) {
	lo, c := bits.Add64(a.lo, b.lo, 0)
	hi, c := bits.Add64(a.hi, b.hi, c)
	return u128{hi, lo}, c != 0
}

// addSat returns a+b, saturating at 2^128-1.
func (a u128) addSat(b u128) u128 {
	s, over := a.add(b)
	if over {
		return maxU128
	}
	return s
}

// sub returns a-b; callers guarantee b <= a.
func (a u128) sub(b u128) u128 {
	lo, borrow := bits.Sub64(a.lo, b.lo, 0)
	hi, _ := bits.Sub64(a.hi, b.hi, borrow)
	return u128{hi, lo}
}

func (a u128) inc() u128 { s, _ := a.add(u64(1)); return s }
func (a u128) dec() u128 { return a.sub(u64(1)) }

func (a u128) big() *big.Int {
	b := new(big.Int).SetUint64(a.hi)
	b.Lsh(b, 64)
	return b.Or(b, new(big.Int).SetUint64(a.lo))
}

// addrToU128 maps an address to its integer; IPv4 addresses occupy the low
// 32 bits, so each family is its own number line.
func addrToU128(a netip.Addr) u128 {
	if a.Is4() {
		b := a.As4()
		return u64(uint64(binary.BigEndian.Uint32(b[:])))
	}
	b := a.As16()
	return u128{binary.BigEndian.Uint64(b[:8]), binary.BigEndian.Uint64(b[8:])}
}

func u128ToAddr(f Family, x u128) netip.Addr {
	if f == IPv4 {
		var b [4]byte
		binary.BigEndian.PutUint32(b[:], uint32(x.lo))
		return netip.AddrFrom4(b)
	}
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], x.hi)
	binary.BigEndian.PutUint64(b[8:], x.lo)
	return netip.AddrFrom16(b)
}

// Count is a number of addresses. An IPv6 pool can hold more addresses than
// any int64 (a /64 holds 2^64), so counts are 128-bit. The single value that
// does not fit, 2^128 (a pool of all of ::/0), saturates to 2^128-1.
type Count struct{ v u128 }

// Uint64 returns the count, saturating at math.MaxUint64.
func (c Count) Uint64() uint64 {
	if c.v.hi != 0 {
		return ^uint64(0)
	}
	return c.v.lo
}

// Float64 returns the count as the nearest float64, for gauges.
func (c Count) Float64() float64 {
	return float64(c.v.hi)*(1<<64) + float64(c.v.lo)
}

// Big returns the exact count.
func (c Count) Big() *big.Int { return c.v.big() }

// String returns the exact count in decimal.
func (c Count) String() string { return c.v.big().String() }

// CountOf returns n as a Count (negative n counts as zero).
func CountOf(n int) Count {
	if n < 0 {
		return Count{}
	}
	return Count{u64(uint64(n))}
}

package config

import (
	"fmt"
	"net/netip"
	"strings"
)

// AddrRange is one entry of a pool's spec.addresses: every address from
// First to Last inclusive, both of one family. Prefix is the entry as
// written when it was a CIDR, and invalid for an "a-b" range.
type AddrRange struct {
	First  netip.Addr
	Last   netip.Addr
	Prefix netip.Prefix
}

// Is6 reports whether the range holds IPv6 addresses.
func (r AddrRange) Is6() bool { return r.First.Is6() }

// Contains reports whether ip lies in the range.
func (r AddrRange) Contains(ip netip.Addr) bool {
	return ip.BitLen() == r.First.BitLen() && r.First.Compare(ip) <= 0 && ip.Compare(r.Last) <= 0
}

// Overlaps reports whether the two ranges share an address.
func (r AddrRange) Overlaps(o AddrRange) bool {
	return r.First.BitLen() == o.First.BitLen() && r.First.Compare(o.Last) <= 0 && o.First.Compare(r.Last) <= 0
}

func (r AddrRange) String() string {
	if r.Prefix.IsValid() {
		return r.Prefix.String()
	}
	return r.First.String() + "-" + r.Last.String()
}

// ShortestPrefixLen is the length of the largest CIDR block inside the
// range. A BGPAdvertisement may not aggregate an entry to a shorter length
// than this: the aggregate would then cover addresses outside the pool.
// For a CIDR entry it is the entry's own prefix length.
func (r AddrRange) ShortestPrefixLen() int {
	if r.Prefix.IsValid() {
		return r.Prefix.Bits()
	}
	shortest := r.First.BitLen()
	for start := r.First; ; {
		block := largestBlockAt(start, r.Last)
		shortest = min(shortest, block.Bits())
		end := lastAddr(block)
		if end.Compare(r.Last) >= 0 {
			return shortest
		}
		start = end.Next()
	}
}

// largestBlockAt returns the shortest prefix that starts at start and ends
// at or before last.
func largestBlockAt(start, last netip.Addr) netip.Prefix {
	for bits := 0; bits < start.BitLen(); bits++ {
		p := netip.PrefixFrom(start, bits).Masked()
		if p.Addr() == start && lastAddr(p).Compare(last) <= 0 {
			return p
		}
	}
	return netip.PrefixFrom(start, start.BitLen())
}

// lastAddr is the highest address of p.
func lastAddr(p netip.Prefix) netip.Addr {
	a := p.Masked().Addr()
	if a.Is4() {
		b := a.As4()
		setHostBits(b[:], p.Bits())
		return netip.AddrFrom4(b)
	}
	b := a.As16()
	setHostBits(b[:], p.Bits())
	return netip.AddrFrom16(b)
}

func setHostBits(b []byte, bits int) {
	for i := range b {
		switch {
		case bits >= 8*(i+1):
		case bits <= 8*i:
			b[i] = 0xff
		default:
			b[i] |= 0xff >> (bits - 8*i)
		}
	}
}

// ParseAddressRange parses one spec.addresses entry: a CIDR
// ("192.168.10.0/24", "fc00:f853:ccd:e799::/124") or an inclusive range of
// one family ("192.168.9.1-192.168.9.5", spaces around the dash allowed).
// Host bits in a CIDR are cleared, as MetalLB does. The error wraps
// ErrInvalidAddress, ErrRangeReversed or ErrMixedFamily.
func ParseAddressRange(s string) (AddrRange, error) {
	if from, to, ok := strings.Cut(s, "-"); ok {
		first, err := parseRangeEnd(from)
		if err != nil {
			return AddrRange{}, fmt.Errorf("%w: start %q: %v", ErrInvalidAddress, strings.TrimSpace(from), err)
		}
		last, err := parseRangeEnd(to)
		if err != nil {
			return AddrRange{}, fmt.Errorf("%w: end %q: %v", ErrInvalidAddress, strings.TrimSpace(to), err)
		}
		if first.Is4() != last.Is4() {
			return AddrRange{}, ErrMixedFamily
		}
		if last.Less(first) {
			return AddrRange{}, ErrRangeReversed
		}
		return AddrRange{First: first, Last: last}, nil
	}
	if !strings.Contains(s, "/") {
		if a, err := netip.ParseAddr(s); err == nil {
			return AddrRange{}, fmt.Errorf("%w: a single address needs a prefix length, e.g. %q", ErrInvalidAddress,
				netip.PrefixFrom(a, a.BitLen()).String())
		}
		return AddrRange{}, ErrInvalidAddress
	}
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return AddrRange{}, fmt.Errorf("%w: %v", ErrInvalidAddress, trimNetipErr(err))
	}
	if p.Addr().Is4In6() {
		return AddrRange{}, fmt.Errorf("%w: IPv4-mapped IPv6 prefixes are ambiguous; write the IPv4 prefix", ErrInvalidAddress)
	}
	p = p.Masked()
	return AddrRange{First: p.Addr(), Last: lastAddr(p), Prefix: p}, nil
}

func parseRangeEnd(s string) (netip.Addr, error) {
	a, err := netip.ParseAddr(strings.TrimSpace(s))
	if err != nil {
		return netip.Addr{}, trimNetipErr(err)
	}
	if a.Zone() != "" {
		return netip.Addr{}, fmt.Errorf("zones are not allowed")
	}
	if a.Is4In6() {
		return netip.Addr{}, fmt.Errorf("IPv4-mapped IPv6 addresses are ambiguous")
	}
	return a, nil
}

// trimNetipErr drops netip's echo of the input, which the caller already
// quotes.
func trimNetipErr(err error) error {
	msg := err.Error()
	if i := strings.LastIndex(msg, "): "); i >= 0 {
		return fmt.Errorf("%s", msg[i+3:])
	}
	return err
}

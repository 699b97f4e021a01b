package bgpwire

import (
	"net/netip"
)

// appendPrefixes decodes a sequence of RFC 4271 §4.3 prefixes (length in
// bits, then the significant octets) and appends them to dst. Bits past the
// prefix length are cleared so that equal routes compare equal. ok is false
// when the field is malformed.
func appendPrefixes(dst []netip.Prefix, b []byte, v6 bool) (_ []netip.Prefix, ok bool) {
	if v6 {
		return appendPrefixes6(dst, b)
	}
	// Host routes are what Herald sends and receives most: they get a fast
	// path without the partial-octet handling.
	for i := 0; i < len(b); {
		bits := int(b[i])
		if bits == 32 && i+5 <= len(b) {
			dst = append(dst, netip.PrefixFrom(netip.AddrFrom4([4]byte(b[i+1:i+5])), 32))
			i += 5
			continue
		}
		n := (bits + 7) / 8
		if bits > 32 || i+1+n > len(b) {
			return dst, false
		}
		var a [4]byte
		copy(a[:], b[i+1:i+1+n])
		if n > 0 {
			maskLastByte(a[:n], bits)
		}
		dst = append(dst, netip.PrefixFrom(netip.AddrFrom4(a), bits))
		i += 1 + n
	}
	return dst, true
}

func appendPrefixes6(dst []netip.Prefix, b []byte) (_ []netip.Prefix, ok bool) {
	for i := 0; i < len(b); {
		bits := int(b[i])
		if bits == 128 && i+17 <= len(b) {
			dst = append(dst, netip.PrefixFrom(netip.AddrFrom16([16]byte(b[i+1:i+17])), 128))
			i += 17
			continue
		}
		n := (bits + 7) / 8
		if bits > 128 || i+1+n > len(b) {
			return dst, false
		}
		var a [16]byte
		copy(a[:], b[i+1:i+1+n])
		if n > 0 {
			maskLastByte(a[:n], bits)
		}
		dst = append(dst, netip.PrefixFrom(netip.AddrFrom16(a), bits))
		i += 1 + n
	}
	return dst, true
}

// appendPrefix4 appends an IPv4 prefix. The caller has checked p.
func appendPrefix4(dst []byte, p netip.Prefix) []byte {
	bits := p.Bits()
	a := p.Addr().As4()
	if bits == 32 {
		return append(dst, 32, a[0], a[1], a[2], a[3])
	}
	n := (bits + 7) / 8
	dst = append(dst, byte(bits))
	dst = append(dst, a[:n]...)
	if r := bits % 8; r != 0 {
		dst[len(dst)-1] &= byte(0xff << (8 - r))
	}
	return dst
}

// appendPrefix6 appends an IPv6 prefix. The caller has checked p.
func appendPrefix6(dst []byte, p netip.Prefix) []byte {
	bits := p.Bits()
	a := p.Addr().As16()
	n := (bits + 7) / 8
	dst = append(dst, byte(bits))
	dst = append(dst, a[:n]...)
	if r := bits % 8; r != 0 {
		dst[len(dst)-1] &= byte(0xff << (8 - r))
	}
	return dst
}

// prefixFamily returns the AFI of a valid prefix and 0 for an invalid one.
// An IPv4-mapped IPv6 prefix is IPv6, as on the wire.
func prefixFamily(p netip.Prefix) AFI {
	switch {
	case !p.IsValid():
		return 0
	case p.Addr().Is4():
		return AFIIPv4
	}
	return AFIIPv6
}

func appendPrefix(dst []byte, p netip.Prefix, afi AFI) []byte {
	if afi == AFIIPv4 {
		return appendPrefix4(dst, p)
	}
	return appendPrefix6(dst, p)
}

// checkPrefixes verifies that every prefix is valid and of family afi.
func checkPrefixes(ps []netip.Prefix, afi AFI) error {
	for _, p := range ps {
		if f := prefixFamily(p); f != afi {
			if f == 0 {
				return ErrInvalidPrefix
			}
			return ErrMixedFamilies
		}
	}
	return nil
}

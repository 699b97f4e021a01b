package bgpwire

import (
	"net/netip"
)

// appendPrefixes decodes a sequence of RFC 4271 §4.3 prefixes (length in
// bits, then the significant octets) and appends them to dst. Bits past the
// prefix length are cleared so that equal routes compare equal. ok is false
// when the field is malformed.
func appendPrefixes(dst []netip.Prefix, b []byte, v6 bool) (_ []netip.Prefix, ok bool) {
	maxBits := 32
	if v6 {
		maxBits = 128
	}
	for len(b) > 0 {
		bits := int(b[0])
		if bits > maxBits {
			return dst, false
		}
		n := (bits + 7) / 8
		if len(b) < 1+n {
			return dst, false
		}
		if !v6 {
			var a [4]byte
			if n == 4 {
				a = [4]byte(b[1:5])
			} else {
				copy(a[:], b[1:1+n])
			}
			if r := bits % 8; r != 0 {
				a[n-1] &= byte(0xff << (8 - r))
			}
			dst = append(dst, netip.PrefixFrom(netip.AddrFrom4(a), bits))
		} else {
			var a [16]byte
			copy(a[:], b[1:1+n])
			if r := bits % 8; r != 0 {
				a[n-1] &= byte(0xff << (8 - r))
			}
			dst = append(dst, netip.PrefixFrom(netip.AddrFrom16(a), bits))
		}
		b = b[1+n:]
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

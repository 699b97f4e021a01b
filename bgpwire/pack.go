package bgpwire

import (
	"encoding/binary"
	"net/netip"
	"slices"
)

// NextHop is the next hop of announced routes.
type NextHop struct {
	// Addr is IPv4 or IPv6. IPv4 prefixes with an IPv6 next hop are sent
	// in MP_REACH_NLRI per RFC 8950; only do that when the peer advertised
	// the extended next hop capability for IPv4 unicast.
	Addr netip.Addr
	// LinkLocal, if valid, is sent as the second half of a 32-byte IPv6
	// next hop (RFC 2545).
	LinkLocal netip.Addr
}

// fixed parts of an UPDATE: header, withdrawn length, attribute length.
const updateFixedLen = HeaderLen + 2 + 2

// AppendAnnounce appends UPDATE messages announcing prefixes, all with the
// attributes a and next hop nh, packed into as few messages as s.MaxLen()
// allows. All prefixes must be of one family. IPv4 prefixes with an IPv4
// next hop go in the NLRI field with a NEXT_HOP attribute; everything else
// goes in MP_REACH_NLRI, which is the first attribute (RFC 7606 §5.1).
// ORIGIN and AS_PATH are always sent; a.NextHop is ignored. On error dst is
// returned unchanged. AppendAnnounceNLRI does the same from wire-form inputs.
func AppendAnnounce(dst []byte, s Session, a *Attributes, nh NextHop, prefixes []netip.Prefix) ([]byte, error) {
	if len(prefixes) == 0 {
		return dst, nil
	}
	afi := prefixFamily(prefixes[0])
	if afi == 0 {
		return dst, ErrInvalidPrefix
	}
	mp := afi == AFIIPv6 || nh.Addr.Is6()
	if !nh.Addr.IsValid() || (afi == AFIIPv6 && !nh.Addr.Is6()) || (nh.LinkLocal.IsValid() && (!nh.Addr.Is6() || !nh.LinkLocal.Is6())) {
		return dst, ErrNextHopFamily
	}
	var attrNextHop netip.Addr // NEXT_HOP attribute, only without MP_REACH_NLRI
	headLen := 0
	if mp {
		headLen = 4 + 3 + 1 + 16 + 1
		if nh.Addr.Is4() {
			headLen -= 12
		} else if nh.LinkLocal.IsValid() {
			headLen += 16
		}
	} else {
		attrNextHop = nh.Addr
	}
	// The attributes are sized first so that the NLRI budget is known
	// before any byte is written; the first message encodes them and the
	// others copy its bytes.
	attrsLen := attributesLen(a, s, attrNextHop, true)
	maxLen := s.MaxLen()
	budget := maxLen - updateFixedLen - attrsLen - headLen
	if budget < 17 {
		return dst, ErrMessageTooLong
	}
	orig := len(dst)
	attrsAt := -1 // offset of the first message's attributes in dst
	appendAttrs := func(dst []byte) []byte {
		if attrsAt < 0 {
			attrsAt = len(dst)
			return appendAttributes(dst, a, s, attrNextHop, true)
		}
		return append(dst, dst[attrsAt:attrsAt+attrsLen]...)
	}
	// AppendAnnounceNLRI fills the same frame by copying, in a loop of
	// its own: one loop over either kind of input, tried first, cost a
	// 1-prefix UPDATE here about a fifth more time in indirection.
	for len(prefixes) > 0 {
		start := len(dst)
		dst = appendHeader(dst, TypeUpdate)
		dst = append(dst, 0, 0, byte(attrsLen>>8), byte(attrsLen)) // no withdrawn routes
		if !mp {
			dst = appendAttrs(dst)
		} else {
			dst = appendMPReachHead(dst, Family{afi, SAFIUnicast}, nh)
		}
		nlriStart := len(dst)
		i, err := 0, error(nil)
		if dst, i, err = packPrefixes(dst, prefixes, afi, nlriStart+budget); err != nil {
			return dst[:orig], err
		}
		prefixes = prefixes[i:]
		if mp {
			patchMPReach(dst, start, nlriStart, headLen, attrsLen)
			dst = appendAttrs(dst)
		}
		if dst, err = finishMessage(dst, start, maxLen); err != nil {
			return dst[:orig], err
		}
	}
	return dst, nil
}

// patchMPReach fills in the lengths of MP_REACH_NLRI and of the attribute
// field once the NLRI of the message at dst[start:], which begin at
// nlriStart, are written.
func patchMPReach(dst []byte, start, nlriStart, headLen, attrsLen int) {
	nlriLen := len(dst) - nlriStart
	binary.BigEndian.PutUint16(dst[nlriStart-headLen+2:], uint16(headLen-4+nlriLen))
	binary.BigEndian.PutUint16(dst[start+HeaderLen+2:], uint16(headLen+nlriLen+attrsLen))
}

// appendMPReachHead appends MP_REACH_NLRI up to the NLRI, always with the
// extended length form so the length can be patched in once the NLRI is
// known.
func appendMPReachHead(dst []byte, f Family, nh NextHop) []byte {
	at := len(dst)
	dst = append(dst, FlagOptional|FlagExtendedLength, byte(AttrMPReachNLRI), 0, 0, byte(f.AFI>>8), byte(f.AFI), byte(f.SAFI))
	switch {
	case nh.Addr.Is4():
		a := nh.Addr.As4()
		dst = append(dst, 4)
		dst = append(dst, a[:]...)
	case nh.LinkLocal.IsValid():
		a, ll := nh.Addr.As16(), nh.LinkLocal.As16()
		dst = append(dst, 32)
		dst = append(dst, a[:]...)
		dst = append(dst, ll[:]...)
	default:
		a := nh.Addr.As16()
		dst = append(dst, 16)
		dst = append(dst, a[:]...)
	}
	dst = append(dst, 0) // reserved
	binary.BigEndian.PutUint16(dst[at+2:], uint16(len(dst)-at-4))
	return dst
}

// AppendWithdraw appends UPDATE messages withdrawing prefixes, as few as
// s.MaxLen() allows: IPv4 in the Withdrawn Routes field, IPv6 in
// MP_UNREACH_NLRI. All prefixes must be of one family. AppendWithdrawNLRI
// does the same from a wire-form list.
func AppendWithdraw(dst []byte, s Session, prefixes []netip.Prefix) ([]byte, error) {
	if len(prefixes) == 0 {
		return dst, nil
	}
	afi := prefixFamily(prefixes[0])
	if afi == 0 {
		return dst, ErrInvalidPrefix
	}
	maxLen := s.MaxLen()
	orig := len(dst)
	// As with AppendAnnounce, AppendWithdrawNLRI fills the same frame
	// (appendWithdrawLead, withdrawLimit, patchWithdrawn) in a loop of its
	// own, because sharing the loop made a 1-prefix withdrawal slower.
	for len(prefixes) > 0 {
		start := len(dst)
		dst = appendWithdrawLead(dst, afi)
		fieldStart := len(dst)
		i, err := 0, error(nil)
		if dst, i, err = packPrefixes(dst, prefixes, afi, withdrawLimit(start, maxLen, afi)); err != nil {
			return dst[:orig], err
		}
		prefixes = prefixes[i:]
		dst = patchWithdrawn(dst, start, fieldStart, afi)
		if dst, err = finishMessage(dst, start, maxLen); err != nil {
			return dst[:orig], err
		}
	}
	return dst, nil
}

// appendWithdrawLead appends what a withdrawal has before the prefixes:
// the header and the Withdrawn Routes Length (IPv4), or the header, empty
// Withdrawn Routes and the head of MP_UNREACH_NLRI (IPv6).
func appendWithdrawLead(dst []byte, afi AFI) []byte {
	dst = appendHeader(dst, TypeUpdate)
	if afi == AFIIPv4 {
		return append(dst, 0, 0)
	}
	return append(dst, 0, 0, 0, 0, FlagOptional|FlagExtendedLength, byte(AttrMPUnreachNLRI), 0, 0, 0, byte(AFIIPv6), byte(SAFIUnicast))
}

// withdrawLimit is the offset in dst the prefixes of the withdrawal at
// start may reach.
func withdrawLimit(start, maxLen int, afi AFI) int {
	if afi == AFIIPv4 {
		return start + maxLen - 2 // the attribute length follows the withdrawn routes
	}
	return start + maxLen
}

// patchWithdrawn fills in the lengths once the prefixes, from fieldStart on,
// are written, and for IPv4 appends the (empty) attribute field.
func patchWithdrawn(dst []byte, start, fieldStart int, afi AFI) []byte {
	n := len(dst) - fieldStart
	if afi == AFIIPv4 {
		binary.BigEndian.PutUint16(dst[start+HeaderLen:], uint16(n))
		return append(dst, 0, 0)
	}
	binary.BigEndian.PutUint16(dst[start+HeaderLen+2:], uint16(n+7))
	binary.BigEndian.PutUint16(dst[start+HeaderLen+6:], uint16(n+3))
	return dst
}

// AppendEndOfRIB appends the End-of-RIB marker for f (RFC 4724 §2): an
// empty UPDATE for IPv4 unicast, an empty MP_UNREACH_NLRI otherwise.
func AppendEndOfRIB(dst []byte, f Family) []byte {
	dst = appendHeader(dst, TypeUpdate)
	if f == IPv4Unicast {
		dst = append(dst, 0, 0, 0, 0)
		dst[len(dst)-6] = updateFixedLen
		return dst
	}
	dst = append(dst, 0, 0, 0, 6, FlagOptional, byte(AttrMPUnreachNLRI), 3, byte(f.AFI>>8), byte(f.AFI), byte(f.SAFI))
	dst[len(dst)-12] = updateFixedLen + 6
	return dst
}

// AppendUpdate appends u as exactly one UPDATE message: the inverse of
// Update.Decode. MP_UNREACH_NLRI and MP_REACH_NLRI come first, the other
// attributes follow in type order, none twice. It fails with
// ErrMessageTooLong rather than split; use AppendAnnounce and AppendWithdraw
// to pack many prefixes.
func AppendUpdate(dst []byte, s Session, u *Update) ([]byte, error) {
	if err := checkPrefixes(u.Withdrawn, AFIIPv4); err != nil {
		return dst, err
	}
	if err := checkPrefixes(u.NLRI, AFIIPv4); err != nil {
		return dst, err
	}
	if u.NextHop.IsValid() && !u.NextHop.Is4() {
		return dst, ErrNextHopFamily
	}
	start := len(dst)
	dst = appendHeader(dst, TypeUpdate)
	dst = append(dst, 0, 0)
	for _, p := range u.Withdrawn {
		dst = appendPrefix4(dst, p)
	}
	if n := len(dst) - start - updateFixedLen + 2; n > 0xffff {
		return dst[:start], ErrMessageTooLong
	} else {
		binary.BigEndian.PutUint16(dst[start+HeaderLen:], uint16(n))
	}
	dst = append(dst, 0, 0)
	attrStart := len(dst)
	if u.HasMPUnreach {
		f := u.MPUnreach.Family
		if !supportedFamily(f) {
			return dst[:start], ErrInvalidPrefix
		}
		if err := checkPrefixes(u.MPUnreach.Withdrawn, f.AFI); err != nil {
			return dst[:start], err
		}
		at := len(dst)
		dst = append(dst, FlagOptional|FlagExtendedLength, byte(AttrMPUnreachNLRI), 0, 0, byte(f.AFI>>8), byte(f.AFI), byte(f.SAFI))
		for _, p := range u.MPUnreach.Withdrawn {
			dst = appendPrefix(dst, p, f.AFI)
		}
		var err error
		if dst, err = patchAttrLen(dst, at); err != nil {
			return dst[:start], err
		}
	}
	if u.HasMPReach {
		m := &u.MPReach
		if !supportedFamily(m.Family) {
			return dst[:start], ErrInvalidPrefix
		}
		if err := checkPrefixes(m.NLRI, m.Family.AFI); err != nil {
			return dst[:start], err
		}
		nh := NextHop{Addr: m.NextHop, LinkLocal: m.LinkLocalNextHop}
		if !nh.Addr.IsValid() || (m.Family.AFI == AFIIPv6 && !nh.Addr.Is6()) || (nh.LinkLocal.IsValid() && (!nh.Addr.Is6() || !nh.LinkLocal.Is6())) {
			return dst[:start], ErrNextHopFamily
		}
		at := len(dst)
		dst = appendMPReachHead(dst, m.Family, nh)
		for _, p := range m.NLRI {
			dst = appendPrefix(dst, p, m.Family.AFI)
		}
		var err error
		if dst, err = patchAttrLen(dst, at); err != nil {
			return dst[:start], err
		}
	}
	dst = appendAttributes(dst, &u.Attributes, s, u.NextHop, false)
	if n := len(dst) - attrStart; n > 0xffff {
		return dst[:start], ErrMessageTooLong
	} else {
		binary.BigEndian.PutUint16(dst[attrStart-2:], uint16(n))
	}
	for _, p := range u.NLRI {
		dst = appendPrefix4(dst, p)
	}
	return finishMessage(dst, start, s.MaxLen())
}

// patchAttrLen fills in the length of the extended-length attribute that
// starts at dst[at:] and runs to the end of dst, and drops back to the 1-octet
// length form when the value fits, so a re-encoded message is never longer
// than the one it was decoded from.
func patchAttrLen(dst []byte, at int) ([]byte, error) {
	n := len(dst) - at - 4
	switch {
	case n > 0xffff:
		return dst, ErrMessageTooLong
	case n > 255:
		binary.BigEndian.PutUint16(dst[at+2:], uint16(n))
		return dst, nil
	}
	dst[at] &^= FlagExtendedLength
	dst[at+2] = byte(n)
	copy(dst[at+3:], dst[at+4:])
	return dst[:len(dst)-1], nil
}

// packPrefixes appends prefixes of family afi while dst stays within limit
// bytes and returns how many it took. This loop is the encoder's hot path, so
// it validates as it goes, reserves room once and writes by index instead of
// appending.
func packPrefixes(dst []byte, prefixes []netip.Prefix, afi AFI, limit int) (_ []byte, taken int, _ error) {
	w := len(dst)
	if need := min(limit, w+17*len(prefixes)); need > cap(dst) {
		dst = slices.Grow(dst, need-w)
	}
	buf := dst[:min(limit, cap(dst))]
	i := 0
	if afi == AFIIPv4 {
		for ; i < len(prefixes); i++ {
			p := prefixes[i]
			if !p.Addr().Is4() || !p.IsValid() {
				return dst, 0, wrongPrefix(p)
			}
			bits := p.Bits()
			n := 1 + (bits+7)/8
			if w+n > len(buf) {
				break
			}
			a := p.Addr().As4()
			if bits == 32 {
				b := buf[w : w+5]
				b[0], b[1], b[2], b[3], b[4] = 32, a[0], a[1], a[2], a[3]
			} else {
				buf[w] = byte(bits)
				copy(buf[w+1:w+n], a[:])
				maskLastByte(buf[w+1:w+n], bits)
			}
			w += n
		}
	} else {
		for ; i < len(prefixes); i++ {
			p := prefixes[i]
			if !p.Addr().Is6() || !p.IsValid() {
				return dst, 0, wrongPrefix(p)
			}
			bits := p.Bits()
			n := 1 + (bits+7)/8
			if w+n > len(buf) {
				break
			}
			buf[w] = byte(bits)
			if bits == 128 {
				// AppendBinary writes the address into buf in place
				// (the capacity is there); As16 would return it through
				// a stack copy that stalls on store-to-load forwarding.
				_, _ = p.Addr().AppendBinary(buf[w+1 : w+1 : w+17])
			} else {
				a := p.Addr().As16()
				copy(buf[w+1:w+n], a[:])
				maskLastByte(buf[w+1:w+n], bits)
			}
			w += n
		}
	}
	return buf[:w], i, nil
}

func wrongPrefix(p netip.Prefix) error {
	if p.IsValid() {
		return ErrMixedFamilies
	}
	return ErrInvalidPrefix
}

// maskLastByte clears the bits past the prefix length in the last octet of
// an encoded prefix: a sender must not leak host bits.
func maskLastByte(b []byte, bits int) {
	if r := bits % 8; r != 0 {
		b[len(b)-1] &= byte(0xff << (8 - r))
	}
}

package bgpwire

import (
	"encoding/binary"
	"net/netip"
)

// Update is a decoded UPDATE message. Decoding into a reused Update reuses
// its slices, so steady-state decoding does not allocate; everything in it
// (slices and byte views into the message) is valid until the next decode.
type Update struct {
	// Withdrawn is the IPv4 Withdrawn Routes field.
	Withdrawn []netip.Prefix
	Attributes
	// NLRI is the IPv4 NLRI field.
	NLRI []netip.Prefix

	HasMPReach   bool
	MPReach      MPReach
	HasMPUnreach bool
	MPUnreach    MPUnreach

	asns []uint32 // backing store of every ASSegment.ASNs
}

// MPReach is the MP_REACH_NLRI attribute (RFC 4760) for IPv4 or IPv6
// unicast.
type MPReach struct {
	Family Family
	// NextHop is IPv6 for IPv6 unicast; for IPv4 unicast it is IPv4 or,
	// with the extended next hop capability (RFC 8950), IPv6.
	NextHop netip.Addr
	// LinkLocalNextHop is the second address of a 32-byte IPv6 next hop;
	// invalid when the next hop has 16 bytes.
	LinkLocalNextHop netip.Addr
	NLRI             []netip.Prefix
}

// MPUnreach is the MP_UNREACH_NLRI attribute (RFC 4760).
type MPUnreach struct {
	Family    Family
	Withdrawn []netip.Prefix
}

// IsEndOfRIB reports whether u is an End-of-RIB marker (RFC 4724 §2) and for
// which family.
func (u *Update) IsEndOfRIB() (Family, bool) {
	if len(u.Withdrawn) != 0 || len(u.NLRI) != 0 || u.HasMPReach {
		return Family{}, false
	}
	if !u.HasMPUnreach {
		if u.attrCount() == 0 {
			return IPv4Unicast, true
		}
		return Family{}, false
	}
	if len(u.MPUnreach.Withdrawn) == 0 && u.attrCount() == 0 {
		return u.MPUnreach.Family, true
	}
	return Family{}, false
}

func (u *Update) attrCount() int {
	a := &u.Attributes
	n := len(a.ASPath) + len(a.Communities) + len(a.ExtendedCommunities) + len(a.LargeCommunities) + len(a.AS4Path) + len(a.Unknown)
	for _, b := range [...]bool{a.HasOrigin, a.HasASPath, a.NextHop.IsValid(), a.HasMED, a.HasLocalPref, a.AtomicAggregate, a.HasAggregator, a.HasAS4Aggregator} {
		if b {
			n++
		}
	}
	return n
}

// reset empties u, keeping the storage of its slices.
func (u *Update) reset() {
	a := &u.Attributes
	*u = Update{
		Withdrawn: u.Withdrawn[:0],
		NLRI:      u.NLRI[:0],
		Attributes: Attributes{
			ASPath:              a.ASPath[:0],
			Communities:         a.Communities[:0],
			ExtendedCommunities: a.ExtendedCommunities[:0],
			LargeCommunities:    a.LargeCommunities[:0],
			AS4Path:             a.AS4Path[:0],
			Unknown:             a.Unknown[:0],
		},
		MPReach:   MPReach{NLRI: u.MPReach.NLRI[:0]},
		MPUnreach: MPUnreach{Withdrawn: u.MPUnreach.Withdrawn[:0]},
		asns:      u.asns[:0],
	}
}

// Decode decodes an UPDATE message, header included. It is
// Message.Decode for callers that already know the type.
func (u *Update) Decode(msg []byte, s Session) error {
	h, err := parseWholeHeader(msg, s)
	if err != nil {
		return err
	}
	if int(h.Length) != len(msg) || h.Type != TypeUpdate {
		return newError(CodeMessageHeader, SubcodeBadMessageLength, msg[16:18], ErrBadLength)
	}
	return u.decodeBody(msg[HeaderLen:], s)
}

// decodeBody validates and decodes an UPDATE body (RFC 4271 §6.3 with the
// RFC 7606 revisions). It returns nil, or a *NotificationError whose Action
// is the strongest error found; for AttributeDiscard and TreatAsWithdraw u
// is fully decoded (minus the discarded attributes) so the caller can act on
// it.
func (u *Update) decodeBody(b []byte, s Session) error {
	u.reset()
	wlen := int(binary.BigEndian.Uint16(b))
	if 2+wlen+2 > len(b) {
		return newError(CodeUpdateMessage, SubcodeMalformedAttributeList, nil, ErrMalformedAttributeList)
	}
	var ok bool
	if u.Withdrawn, ok = appendPrefixes(u.Withdrawn, b[2:2+wlen], false); !ok {
		return newError(CodeUpdateMessage, SubcodeInvalidNetworkField, nil, ErrInvalidNetworkField)
	}
	b = b[2+wlen:]
	alen := int(binary.BigEndian.Uint16(b))
	if 2+alen > len(b) {
		return newError(CodeUpdateMessage, SubcodeMalformedAttributeList, nil, ErrMalformedAttributeList)
	}
	attrs, nlri := b[2:2+alen], b[2+alen:]
	if u.NLRI, ok = appendPrefixes(u.NLRI, nlri, false); !ok {
		return newError(CodeUpdateMessage, SubcodeInvalidNetworkField, nil, ErrInvalidNetworkField)
	}
	var worst *NotificationError
	note := func(e *NotificationError) {
		if worst == nil || e.Action > worst.Action {
			worst = e
		}
	}
	var seen [4]uint64 // one bit per attribute type, for duplicates
	for len(attrs) > 0 {
		// RFC 7606 §4: an attribute header or value that overruns the
		// attribute field is treat-as-withdraw; the total length still
		// locates the NLRI.
		if len(attrs) < 3 || (attrs[0]&FlagExtendedLength != 0 && len(attrs) < 4) {
			e := attrError(TreatAsWithdraw, SubcodeMalformedAttributeList, nil, ErrMalformedAttributeList)
			if len(attrs) >= 2 {
				e.Attr = AttrType(attrs[1])
			}
			note(e)
			break
		}
		flags, t := attrs[0], AttrType(attrs[1])
		hl, l := 3, int(attrs[2])
		if flags&FlagExtendedLength != 0 {
			hl, l = 4, int(binary.BigEndian.Uint16(attrs[2:]))
		}
		if hl+l > len(attrs) {
			e := attrError(TreatAsWithdraw, SubcodeAttributeLengthError, nil, ErrAttributeLength)
			e.Attr = t
			note(e)
			break
		}
		whole, v := attrs[:hl+l], attrs[hl:hl+l]
		attrs = attrs[hl+l:]
		if seen[t/64]&(1<<(t%64)) != 0 {
			if t == AttrMPReachNLRI || t == AttrMPUnreachNLRI {
				e := newError(CodeUpdateMessage, SubcodeMalformedAttributeList, nil, ErrMalformedAttributeList)
				e.Attr = t
				return e
			}
			e := attrError(AttributeDiscard, SubcodeMalformedAttributeList, whole, ErrMalformedAttributeList)
			e.Attr = t
			note(e)
			continue
		}
		seen[t/64] |= 1 << (t % 64)
		if e := u.decodeAttr(flags, t, v, whole, s); e != nil {
			e.Attr = t
			if e.Action == SessionReset {
				return e
			}
			note(e)
		}
	}
	// RFC 7606 §3 d: a missing well-known mandatory attribute is
	// treat-as-withdraw. NEXT_HOP is only mandatory with IPv4 NLRI in the
	// NLRI field (RFC 4760 §3).
	if len(u.NLRI) > 0 || (u.HasMPReach && len(u.MPReach.NLRI) > 0) {
		missing := AttrType(0)
		switch {
		case !u.HasOrigin:
			missing = AttrOrigin
		case !u.HasASPath:
			missing = AttrASPath
		case len(u.NLRI) > 0 && !u.NextHop.IsValid():
			missing = AttrNextHop
		}
		if missing != 0 {
			e := attrError(TreatAsWithdraw, SubcodeMissingWellKnownAttr, []byte{byte(missing)}, ErrMissingWellKnown)
			e.Attr = missing
			note(e)
		}
	}
	if worst != nil {
		return worst
	}
	return nil
}

// decodeAttr decodes one attribute. The action on a malformed attribute is
// the one RFC 7606 §7 gives for that attribute; a flags conflict is handled
// like a length error of the same attribute (§3 c).
func (u *Update) decodeAttr(flags uint8, t AttrType, v, whole []byte, s Session) *NotificationError {
	a := &u.Attributes
	category := flags & flagsCategoryMask
	want := uint8(0xff)
	action := TreatAsWithdraw
	switch t {
	case AttrOrigin, AttrASPath, AttrNextHop, AttrLocalPref:
		want = flagsWellKnown
	case AttrAtomicAggregate:
		want, action = flagsWellKnown, AttributeDiscard
	case AttrMED:
		want = flagsOptNonTrans
	case AttrAggregator, AttrAS4Path, AttrAS4Aggregator:
		want, action = flagsOptTrans, AttributeDiscard
	case AttrCommunities, AttrExtendedCommunities, AttrLargeCommunities:
		want = flagsOptTrans
	case AttrMPReachNLRI, AttrMPUnreachNLRI:
		want, action = flagsOptNonTrans, SessionReset
	}
	if want != 0xff && category != want {
		return attrError(action, SubcodeAttributeFlagsError, whole, ErrAttributeFlags)
	}
	lengthErr := func() *NotificationError {
		return attrError(action, SubcodeAttributeLengthError, whole, ErrAttributeLength)
	}
	switch t {
	case AttrOrigin:
		if len(v) != 1 {
			return lengthErr()
		}
		if v[0] > byte(OriginIncomplete) {
			return attrError(action, SubcodeInvalidOriginAttr, whole, ErrInvalidOrigin)
		}
		a.HasOrigin, a.Origin = true, Origin(v[0])
	case AttrASPath:
		segs, ok := u.decodeASPath(a.ASPath, v, s.FourOctetAS)
		if !ok {
			return attrError(action, SubcodeMalformedASPath, nil, ErrMalformedASPath)
		}
		a.HasASPath, a.ASPath = true, segs
	case AttrNextHop:
		if len(v) != 4 {
			return lengthErr()
		}
		// The semantic checks of RFC 4271 §6.3 (not the peer's own
		// address, on a shared subnet for eBGP) need session context; the
		// caller makes them.
		a.NextHop = netip.AddrFrom4([4]byte(v))
	case AttrMED:
		if len(v) != 4 {
			return lengthErr()
		}
		a.HasMED, a.MED = true, binary.BigEndian.Uint32(v)
	case AttrLocalPref:
		if len(v) != 4 {
			return lengthErr()
		}
		a.HasLocalPref, a.LocalPref = true, binary.BigEndian.Uint32(v)
	case AttrAtomicAggregate:
		if len(v) != 0 {
			return lengthErr()
		}
		a.AtomicAggregate = true
	case AttrAggregator:
		if s.FourOctetAS && len(v) == 8 {
			a.HasAggregator = true
			a.Aggregator = Aggregator{AS: binary.BigEndian.Uint32(v), Addr: netip.AddrFrom4([4]byte(v[4:]))}
		} else if !s.FourOctetAS && len(v) == 6 {
			a.HasAggregator = true
			a.Aggregator = Aggregator{AS: uint32(binary.BigEndian.Uint16(v)), Addr: netip.AddrFrom4([4]byte(v[2:]))}
		} else {
			return lengthErr()
		}
	case AttrCommunities:
		if len(v) == 0 || len(v)%4 != 0 {
			return lengthErr()
		}
		for ; len(v) > 0; v = v[4:] {
			a.Communities = append(a.Communities, Community(binary.BigEndian.Uint32(v)))
		}
	case AttrExtendedCommunities:
		if len(v) == 0 || len(v)%8 != 0 {
			return lengthErr()
		}
		for ; len(v) > 0; v = v[8:] {
			a.ExtendedCommunities = append(a.ExtendedCommunities, ExtendedCommunity(v[:8]))
		}
	case AttrLargeCommunities:
		if len(v) == 0 || len(v)%12 != 0 {
			return lengthErr()
		}
		for ; len(v) > 0; v = v[12:] {
			a.LargeCommunities = append(a.LargeCommunities, LargeCommunity{
				binary.BigEndian.Uint32(v), binary.BigEndian.Uint32(v[4:]), binary.BigEndian.Uint32(v[8:]),
			})
		}
	case AttrAS4Path:
		if s.FourOctetAS {
			return nil // RFC 6793 §4.1: a NEW speaker discards AS4_PATH from a NEW speaker
		}
		segs, ok := u.decodeASPath(a.AS4Path, v, true)
		if !ok || len(segs) == 0 || hasConfed(segs) {
			return attrError(action, SubcodeOptionalAttributeError, whole, ErrOptionalAttribute)
		}
		a.AS4Path = segs
	case AttrAS4Aggregator:
		if s.FourOctetAS {
			return nil
		}
		if len(v) != 8 {
			return lengthErr()
		}
		a.HasAS4Aggregator = true
		a.AS4Aggregator = Aggregator{AS: binary.BigEndian.Uint32(v), Addr: netip.AddrFrom4([4]byte(v[4:]))}
	case AttrMPReachNLRI:
		return u.decodeMPReach(v, whole)
	case AttrMPUnreachNLRI:
		return u.decodeMPUnreach(v, whole)
	default:
		if flags&FlagOptional == 0 {
			return newError(CodeUpdateMessage, SubcodeUnrecognizedWellKnownAttr, whole, ErrUnrecognizedWellKnown)
		}
		if flags&FlagTransitive != 0 {
			a.Unknown = append(a.Unknown, RawAttribute{Flags: flags&(FlagOptional|FlagTransitive) | FlagPartial, Type: t, Value: v})
		}
	}
	return nil
}

func hasConfed(segs []ASSegment) bool {
	for _, s := range segs {
		if s.Type == ASConfedSequence || s.Type == ASConfedSet {
			return true
		}
	}
	return false
}

// decodeASPath appends the segments of an AS_PATH value to segs; the ASNs
// go to u.asns. A segment of unknown type, with zero ASNs, or overrunning
// the value is malformed (RFC 7606 §7.2).
func (u *Update) decodeASPath(segs []ASSegment, v []byte, fourOctet bool) ([]ASSegment, bool) {
	size := 2
	if fourOctet {
		size = 4
	}
	for len(v) > 0 {
		if len(v) < 2 {
			return segs, false
		}
		t, n := SegmentType(v[0]), int(v[1])
		if t < ASSet || t > ASConfedSet || n == 0 || len(v) < 2+n*size {
			return segs, false
		}
		start := len(u.asns)
		for i := range n {
			p := v[2+i*size:]
			if fourOctet {
				u.asns = append(u.asns, binary.BigEndian.Uint32(p))
			} else {
				u.asns = append(u.asns, uint32(binary.BigEndian.Uint16(p)))
			}
		}
		segs = append(segs, ASSegment{Type: t, ASNs: u.asns[start:len(u.asns):len(u.asns)]})
		v = v[2+n*size:]
	}
	return segs, true
}

func supportedFamily(f Family) bool { return f == IPv4Unicast || f == IPv6Unicast }

// decodeMPReach decodes MP_REACH_NLRI. RFC 7606 §7.11: a malformed next hop
// or NLRI leaves the rest unparseable, so it resets the session. A family
// this package does not carry is discarded: it was not negotiated.
func (u *Update) decodeMPReach(v, whole []byte) *NotificationError {
	reset := func() *NotificationError {
		return newError(CodeUpdateMessage, SubcodeOptionalAttributeError, whole, ErrMalformedMP)
	}
	if len(v) < 5 {
		return reset()
	}
	f := Family{AFI(binary.BigEndian.Uint16(v)), SAFI(v[2])}
	nhLen := int(v[3])
	if len(v) < 4+nhLen+1 {
		return reset()
	}
	if !supportedFamily(f) {
		return attrError(AttributeDiscard, SubcodeOptionalAttributeError, whole, ErrMalformedMP)
	}
	nh := v[4 : 4+nhLen]
	m := &u.MPReach
	m.Family = f
	switch {
	case nhLen == 4 && f.AFI == AFIIPv4:
		m.NextHop = netip.AddrFrom4([4]byte(nh))
	case nhLen == 16:
		m.NextHop = netip.AddrFrom16([16]byte(nh))
	case nhLen == 32:
		m.NextHop = netip.AddrFrom16([16]byte(nh))
		m.LinkLocalNextHop = netip.AddrFrom16([16]byte(nh[16:]))
	default:
		return reset()
	}
	// One reserved octet (formerly the SNPA count) follows the next hop.
	var ok bool
	if m.NLRI, ok = appendPrefixes(m.NLRI, v[4+nhLen+1:], f.AFI == AFIIPv6); !ok {
		return reset()
	}
	u.HasMPReach = true
	return nil
}

func (u *Update) decodeMPUnreach(v, whole []byte) *NotificationError {
	if len(v) < 3 {
		return newError(CodeUpdateMessage, SubcodeOptionalAttributeError, whole, ErrMalformedMP)
	}
	f := Family{AFI(binary.BigEndian.Uint16(v)), SAFI(v[2])}
	if !supportedFamily(f) {
		return attrError(AttributeDiscard, SubcodeOptionalAttributeError, whole, ErrMalformedMP)
	}
	var ok bool
	if u.MPUnreach.Withdrawn, ok = appendPrefixes(u.MPUnreach.Withdrawn, v[3:], f.AFI == AFIIPv6); !ok {
		return newError(CodeUpdateMessage, SubcodeOptionalAttributeError, whole, ErrMalformedMP)
	}
	u.MPUnreach.Family = f
	u.HasMPUnreach = true
	return nil
}

package bgpwire

import (
	"encoding/binary"
	"net/netip"
	"strconv"
)

// AttrType is a path attribute type code (IANA "BGP Path Attributes").
type AttrType uint8

// Path attribute types this package interprets.
const (
	AttrOrigin              AttrType = 1
	AttrASPath              AttrType = 2
	AttrNextHop             AttrType = 3
	AttrMED                 AttrType = 4
	AttrLocalPref           AttrType = 5
	AttrAtomicAggregate     AttrType = 6
	AttrAggregator          AttrType = 7
	AttrCommunities         AttrType = 8
	AttrMPReachNLRI         AttrType = 14
	AttrMPUnreachNLRI       AttrType = 15
	AttrExtendedCommunities AttrType = 16
	AttrAS4Path             AttrType = 17
	AttrAS4Aggregator       AttrType = 18
	AttrLargeCommunities    AttrType = 32
)

var attrNames = map[AttrType]string{
	AttrOrigin: "ORIGIN", AttrASPath: "AS_PATH", AttrNextHop: "NEXT_HOP", AttrMED: "MULTI_EXIT_DISC",
	AttrLocalPref: "LOCAL_PREF", AttrAtomicAggregate: "ATOMIC_AGGREGATE", AttrAggregator: "AGGREGATOR",
	AttrCommunities: "COMMUNITIES", AttrMPReachNLRI: "MP_REACH_NLRI", AttrMPUnreachNLRI: "MP_UNREACH_NLRI",
	AttrExtendedCommunities: "EXTENDED_COMMUNITIES", AttrAS4Path: "AS4_PATH", AttrAS4Aggregator: "AS4_AGGREGATOR",
	AttrLargeCommunities: "LARGE_COMMUNITY",
}

// String is the attribute's RFC name, or "attribute N" for a type this
// package does not interpret.
func (t AttrType) String() string {
	if n, ok := attrNames[t]; ok {
		return n
	}
	return "attribute " + strconv.Itoa(int(t))
}

// Attribute flag bits (RFC 4271 §4.3).
const (
	FlagOptional       = 0x80
	FlagTransitive     = 0x40
	FlagPartial        = 0x20
	FlagExtendedLength = 0x10
)

const (
	flagsWellKnown    = FlagTransitive
	flagsOptTrans     = FlagOptional | FlagTransitive
	flagsOptNonTrans  = FlagOptional
	flagsCategoryMask = FlagOptional | FlagTransitive
)

// Origin is the ORIGIN attribute.
type Origin uint8

// ORIGIN values.
const (
	OriginIGP        Origin = 0
	OriginEGP        Origin = 1
	OriginIncomplete Origin = 2
)

// SegmentType is the type of an AS_PATH segment.
type SegmentType uint8

// AS_PATH segment types (RFC 4271, RFC 5065).
const (
	ASSet            SegmentType = 1
	ASSequence       SegmentType = 2
	ASConfedSequence SegmentType = 3
	ASConfedSet      SegmentType = 4
)

// ASSegment is one segment of an AS_PATH or AS4_PATH. A segment holds at
// most 255 AS numbers; the encoder splits longer AS_SEQUENCEs.
type ASSegment struct {
	Type SegmentType
	ASNs []uint32
}

// Community is a COMMUNITIES value (RFC 1997): AS number in the high 16 bits.
type Community uint32

// Well-known communities (IANA "BGP Well-known Communities").
const (
	CommunityGracefulShutdown  Community = 0xFFFF0000 // RFC 8326
	CommunityAcceptOwn         Community = 0xFFFF0001 // RFC 7611
	CommunityLLGRStale         Community = 0xFFFF0006 // RFC 9494
	CommunityNoLLGR            Community = 0xFFFF0007 // RFC 9494
	CommunityBlackhole         Community = 0xFFFF029A // RFC 7999
	CommunityNoExport          Community = 0xFFFFFF01 // RFC 1997
	CommunityNoAdvertise       Community = 0xFFFFFF02 // RFC 1997
	CommunityNoExportSubconfed Community = 0xFFFFFF03 // RFC 1997
	CommunityNoPeer            Community = 0xFFFFFF04 // RFC 3765
)

// NewCommunity builds the community asn:value.
func NewCommunity(asn, value uint16) Community { return Community(uint32(asn)<<16 | uint32(value)) }

// ExtendedCommunity is one EXTENDED_COMMUNITIES value (RFC 4360), as bytes.
type ExtendedCommunity [8]byte

// LargeCommunity is one LARGE_COMMUNITIES value (RFC 8092).
type LargeCommunity struct {
	GlobalAdmin, LocalData1, LocalData2 uint32
}

// Aggregator is the AGGREGATOR (or AS4_AGGREGATOR) attribute.
type Aggregator struct {
	AS   uint32
	Addr netip.Addr // IPv4
}

// RawAttribute is a path attribute kept as bytes: an optional transitive
// attribute this package does not interpret.
type RawAttribute struct {
	Flags uint8
	Type  AttrType
	// Value points into the decoded message.
	Value []byte
}

// Attributes are the path attributes of an UPDATE, except MP_REACH_NLRI and
// MP_UNREACH_NLRI, which Update holds. Presence of a scalar attribute is a
// Has field; a slice attribute is present when non-empty.
type Attributes struct {
	HasOrigin bool
	Origin    Origin
	// HasASPath distinguishes an empty AS_PATH (legal, e.g. on iBGP) from
	// none.
	HasASPath bool
	ASPath    []ASSegment
	// NextHop is the NEXT_HOP attribute (IPv4); invalid when absent.
	NextHop         netip.Addr
	HasMED          bool
	MED             uint32
	HasLocalPref    bool
	LocalPref       uint32
	AtomicAggregate bool
	HasAggregator   bool
	// Aggregator holds the 4-octet AS even towards 2-octet peers; the
	// encoder adds AS4_AGGREGATOR when needed.
	Aggregator          Aggregator
	Communities         []Community
	ExtendedCommunities []ExtendedCommunity
	LargeCommunities    []LargeCommunity
	// AS4Path and AS4Aggregator are only exchanged with peers without
	// 4-octet AS support (RFC 6793). Decoding keeps them as received; when
	// encoding for such a peer they are derived from ASPath and Aggregator
	// unless set here.
	AS4Path          []ASSegment
	HasAS4Aggregator bool
	AS4Aggregator    Aggregator
	// Unknown holds unrecognized optional transitive attributes, with the
	// Partial bit set (RFC 4271 §5). Unrecognized optional non-transitive
	// attributes are dropped by the decoder.
	Unknown []RawAttribute
}

// appendAttrHeader appends flags, type and length, choosing the extended
// length form only when the value needs it.
func appendAttrHeader(dst []byte, flags uint8, t AttrType, n int) []byte {
	if n > 255 {
		return append(dst, flags|FlagExtendedLength, byte(t), byte(n>>8), byte(n))
	}
	return append(dst, flags&^FlagExtendedLength, byte(t), byte(n))
}

func appendUint32Attr(dst []byte, flags uint8, t AttrType, v uint32) []byte {
	return append(dst, flags, byte(t), 4, byte(v>>24), byte(v>>16), byte(v>>8), byte(v))
}

// asPathLen is the encoded size of an AS_PATH value, after splitting
// segments longer than 255 ASNs.
func asPathLen(segs []ASSegment, asnSize int, skipConfed bool) int {
	n := 0
	for _, s := range segs {
		if skipConfed && (s.Type == ASConfedSequence || s.Type == ASConfedSet) {
			continue
		}
		for k := len(s.ASNs); k > 0; k -= 255 {
			n += 2 + asnSize*min(k, 255)
		}
	}
	return n
}

// appendASPath appends an AS_PATH/AS4_PATH attribute. With asTrans, ASNs
// above 65535 become AS_TRANS and each ASN takes 2 octets.
func appendASPath(dst []byte, flags uint8, t AttrType, segs []ASSegment, twoOctet, skipConfed bool) []byte {
	size := 4
	if twoOctet {
		size = 2
	}
	dst = appendAttrHeader(dst, flags, t, asPathLen(segs, size, skipConfed))
	for _, s := range segs {
		if skipConfed && (s.Type == ASConfedSequence || s.Type == ASConfedSet) {
			continue
		}
		for asns := s.ASNs; len(asns) > 0; {
			k := min(len(asns), 255)
			dst = append(dst, byte(s.Type), byte(k))
			for _, a := range asns[:k] {
				if twoOctet {
					if a > 0xffff {
						a = ASTrans
					}
					dst = append(dst, byte(a>>8), byte(a))
				} else {
					dst = append(dst, byte(a>>24), byte(a>>16), byte(a>>8), byte(a))
				}
			}
			asns = asns[k:]
		}
	}
	return dst
}

func needsAS4(segs []ASSegment) bool {
	for _, s := range segs {
		for _, a := range s.ASNs {
			if a > 0xffff {
				return true
			}
		}
	}
	return false
}

func appendAggregator(dst []byte, t AttrType, ag Aggregator, twoOctet bool) []byte {
	ip := ag.Addr.As4() // the zero Addr gives 0.0.0.0
	if twoOctet {
		as := ag.AS
		if as > 0xffff {
			as = ASTrans
		}
		return append(dst, flagsOptTrans, byte(t), 6, byte(as>>8), byte(as), ip[0], ip[1], ip[2], ip[3])
	}
	as := ag.AS
	return append(dst, flagsOptTrans, byte(t), 8, byte(as>>24), byte(as>>16), byte(as>>8), byte(as), ip[0], ip[1], ip[2], ip[3])
}

// appendAttributes appends every attribute of a except NEXT_HOP, which
// depends on how the NLRI is carried, and the MP attributes, which go first.
// ORIGIN and AS_PATH are written when mandatory is set or when present.
func appendAttributes(dst []byte, a *Attributes, s Session, nextHop netip.Addr, mandatory bool) []byte {
	if mandatory || a.HasOrigin {
		dst = append(dst, flagsWellKnown, byte(AttrOrigin), 1, byte(a.Origin))
	}
	twoOctet := !s.FourOctetAS
	if mandatory || a.HasASPath {
		dst = appendASPath(dst, flagsWellKnown, AttrASPath, a.ASPath, twoOctet, false)
	}
	if nextHop.Is4() {
		ip := nextHop.As4()
		dst = append(dst, flagsWellKnown, byte(AttrNextHop), 4, ip[0], ip[1], ip[2], ip[3])
	}
	if a.HasMED {
		dst = appendUint32Attr(dst, flagsOptNonTrans, AttrMED, a.MED)
	}
	if a.HasLocalPref {
		dst = appendUint32Attr(dst, flagsWellKnown, AttrLocalPref, a.LocalPref)
	}
	if a.AtomicAggregate {
		dst = append(dst, flagsWellKnown, byte(AttrAtomicAggregate), 0)
	}
	if a.HasAggregator {
		dst = appendAggregator(dst, AttrAggregator, a.Aggregator, twoOctet)
	}
	if len(a.Communities) > 0 {
		dst = appendAttrHeader(dst, flagsOptTrans, AttrCommunities, 4*len(a.Communities))
		for _, c := range a.Communities {
			dst = binary.BigEndian.AppendUint32(dst, uint32(c))
		}
	}
	if len(a.ExtendedCommunities) > 0 {
		dst = appendAttrHeader(dst, flagsOptTrans, AttrExtendedCommunities, 8*len(a.ExtendedCommunities))
		for _, c := range a.ExtendedCommunities {
			dst = append(dst, c[:]...)
		}
	}
	if twoOctet {
		// RFC 6793 §4.2.2: a NEW speaker talking to an OLD one sends the
		// true path in AS4_PATH when AS_PATH had to use AS_TRANS;
		// confederation segments stay out of AS4_PATH.
		switch {
		case len(a.AS4Path) > 0:
			dst = appendASPath(dst, flagsOptTrans, AttrAS4Path, a.AS4Path, false, true)
		case needsAS4(a.ASPath):
			dst = appendASPath(dst, flagsOptTrans, AttrAS4Path, a.ASPath, false, true)
		}
		switch {
		case a.HasAS4Aggregator:
			dst = appendAggregator(dst, AttrAS4Aggregator, a.AS4Aggregator, false)
		case a.HasAggregator && a.Aggregator.AS > 0xffff:
			dst = appendAggregator(dst, AttrAS4Aggregator, a.Aggregator, false)
		}
	}
	if len(a.LargeCommunities) > 0 {
		dst = appendAttrHeader(dst, flagsOptTrans, AttrLargeCommunities, 12*len(a.LargeCommunities))
		for _, c := range a.LargeCommunities {
			dst = binary.BigEndian.AppendUint32(dst, c.GlobalAdmin)
			dst = binary.BigEndian.AppendUint32(dst, c.LocalData1)
			dst = binary.BigEndian.AppendUint32(dst, c.LocalData2)
		}
	}
	for i, u := range a.Unknown {
		if !sendUnknown(a.Unknown, i) {
			continue
		}
		dst = appendAttrHeader(dst, flagsOptTrans|FlagPartial, u.Type, len(u.Value))
		dst = append(dst, u.Value...)
	}
	return dst
}

// attrLen is the encoded size of an attribute with an n-byte value.
func attrLen(n int) int {
	if n > 255 {
		return 4 + n
	}
	return 3 + n
}

// attributesLen is len(appendAttributes(nil, a, s, nextHop, mandatory)),
// computed without writing; TestAttributesLen keeps the two in step.
func attributesLen(a *Attributes, s Session, nextHop netip.Addr, mandatory bool) int {
	n := 0
	if mandatory || a.HasOrigin {
		n += 4
	}
	twoOctet := !s.FourOctetAS
	asnSize := 4
	if twoOctet {
		asnSize = 2
	}
	if mandatory || a.HasASPath {
		n += attrLen(asPathLen(a.ASPath, asnSize, false))
	}
	if nextHop.Is4() {
		n += 7
	}
	if a.HasMED {
		n += 7
	}
	if a.HasLocalPref {
		n += 7
	}
	if a.AtomicAggregate {
		n += 3
	}
	if a.HasAggregator {
		n += 3 + asnSize + 4
	}
	if len(a.Communities) > 0 {
		n += attrLen(4 * len(a.Communities))
	}
	if len(a.ExtendedCommunities) > 0 {
		n += attrLen(8 * len(a.ExtendedCommunities))
	}
	if twoOctet {
		switch {
		case len(a.AS4Path) > 0:
			n += attrLen(asPathLen(a.AS4Path, 4, true))
		case needsAS4(a.ASPath):
			n += attrLen(asPathLen(a.ASPath, 4, true))
		}
		if a.HasAS4Aggregator || (a.HasAggregator && a.Aggregator.AS > 0xffff) {
			n += 11
		}
	}
	if len(a.LargeCommunities) > 0 {
		n += attrLen(12 * len(a.LargeCommunities))
	}
	for i, u := range a.Unknown {
		if !sendUnknown(a.Unknown, i) {
			continue
		}
		n += attrLen(len(u.Value))
	}
	return n
}

// sendUnknown reports whether the encoder passes on list[i]: never a
// duplicate, a type this package owns, or a non-transitive attribute.
func sendUnknown(list []RawAttribute, i int) bool {
	u := list[i]
	return !knownAttr(u.Type) && u.Flags&FlagOptional != 0 && u.Flags&FlagTransitive != 0 && len(u.Value) <= 0xffff && !seenEarlier(list[:i], u.Type)
}

func seenEarlier(list []RawAttribute, t AttrType) bool {
	for _, u := range list {
		if u.Type == t {
			return true
		}
	}
	return false
}

func knownAttr(t AttrType) bool {
	switch t {
	case AttrOrigin, AttrASPath, AttrNextHop, AttrMED, AttrLocalPref, AttrAtomicAggregate,
		AttrAggregator, AttrCommunities, AttrMPReachNLRI, AttrMPUnreachNLRI,
		AttrExtendedCommunities, AttrAS4Path, AttrAS4Aggregator, AttrLargeCommunities:
		return true
	}
	return false
}

package bgpwire

import (
	"bytes"
	"math"
	"net/netip"
	"slices"
)

// NLRIList is a list of prefixes of one address family kept in wire form
// (RFC 4271 §4.3: length in bits, then the significant octets), so that
// building UPDATEs from it is copying rather than encoding. A speaker keeps
// one per attribute set of its Adj-RIB-Out and adds a prefix when its route
// enters that set; AppendAnnounceNLRI and AppendWithdrawNLRI then copy
// maximal runs of ready bytes, finding each message's split point by binary
// search of the boundary index, O(log n) per message.
//
// The zero value is an empty list; its family is that of the first prefix
// added while it is empty. An NLRIList does not deduplicate: the caller's RIB
// already keys routes by prefix.
type NLRIList struct {
	afi AFI
	buf []byte // the encoded prefixes, back to back
	// ends[i] is the offset in buf just past prefix i. It is strictly
	// increasing (every prefix takes at least one byte), which is what
	// lets a binary search find how many prefixes fit in a byte budget.
	ends []uint32
}

// NewNLRIList returns a list holding prefixes, in order. All must be valid
// and of one family.
func NewNLRIList(prefixes []netip.Prefix) (*NLRIList, error) {
	l := &NLRIList{}
	if len(prefixes) > 0 {
		size := 5 // an IPv4 host route; IPv6 ones take 17
		if prefixes[0].Addr().Is6() {
			size = 17
		}
		l.buf = make([]byte, 0, size*len(prefixes))
		l.ends = make([]uint32, 0, len(prefixes))
	}
	for _, p := range prefixes {
		if err := l.Add(p); err != nil {
			return nil, err
		}
	}
	return l, nil
}

// Add appends p, encoded. It fails with ErrInvalidPrefix, ErrMixedFamilies
// when p is not of the list's family, or ErrMessageTooLong when the list
// would pass 4 GiB of wire bytes.
func (l *NLRIList) Add(p netip.Prefix) error {
	f := prefixFamily(p)
	switch {
	case f == 0:
		return ErrInvalidPrefix
	case len(l.ends) == 0:
		l.afi = f
	case f != l.afi:
		return ErrMixedFamilies
	}
	if len(l.buf) > math.MaxUint32-17 {
		return ErrMessageTooLong
	}
	l.buf = appendPrefix(l.buf, p, f)
	l.ends = append(l.ends, uint32(len(l.buf)))
	return nil
}

// Remove removes the first occurrence of p, keeping the order of the
// others, and reports whether p was there. It costs a scan of the bytes
// (bytes.Index, vectorised) and moving the tail: O(n), meant for route
// changes, not for the per-message path.
func (l *NLRIList) Remove(p netip.Prefix) bool {
	f := prefixFamily(p)
	if f == 0 || f != l.afi || len(l.ends) == 0 {
		return false
	}
	var k [17]byte
	key := appendPrefix(k[:0], p, f)
	for off := 0; off < len(l.buf); {
		at := bytes.Index(l.buf[off:], key)
		if at < 0 {
			return false
		}
		at += off
		// A match counts only at a prefix boundary: the encoding is
		// self-delimiting, so there it is exactly this prefix.
		i, boundary := 0, at == 0
		if !boundary {
			i, boundary = slices.BinarySearch(l.ends, uint32(at))
			i++
		}
		if boundary {
			l.removeAt(i)
			return true
		}
		off = at + 1
	}
	return false
}

// removeAt deletes prefix i.
func (l *NLRIList) removeAt(i int) {
	start, end := l.start(i), l.ends[i]
	n := end - start
	l.buf = append(l.buf[:start], l.buf[end:]...)
	l.ends = append(l.ends[:i], l.ends[i+1:]...)
	for j := i; j < len(l.ends); j++ {
		l.ends[j] -= n
	}
}

// Len is the number of prefixes.
func (l *NLRIList) Len() int { return len(l.ends) }

// Family is the AFI of the prefixes, 0 when the list is empty.
func (l *NLRIList) Family() AFI {
	if len(l.ends) == 0 {
		return 0
	}
	return l.afi
}

// Reset empties the list, keeping its storage.
func (l *NLRIList) Reset() {
	l.afi, l.buf, l.ends = 0, l.buf[:0], l.ends[:0]
}

// AppendPrefixes decodes the prefixes and appends them to dst, in order.
func (l *NLRIList) AppendPrefixes(dst []netip.Prefix) []netip.Prefix {
	dst, _ = appendPrefixes(dst, l.buf, l.afi == AFIIPv6) // l.buf is well formed: Add wrote it
	return dst
}

// start is the offset in buf of prefix i.
func (l *NLRIList) start(i int) uint32 {
	if i == 0 {
		return 0
	}
	return l.ends[i-1]
}

// appendRun appends prefixes i, i+1, ... while they fit in room bytes and
// returns the index of the first one left out. The split point comes from
// a binary search of ends, so a message costs one copy and O(log n)
// comparisons whatever its prefix count.
func (l *NLRIList) appendRun(dst []byte, i, room int) ([]byte, int) {
	from := l.start(i)
	if len(l.buf)-int(from) <= room {
		// Everything left fits: no search.
		return append(dst, l.buf[from:]...), len(l.ends)
	}
	// The first prefix ending past from+room does not fit. ends is
	// strictly increasing, so found means that prefix ends exactly at
	// the limit and fits.
	j, found := slices.BinarySearch(l.ends[i:], from+uint32(room))
	if found {
		j++
	}
	j += i
	if j == i {
		return dst, i
	}
	return append(dst, l.buf[from:l.ends[j-1]]...), j
}

// AttrSet is the path attributes and next hop shared by the routes of one
// Adj-RIB-Out entry, encoded once for one session: AppendAnnounceNLRI copies
// them into every message. The zero value is empty; Encode fills it.
type AttrSet struct {
	afi    AFI
	maxLen int
	budget int // room for NLRI in each message
	// wire is the start of every message (header, lengths, then the
	// attributes with NEXT_HOP, or MP_REACH_NLRI up to its NLRI: lead
	// bytes), then, with MP_REACH_NLRI, the attributes that follow the
	// NLRI. A message is then at most three copies and a few patched
	// lengths.
	wire     []byte
	lead     int
	headLen  int // MP_REACH_NLRI up to its NLRI, 0 without
	attrsLen int // the attributes other than MP_REACH_NLRI
}

// Encode encodes the attributes a and next hop nh for announcing prefixes of
// family afi (AFIIPv4 or AFIIPv6) on session s, with the same rules and
// errors as AppendAnnounce, reusing the storage of w. On error w is empty.
//
// The set is the frame AppendAnnounce puts around the NLRI, so Encode has
// AppendAnnounce build one message around a placeholder default route (one
// NLRI byte) and keeps the bytes on either side of it: the two cannot
// disagree on validation, attribute order or lengths.
func (w *AttrSet) Encode(s Session, a *Attributes, nh NextHop, afi AFI) error {
	w.afi, w.wire = 0, w.wire[:0]
	var placeholder [1]netip.Prefix
	switch afi {
	case AFIIPv4:
		placeholder[0] = netip.PrefixFrom(netip.IPv4Unspecified(), 0)
	case AFIIPv6:
		placeholder[0] = netip.PrefixFrom(netip.IPv6Unspecified(), 0)
	default:
		return ErrInvalidPrefix
	}
	msg, err := AppendAnnounce(w.wire, s, a, nh, placeholder[:])
	if err != nil {
		return err
	}
	// Either MP_REACH_NLRI is the first attribute (its next hop length
	// at offset 7 of it) and the placeholder ends its head, or the
	// placeholder is the NLRI field, last.
	w.headLen, w.lead = 0, len(msg)-1
	if AttrType(msg[updateFixedLen+1]) == AttrMPReachNLRI {
		w.headLen = 4 + 3 + 1 + int(msg[updateFixedLen+7]) + 1
		w.lead = updateFixedLen + w.headLen
		w.wire = append(msg[:w.lead], msg[w.lead+1:]...)
	} else {
		w.wire = msg[:w.lead]
	}
	w.attrsLen = len(w.wire) - updateFixedLen - w.headLen
	w.afi, w.maxLen = afi, s.MaxLen()
	w.budget = w.maxLen - updateFixedLen - w.attrsLen - w.headLen
	return nil
}

// AppendAnnounceNLRI is AppendAnnounce from wire-form inputs: it appends the
// UPDATEs announcing every prefix of nlri with the attribute set w, byte for
// byte what AppendAnnounce(dst, s, a, nh, prefixes) appends for the values w
// was encoded from. It fails with ErrNextHopFamily when nlri is not of w's
// family or w was not encoded. On error dst is returned unchanged.
func AppendAnnounceNLRI(dst []byte, w *AttrSet, nlri *NLRIList) ([]byte, error) {
	if nlri.Len() == 0 {
		return dst, nil
	}
	if w.afi == 0 || nlri.afi != w.afi {
		return dst, ErrNextHopFamily
	}
	orig := len(dst)
	lead, attrs := w.wire[:w.lead], w.wire[w.lead:]
	var err error
	for i := 0; i < len(nlri.ends); {
		start := len(dst)
		dst = append(dst, lead...) // the lengths are patched below
		nlriStart := len(dst)
		if from := nlri.start(i); len(nlri.buf)-int(from) <= w.budget {
			// appendRun's first case, here to save a call when the
			// rest fits, as in every 1-prefix UPDATE: its whole
			// encoding is so little work that the call was a tenth.
			dst, i = append(dst, nlri.buf[from:]...), len(nlri.ends)
		} else {
			dst, i = nlri.appendRun(dst, i, w.budget)
		}
		if len(dst) == nlriStart {
			// Cannot happen with a budget of 17 or more; failing
			// beats looping forever if a change breaks that.
			return dst[:orig], ErrMessageTooLong
		}
		if w.headLen > 0 {
			patchMPReach(dst, start, nlriStart, w.headLen, w.attrsLen)
			dst = append(dst, attrs...)
		}
		if dst, err = finishMessage(dst, start, w.maxLen); err != nil {
			return dst[:orig], err
		}
	}
	return dst, nil
}

// AppendWithdrawNLRI is AppendWithdraw from a wire-form list: byte for byte
// what AppendWithdraw appends for the same prefixes.
func AppendWithdrawNLRI(dst []byte, s Session, nlri *NLRIList) ([]byte, error) {
	if nlri.Len() == 0 {
		return dst, nil
	}
	maxLen, orig := s.MaxLen(), len(dst)
	var err error
	for i := 0; i < len(nlri.ends); {
		start := len(dst)
		dst = appendWithdrawLead(dst, nlri.afi)
		fieldStart := len(dst)
		dst, i = nlri.appendRun(dst, i, withdrawLimit(start, maxLen, nlri.afi)-fieldStart)
		dst = patchWithdrawn(dst, start, fieldStart, nlri.afi)
		if dst, err = finishMessage(dst, start, maxLen); err != nil {
			return dst[:orig], err
		}
	}
	return dst, nil
}

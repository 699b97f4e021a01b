package liveness

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
)

// What speakers send each other besides BFD, on the mesh's report port:
// a Status (a speaker's Report and the interfaces it can answer ARP/NDP
// on) when it changes, and a Digest (the versions of the Statuses a
// speaker holds) now and then to one member, which sends back what is
// newer and asks for what it lacks. Statuses are versioned and idempotent,
// so loss, duplicates and reordering only delay agreement.
//
// Encoding (big-endian), one message per datagram:
//
//	version (1) = 1 | type (1): 1 Status, 2 Digest
//	Status: flags (1, bit 0 Leaving) | reporter | epoch (8) | seq (8)
//	        | n (2) × (node | up (1))           observations
//	        | n (1) × name                      interfaces
//	Digest: flags (1, bit 0 Request) | n (2) × (reporter | epoch (8) | seq (8))
//
// where a name is a length byte and that many bytes (1 to 253).

// WireVersion is the encoding's version byte.
const WireVersion = 1

// Message types.
const (
	TypeStatus = 1
	TypeDigest = 2
)

// MaxDatagram bounds an encoded message: AppendDigests splits a digest to
// stay under it, and a Status that would exceed it is refused.
const MaxDatagram = 1400

// ErrMalformed is wrapped by every decoding error.
var ErrMalformed = errors.New("malformed liveness message")

// errTooLarge: a Status does not fit in one datagram.
var errTooLarge = errors.New("liveness status larger than a datagram")

// Status is what a speaker tells the others: its Report, with the
// interfaces it can answer ARP and NDP on (for the L2 election, which
// every speaker computes for every speaker). Report.Seq orders both.
type Status struct {
	Report
	Interfaces []string
}

// Version names one Status: its reporter and (Epoch, Seq).
type Version struct {
	Reporter   string
	Epoch, Seq uint64
}

// Newer reports whether v supersedes o (same reporter assumed).
func (v Version) Newer(o Version) bool {
	if v.Epoch != o.Epoch {
		return v.Epoch > o.Epoch
	}
	return v.Seq > o.Seq
}

// VersionOf is s's Version.
func VersionOf(s Status) Version { return Version{s.Reporter, s.Epoch, s.Seq} }

// Digest lists Versions. Request marks an answer that asks for the
// Statuses it names (a zero version for one the sender has none of);
// a Digest without it also invites such an answer.
type Digest struct {
	Request  bool
	Versions []Version
}

// Message is a decoded datagram: exactly one of Status and Digest is set.
type Message struct {
	Status *Status
	Digest *Digest
}

func appendName(b []byte, name string) ([]byte, error) {
	if len(name) == 0 || len(name) > 253 {
		return b, fmt.Errorf("name %q: length %d not in 1..253", name, len(name))
	}
	b = append(b, byte(len(name)))
	return append(b, name...), nil
}

// AppendStatus appends s's encoding to b.
func AppendStatus(b []byte, s Status) ([]byte, error) {
	start := len(b)
	var flags byte
	if s.Leaving {
		flags = 1
	}
	b = append(b, WireVersion, TypeStatus, flags)
	var err error
	if b, err = appendName(b, s.Reporter); err != nil {
		return b[:start], fmt.Errorf("liveness status: reporter: %w", err)
	}
	b = binary.BigEndian.AppendUint64(b, s.Epoch)
	b = binary.BigEndian.AppendUint64(b, s.Seq)
	if len(s.Observations) > 0xffff || len(s.Interfaces) > 0xff {
		return b[:start], fmt.Errorf("%w: %d observations, %d interfaces", errTooLarge, len(s.Observations), len(s.Interfaces))
	}
	b = binary.BigEndian.AppendUint16(b, uint16(len(s.Observations)))
	for _, o := range s.Observations {
		if b, err = appendName(b, o.Node); err != nil {
			return b[:start], fmt.Errorf("liveness status of %s: observation: %w", s.Reporter, err)
		}
		up := byte(0)
		if o.Up {
			up = 1
		}
		b = append(b, up)
	}
	b = append(b, byte(len(s.Interfaces)))
	for _, name := range s.Interfaces {
		if b, err = appendName(b, name); err != nil {
			return b[:start], fmt.Errorf("liveness status of %s: interface: %w", s.Reporter, err)
		}
	}
	if len(b)-start > MaxDatagram {
		return b[:start], fmt.Errorf("%w: %s's is %d bytes, at most %d", errTooLarge, s.Reporter, len(b)-start, MaxDatagram)
	}
	return b, nil
}

// AppendDigests encodes d as one or more datagrams of at most MaxDatagram
// bytes each (a digest of many speakers does not fit in one).
func AppendDigests(d Digest) ([][]byte, error) {
	var out [][]byte
	var cur []byte
	n := 0
	flush := func() {
		if cur != nil {
			binary.BigEndian.PutUint16(cur[3:5], uint16(n))
			out = append(out, cur)
		}
		cur, n = nil, 0
	}
	start := func() {
		flags := byte(0)
		if d.Request {
			flags = 1
		}
		cur = append(make([]byte, 0, MaxDatagram), WireVersion, TypeDigest, flags, 0, 0)
	}
	for _, v := range d.Versions {
		if len(v.Reporter) == 0 || len(v.Reporter) > 253 {
			return nil, fmt.Errorf("liveness digest: reporter %q: length %d not in 1..253", v.Reporter, len(v.Reporter))
		}
		if cur == nil || len(cur)+1+len(v.Reporter)+16 > MaxDatagram {
			flush()
			start()
		}
		cur, _ = appendName(cur, v.Reporter)
		cur = binary.BigEndian.AppendUint64(cur, v.Epoch)
		cur = binary.BigEndian.AppendUint64(cur, v.Seq)
		n++
	}
	if cur == nil {
		start()
	}
	flush()
	return out, nil
}

type reader struct {
	b   []byte
	err error
}

func (r *reader) fail(what string) {
	if r.err == nil {
		r.err = fmt.Errorf("%w: %s", ErrMalformed, what)
	}
}

func (r *reader) byte(what string) byte {
	if r.err != nil || len(r.b) < 1 {
		r.fail(what + ": truncated")
		return 0
	}
	v := r.b[0]
	r.b = r.b[1:]
	return v
}

func (r *reader) u16(what string) uint16 {
	if r.err != nil || len(r.b) < 2 {
		r.fail(what + ": truncated")
		return 0
	}
	v := binary.BigEndian.Uint16(r.b)
	r.b = r.b[2:]
	return v
}

func (r *reader) u64(what string) uint64 {
	if r.err != nil || len(r.b) < 8 {
		r.fail(what + ": truncated")
		return 0
	}
	v := binary.BigEndian.Uint64(r.b)
	r.b = r.b[8:]
	return v
}

func (r *reader) name(what string) string {
	n := int(r.byte(what))
	if r.err != nil {
		return ""
	}
	if n == 0 || n > 253 || len(r.b) < n {
		r.fail(fmt.Sprintf("%s: length %d (%d bytes left)", what, n, len(r.b)))
		return ""
	}
	s := string(r.b[:n])
	r.b = r.b[n:]
	return s
}

// Decode decodes one datagram. Observations come back sorted by node (a
// Report's order) and without duplicates; any error wraps ErrMalformed.
func Decode(b []byte) (Message, error) {
	if len(b) > MaxDatagram {
		return Message{}, fmt.Errorf("%w: %d bytes, at most %d", ErrMalformed, len(b), MaxDatagram)
	}
	r := &reader{b: b}
	if v := r.byte("version"); r.err == nil && v != WireVersion {
		return Message{}, fmt.Errorf("%w: version %d, want %d", ErrMalformed, v, WireVersion)
	}
	typ := r.byte("type")
	flags := r.byte("flags")
	if r.err == nil && flags&^1 != 0 {
		r.fail(fmt.Sprintf("flags %#x: unknown bits", flags))
	}
	var m Message
	switch {
	case r.err != nil:
	case typ == TypeStatus:
		s := &Status{}
		s.Leaving = flags&1 != 0
		s.Reporter = r.name("reporter")
		s.Epoch, s.Seq = r.u64("epoch"), r.u64("seq")
		n := int(r.u16("observation count"))
		for i := 0; i < n && r.err == nil; i++ {
			node := r.name("observed node")
			up := r.byte("observation")
			if up > 1 {
				r.fail(fmt.Sprintf("observation of %s: %d is neither 0 nor 1", node, up))
			}
			s.Observations = append(s.Observations, Observation{Node: node, Up: up == 1})
		}
		k := int(r.byte("interface count"))
		for i := 0; i < k && r.err == nil; i++ {
			s.Interfaces = append(s.Interfaces, r.name("interface"))
		}
		slices.SortStableFunc(s.Observations, func(a, b Observation) int { return compareStrings(a.Node, b.Node) })
		s.Observations = slices.CompactFunc(s.Observations, func(a, b Observation) bool { return a.Node == b.Node })
		m.Status = s
	case typ == TypeDigest:
		d := &Digest{Request: flags&1 != 0}
		n := int(r.u16("version count"))
		for i := 0; i < n && r.err == nil; i++ {
			v := Version{Reporter: r.name("reporter")}
			v.Epoch, v.Seq = r.u64("epoch"), r.u64("seq")
			d.Versions = append(d.Versions, v)
		}
		m.Digest = d
	default:
		r.fail(fmt.Sprintf("type %d", typ))
	}
	if r.err == nil && len(r.b) > 0 {
		r.fail(fmt.Sprintf("%d bytes after the message", len(r.b)))
	}
	if r.err != nil {
		return Message{}, r.err
	}
	return m, nil
}

func compareStrings(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// Exchange is what a speaker does with a Digest it received, given the
// versions it holds (its own Status's included): Send are the reporters
// whose Statuses it holds newer than the digest says (send them to the
// digest's sender), Request the versions it holds of the reporters the
// digest names newer than it has (a zero version for one it lacks), to
// send back as a Digest with Request set, unless the digest was itself a
// request. Both come sorted by reporter.
func Exchange(held map[string]Version, d Digest) (send []string, request []Version) {
	for _, v := range d.Versions {
		mine, ok := held[v.Reporter]
		switch {
		case ok && mine.Newer(v):
			send = append(send, v.Reporter)
		case !d.Request && (!ok && (v.Epoch != 0 || v.Seq != 0) || ok && v.Newer(mine)):
			if !ok {
				mine = Version{Reporter: v.Reporter}
			}
			request = append(request, mine)
		}
	}
	slices.Sort(send)
	send = slices.Compact(send)
	slices.SortFunc(request, func(a, b Version) int { return compareStrings(a.Reporter, b.Reporter) })
	request = slices.CompactFunc(request, func(a, b Version) bool { return a.Reporter == b.Reporter })
	return send, request
}

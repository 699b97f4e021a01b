package bgpbench

import (
	"bytes"
	"net/netip"
	"syscall"
	"testing"
	"time"

	"github.com/heraldlb/herald/bgpwire"
	gobgp "github.com/osrg/gobgp/v3/pkg/packet/bgp"
)

const localAS = 64512

var session = bgpwire.Session{FourOctetAS: true}

// benchCase is one message, built both ways: Herald's inputs (attributes,
// next hop, prefixes) and the equivalent GoBGP message object.
type benchCase struct {
	name     string
	nh       bgpwire.NextHop
	prefixes []netip.Prefix
}

func cases() []benchCase {
	return []benchCase{
		{"IPv4-808x32", bgpwire.NextHop{Addr: netip.MustParseAddr("192.0.2.1")}, hosts("10.0.0.0", 808)},
		{"IPv6-236x128", bgpwire.NextHop{Addr: netip.MustParseAddr("2001:db8::1")}, hosts("2001:db8:1::", 236)},
		{"IPv4-1x32", bgpwire.NextHop{Addr: netip.MustParseAddr("192.0.2.1")}, hosts("10.0.0.0", 1)},
	}
}

func hosts(base string, n int) []netip.Prefix {
	a := netip.MustParseAddr(base)
	out := make([]netip.Prefix, n)
	for i := range out {
		out[i] = netip.PrefixFrom(a, a.BitLen())
		a = a.Next()
	}
	return out
}

var communities = []uint32{localAS<<16 | 100, localAS<<16 | 200}

func heraldAttrs() *bgpwire.Attributes {
	return &bgpwire.Attributes{
		Origin:      bgpwire.OriginIGP,
		ASPath:      []bgpwire.ASSegment{{Type: bgpwire.ASSequence, ASNs: []uint32{localAS}}},
		Communities: []bgpwire.Community{bgpwire.Community(communities[0]), bgpwire.Community(communities[1])},
	}
}

// gobgpMessage builds the same UPDATE with GoBGP, attributes in the order
// Herald sends them (MP_REACH_NLRI first).
func gobgpMessage(c benchCase) *gobgp.BGPMessage {
	origin := gobgp.NewPathAttributeOrigin(0)
	asPath := gobgp.NewPathAttributeAsPath([]gobgp.AsPathParamInterface{gobgp.NewAs4PathParam(gobgp.BGP_ASPATH_ATTR_TYPE_SEQ, []uint32{localAS})})
	comms := gobgp.NewPathAttributeCommunities(communities)
	if c.nh.Addr.Is4() {
		nlri := make([]*gobgp.IPAddrPrefix, len(c.prefixes))
		for i, p := range c.prefixes {
			nlri[i] = gobgp.NewIPAddrPrefix(uint8(p.Bits()), p.Addr().String())
		}
		attrs := []gobgp.PathAttributeInterface{origin, asPath, gobgp.NewPathAttributeNextHop(c.nh.Addr.String()), comms}
		return gobgp.NewBGPUpdateMessage(nil, attrs, nlri)
	}
	nlri := make([]gobgp.AddrPrefixInterface, len(c.prefixes))
	for i, p := range c.prefixes {
		nlri[i] = gobgp.NewIPv6AddrPrefix(uint8(p.Bits()), p.Addr().String())
	}
	mp := gobgp.NewPathAttributeMpReachNLRI(c.nh.Addr.String(), nlri)
	return gobgp.NewBGPUpdateMessage(nil, []gobgp.PathAttributeInterface{mp, origin, asPath, comms}, nil)
}

// TestIdenticalMessages makes the comparison honest: both encoders produce
// the same bytes, and each decodes the other's output.
func TestIdenticalMessages(t *testing.T) {
	for _, c := range cases() {
		t.Run(c.name, func(t *testing.T) {
			ours, err := bgpwire.AppendAnnounce(nil, session, heraldAttrs(), c.nh, c.prefixes)
			if err != nil {
				t.Fatal(err)
			}
			theirs, err := gobgpMessage(c).Serialize()
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(ours, theirs) {
				t.Fatalf("encodings differ\nherald % x\ngobgp  % x", ours, theirs)
			}
			w, l := wireInputs(t, c)
			if nlri, err := bgpwire.AppendAnnounceNLRI(nil, w, l); err != nil || !bytes.Equal(nlri, theirs) {
				t.Fatalf("wire-form encoding differs (%v)\nherald % x\ngobgp  % x", err, nlri, theirs)
			}
			if _, err := gobgp.ParseBGPMessage(ours); err != nil {
				t.Errorf("GoBGP cannot parse Herald's message: %v", err)
			}
			var m bgpwire.Message
			if err := m.Decode(theirs, session); err != nil {
				t.Errorf("Herald cannot parse GoBGP's message: %v", err)
			}
			if got := len(m.Update.NLRI) + len(m.Update.MPReach.NLRI); got != len(c.prefixes) {
				t.Errorf("decoded %d prefixes, want %d", got, len(c.prefixes))
			}
		})
	}
}

// wireInputs are the case's inputs in the form a speaker keeps per
// attribute set of its Adj-RIB-Out: attributes and prefixes already encoded.
func wireInputs(tb testing.TB, c benchCase) (*bgpwire.AttrSet, *bgpwire.NLRIList) {
	l, err := bgpwire.NewNLRIList(c.prefixes)
	if err != nil {
		tb.Fatal(err)
	}
	var w bgpwire.AttrSet
	if err := w.Encode(session, heraldAttrs(), c.nh, l.Family()); err != nil {
		tb.Fatal(err)
	}
	return &w, l
}

// processCPU is the CPU time the process has used, garbage collector
// included. The benchmarks report it per operation as cpu-ns/op next to the
// wall-clock ns/op: on a shared machine wall time mostly measures the other
// tenants, CPU time much less so.
func processCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// measure runs op in the benchmark loop and reports wall and CPU time per
// operation and per prefix.
func measure(b *testing.B, prefixes, bytes int, op func()) {
	b.SetBytes(int64(bytes))
	b.ReportAllocs()
	cpu := processCPU()
	for b.Loop() {
		op()
	}
	cpuPerOp := float64(processCPU()-cpu) / float64(b.N)
	b.ReportMetric(cpuPerOp, "cpu-ns/op")
	b.ReportMetric(cpuPerOp/float64(prefixes), "cpu-ns/prefix")
}

func BenchmarkEncode(b *testing.B) {
	for _, c := range cases() {
		msg, _ := bgpwire.AppendAnnounce(nil, session, heraldAttrs(), c.nh, c.prefixes)
		b.Run("herald/"+c.name, func(b *testing.B) {
			a := heraldAttrs()
			buf := make([]byte, 0, bgpwire.MaxMessageLen)
			measure(b, len(c.prefixes), len(msg), func() {
				buf, _ = bgpwire.AppendAnnounce(buf[:0], session, a, c.nh, c.prefixes)
			})
		})
		// The same message from wire-form inputs: copies, no encoding.
		b.Run("herald-nlri/"+c.name, func(b *testing.B) {
			w, l := wireInputs(b, c)
			buf := make([]byte, 0, bgpwire.MaxMessageLen)
			measure(b, len(c.prefixes), len(msg), func() {
				buf, _ = bgpwire.AppendAnnounceNLRI(buf[:0], w, l)
			})
		})
		b.Run("gobgp/"+c.name, func(b *testing.B) {
			m := gobgpMessage(c)
			measure(b, len(c.prefixes), len(msg), func() { _, _ = m.Serialize() })
		})
		// The floor: copying the bytes of the same message.
		b.Run("copy/"+c.name, func(b *testing.B) {
			buf := make([]byte, len(msg))
			measure(b, len(c.prefixes), len(msg), func() { copy(buf, msg) })
		})
	}
}

func BenchmarkDecode(b *testing.B) {
	for _, c := range cases() {
		msg, _ := bgpwire.AppendAnnounce(nil, session, heraldAttrs(), c.nh, c.prefixes)
		b.Run("herald/"+c.name, func(b *testing.B) {
			var m bgpwire.Message
			measure(b, len(c.prefixes), len(msg), func() { _ = m.Decode(msg, session) })
		})
		b.Run("gobgp/"+c.name, func(b *testing.B) {
			measure(b, len(c.prefixes), len(msg), func() { _, _ = gobgp.ParseBGPMessage(msg) })
		})
	}
}

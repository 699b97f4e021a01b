package bgpwire

import (
	"net/netip"
	"testing"
)

// benchCase is one of the messages of docs/BENCHMARKS.md: the attributes
// are ORIGIN, a one-AS AS_PATH, the next hop and two communities.
type benchCase struct {
	name     string
	nh       NextHop
	prefixes []netip.Prefix
}

func benchCases() []benchCase {
	return []benchCase{
		{"IPv4-808x32", NextHop{Addr: addr("192.0.2.1")}, hostPrefixes("10.0.0.0", 808)},
		{"IPv6-236x128", NextHop{Addr: addr("2001:db8::1")}, hostPrefixes("2001:db8:1::", 236)},
		{"IPv4-1x32", NextHop{Addr: addr("192.0.2.1")}, hostPrefixes("10.0.0.0", 1)},
	}
}

func benchAttrs() *Attributes {
	a := minimalAttrs()
	a.Communities = []Community{NewCommunity(64512, 100), NewCommunity(64512, 200)}
	return a
}

func BenchmarkEncode(b *testing.B) {
	a := benchAttrs()
	for _, c := range benchCases() {
		b.Run(c.name, func(b *testing.B) {
			buf := make([]byte, 0, MaxMessageLen)
			buf, _ = AppendAnnounce(buf, fourOctet, a, c.nh, c.prefixes)
			if n := len(splitMessages(b, buf, fourOctet)); n != 1 {
				b.Fatalf("%d messages, want 1", n)
			}
			b.SetBytes(int64(len(buf)))
			b.ReportAllocs()
			for b.Loop() {
				buf, _ = AppendAnnounce(buf[:0], fourOctet, a, c.nh, c.prefixes)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(len(c.prefixes)), "ns/prefix")
		})
	}
}

// BenchmarkEncodeNLRI is BenchmarkEncode from the wire-form inputs a
// speaker keeps per attribute set: the same bytes, copied instead of
// encoded.
func BenchmarkEncodeNLRI(b *testing.B) {
	a := benchAttrs()
	for _, c := range benchCases() {
		b.Run(c.name, func(b *testing.B) {
			l, err := NewNLRIList(c.prefixes)
			if err != nil {
				b.Fatal(err)
			}
			var w AttrSet
			if err := w.Encode(fourOctet, a, c.nh, l.Family()); err != nil {
				b.Fatal(err)
			}
			want, _ := AppendAnnounce(nil, fourOctet, a, c.nh, c.prefixes)
			buf := make([]byte, 0, MaxMessageLen)
			if buf, _ = AppendAnnounceNLRI(buf, &w, l); string(buf) != string(want) {
				b.Fatal("AppendAnnounceNLRI differs from AppendAnnounce")
			}
			b.SetBytes(int64(len(buf)))
			b.ReportAllocs()
			for b.Loop() {
				buf, _ = AppendAnnounceNLRI(buf[:0], &w, l)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(len(c.prefixes)), "ns/prefix")
		})
	}
}

// BenchmarkWithdraw and BenchmarkWithdrawNLRI withdraw the prefixes of the
// same cases.
func BenchmarkWithdraw(b *testing.B) {
	for _, c := range benchCases() {
		b.Run(c.name, func(b *testing.B) {
			buf := make([]byte, 0, MaxMessageLen)
			b.ReportAllocs()
			for b.Loop() {
				buf, _ = AppendWithdraw(buf[:0], fourOctet, c.prefixes)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(len(c.prefixes)), "ns/prefix")
		})
	}
}

func BenchmarkWithdrawNLRI(b *testing.B) {
	for _, c := range benchCases() {
		b.Run(c.name, func(b *testing.B) {
			l, err := NewNLRIList(c.prefixes)
			if err != nil {
				b.Fatal(err)
			}
			buf := make([]byte, 0, MaxMessageLen)
			b.ReportAllocs()
			for b.Loop() {
				buf, _ = AppendWithdrawNLRI(buf[:0], fourOctet, l)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(len(c.prefixes)), "ns/prefix")
		})
	}
}

// BenchmarkNLRIListAdd is where the encoding went: the cost of putting a
// route into the wire-form list, paid once when the route enters its
// attribute set instead of in every UPDATE that carries it.
func BenchmarkNLRIListAdd(b *testing.B) {
	for _, c := range benchCases() {
		b.Run(c.name, func(b *testing.B) {
			var l NLRIList
			b.ReportAllocs()
			for b.Loop() {
				l.Reset()
				for _, p := range c.prefixes {
					_ = l.Add(p)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(len(c.prefixes)), "ns/prefix")
		})
	}
}

func BenchmarkDecode(b *testing.B) {
	a := benchAttrs()
	for _, c := range benchCases() {
		b.Run(c.name, func(b *testing.B) {
			msg, _ := AppendAnnounce(nil, fourOctet, a, c.nh, c.prefixes)
			var m Message
			if err := m.Decode(msg, fourOctet); err != nil {
				b.Fatal(err)
			}
			b.SetBytes(int64(len(msg)))
			b.ReportAllocs()
			for b.Loop() {
				_ = m.Decode(msg, fourOctet)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(len(c.prefixes)), "ns/prefix")
		})
	}
}

// BenchmarkCopy is the floor: copying the encoded bytes of the same message.
func BenchmarkCopy(b *testing.B) {
	a := benchAttrs()
	for _, c := range benchCases() {
		b.Run(c.name, func(b *testing.B) {
			msg, _ := AppendAnnounce(nil, fourOctet, a, c.nh, c.prefixes)
			buf := make([]byte, len(msg))
			b.SetBytes(int64(len(msg)))
			b.ReportAllocs()
			for b.Loop() {
				copy(buf, msg)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(len(c.prefixes)), "ns/prefix")
		})
	}
}

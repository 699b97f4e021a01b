package peer

import (
	"net/netip"
	"testing"
)

// The UPDATE stream of a new session for 100,000 IPv4 /32 with one
// attribute set (124 messages, about 500 kB), the wire-form lists already
// built: what every re-establishment costs.
func BenchmarkInitialTable100k(b *testing.B) {
	p, _ := up(b, baseConfig(), hostRoutes("10.0.0.0", 100000, Attrs{}), baseLocal, caps4)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		p.Step(Event{Kind: Closed, Conn: p.est.conn})
		b.StartTimer()
		bringUp(b, p, baseLocal, caps4)
	}
	b.StopTimer()
	if p.Status().UpdatesSent != uint64(124*(b.N+1)) {
		b.Fatalf("%d UPDATEs for %d tables", p.Status().UpdatesSent, b.N+1)
	}
}

// The same from nothing: the desired set given as 100,000 routes, then the
// first session, which builds the sorted wire-form list.
func BenchmarkSetRoutesAndInitialTable100k(b *testing.B) {
	routes := hostRoutes("10.0.0.0", 100000, Attrs{})
	b.ReportAllocs()
	for b.Loop() {
		up(b, baseConfig(), routes, baseLocal, caps4)
	}
}

// One route changing in a table of 100,000 while Established: one UPDATE.
func BenchmarkOneRouteChange100k(b *testing.B) {
	p, _ := up(b, baseConfig(), hostRoutes("10.0.0.0", 100000, Attrs{}), baseLocal, caps4)
	extra := []Route{{Prefix: netip.MustParsePrefix("10.200.0.1/32")}}
	withdraw := []netip.Prefix{extra[0].Prefix}
	before := p.Status().UpdatesSent
	buf := make([]Action, 0, 8)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if i%2 == 0 {
			buf = p.StepAppend(buf[:0], Event{Kind: ChangeRoutes, Routes: extra})
		} else {
			buf = p.StepAppend(buf[:0], Event{Kind: ChangeRoutes, Withdraw: withdraw})
		}
		i++
	}
	if got := p.Status().UpdatesSent - before; got != uint64(i) {
		b.Fatalf("%d UPDATEs for %d changes", got, i)
	}
}

// The same change given as the whole desired set (SetRoutes), which costs a
// pass over the 100,000 routes.
func BenchmarkOneRouteChangeAsSetRoutes100k(b *testing.B) {
	base := hostRoutes("10.0.0.0", 100000, Attrs{})
	p, _ := up(b, baseConfig(), base, baseLocal, caps4)
	with := append(append([]Route(nil), base...), Route{Prefix: netip.MustParsePrefix("10.200.0.1/32")})
	before := p.Status().UpdatesSent
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if i%2 == 0 {
			p.Step(Event{Kind: SetRoutes, Routes: with})
		} else {
			p.Step(Event{Kind: SetRoutes, Routes: base})
		}
		i++
	}
	if got := p.Status().UpdatesSent - before; got != uint64(i) {
		b.Fatalf("%d UPDATEs for %d changes", got, i)
	}
}

package speaker

import (
	"context"
	"net/netip"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/heraldlb/herald/bgpwire"
	"github.com/heraldlb/herald/config"
	"github.com/heraldlb/herald/tracing"
)

// updatePath is what the peer actor does for one Service's route on its way
// to the wire: take the routes (bgp.peer.update), encode the UPDATE, and
// record the batch sent (bgp.update.send) and its prefixes
// (herald_bgp_update_prefixes), as peerActor.step does for a Bulk send.
type updatePath struct {
	a      *peerActor
	msg    changeRoutes
	attrs  *bgpwire.Attributes
	nh     bgpwire.NextHop
	prefix []netip.Prefix
	buf    []byte
}

func newUpdatePath(tp trace.TracerProvider) *updatePath {
	parent := trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: trace.TraceID{1}, SpanID: trace.SpanID{1}, TraceFlags: trace.FlagsSampled})
	metrics, err := NewMetrics(prometheus.NewRegistry())
	if err != nil {
		panic(err)
	}
	return &updatePath{
		a: &peerActor{
			e:   &env{tracer: tracing.NewTracer(tp, "bench"), metrics: metrics},
			cfg: &config.Peer{Name: "router", Address: netip.MustParseAddr("192.0.2.1"), Port: 179},
		},
		msg:    changeRoutes{trace: parent},
		attrs:  &bgpwire.Attributes{Origin: bgpwire.OriginIGP},
		nh:     bgpwire.NextHop{Addr: netip.MustParseAddr("192.0.2.10")},
		prefix: []netip.Prefix{netip.MustParsePrefix("203.0.113.7/32")},
		buf:    make([]byte, 0, bgpwire.MaxMessageLen),
	}
}

func (u *updatePath) run(tb testing.TB) {
	u.a.traceRoutes(u.msg)
	var err error
	u.buf, err = bgpwire.AppendAnnounce(u.buf[:0], bgpwire.Session{FourOctetAS: true}, u.attrs, u.nh, u.prefix)
	if err != nil {
		tb.Fatal(err)
	}
	// As the peer actor's step does for a Bulk send.
	u.a.traceSend(u.buf)
	u.a.observeUpdates(u.buf)
	if w := u.a.wireWritten(); w != nil {
		tb.Fatal("no change waits for the wire here")
	}
}

// TestUpdatePathTracingOffAllocatesNothing: with tracing not configured,
// the spans of the BGP send path cost no allocation beyond the encoding's
// own (none, into a reused buffer). With tracing on they must record, so
// the comparison shows the test can tell the difference.
func TestUpdatePathTracingOffAllocatesNothing(t *testing.T) {
	off := newUpdatePath(tracing.Off().TracerProvider())
	if n := testing.AllocsPerRun(200, func() { off.run(t) }); n != 0 {
		t.Errorf("tracing off: %v allocations per UPDATE, want 0", n)
	}
	rec := tracetest.NewSpanRecorder()
	on := newUpdatePath(sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec)))
	on.run(t)
	if got := len(rec.Ended()); got != 2 {
		t.Fatalf("tracing on: %d spans ended, want bgp.peer.update and bgp.update.send", got)
	}
	if n := testing.AllocsPerRun(20, func() { on.run(t) }); n == 0 {
		t.Errorf("tracing on: no allocations per UPDATE; the off measurement proves nothing")
	}
}

// BenchmarkUpdatePathTracing is the send path with tracing off and on
// (recording every span); off must report 0 allocs/op.
func BenchmarkUpdatePathTracing(b *testing.B) {
	for _, c := range []struct {
		name string
		tp   trace.TracerProvider
	}{
		{"off", tracing.Off().TracerProvider()},
		{"on", sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(discard{}))},
	} {
		b.Run(c.name, func(b *testing.B) {
			u := newUpdatePath(c.tp)
			b.ReportAllocs()
			for b.Loop() {
				u.run(b)
			}
		})
	}
}

// discard ends spans as an exporter would take them, keeping none, so a
// long benchmark does not grow a recorder.
type discard struct{}

func (discard) OnStart(context.Context, sdktrace.ReadWriteSpan) {}
func (discard) OnEnd(sdktrace.ReadOnlySpan)                     {}
func (discard) Shutdown(context.Context) error                  { return nil }
func (discard) ForceFlush(context.Context) error                { return nil }

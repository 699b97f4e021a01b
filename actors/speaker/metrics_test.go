package speaker

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	kubefake "k8s.io/client-go/kubernetes/fake"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/heraldlb/herald/actors"
	"github.com/heraldlb/herald/announce"
	mlbfake "github.com/heraldlb/herald/api/client/clientset/versioned/fake"
	"github.com/heraldlb/herald/api/v1beta1"
	"github.com/heraldlb/herald/api/v1beta2"
	"github.com/heraldlb/herald/bgpwire/fsm"
	"github.com/heraldlb/herald/bgpwire/peer"
	"github.com/heraldlb/herald/config"
	"github.com/heraldlb/herald/internal/testlog"
)

// find returns the series of name in reg whose labels include want, or nil.
func find(t *testing.T, reg *prometheus.Registry, name string, want map[string]string) *dto.Metric {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			for k, v := range want {
				if !slices.ContainsFunc(m.GetLabel(), func(l *dto.LabelPair) bool { return l.GetName() == k && l.GetValue() == v }) {
					continue next
				}
			}
			return m
		}
	}
	return nil
}

// One BGP session through a scripted scenario, with the speaker's real
// tree and a test router: the Service present at start goes out with the
// session's initial table (session set-up, not measured by the wire
// latency); a Service created later and then deleted are two changes
// measured from their informer events to the wire; every UPDATE's
// prefixes are counted, as many as metallb_bgp_updates_total counts
// UPDATEs; the configuration gauges say loaded under both names.
func TestSpeakerMetricsFollowAScriptedBGPSession(t *testing.T) {
	router := startTestRouter(t, 64513)
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1"},
		Status: corev1.NodeStatus{Addresses: []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "192.0.2.10"}}}}
	kube := kubefake.NewClientset(node, lbService("web", "10.10.0.1"), endpoints("web", "n1"))
	mlb := mlbfake.NewSimpleClientset(
		&v1beta1.IPAddressPool{ObjectMeta: metav1.ObjectMeta{Namespace: testNS, Name: "p"},
			Spec: v1beta1.IPAddressPoolSpec{Addresses: []string{"10.10.0.0/24"}}},
		&v1beta2.BGPPeer{ObjectMeta: metav1.ObjectMeta{Namespace: testNS, Name: "r"},
			Spec: v1beta2.BGPPeerSpec{MyASN: 64512, ASN: 64513, Address: "127.0.0.1", Port: router.port()}},
		&v1beta1.BGPAdvertisement{ObjectMeta: metav1.ObjectMeta{Namespace: testNS, Name: "adv"}},
	)
	reg := prometheus.NewRegistry()
	s, err := New(Options{Kube: kube, Metallb: mlb, Registry: reg, NodeName: "n1", NoL2: true, LivenessPort: -1,
		Namespace: testNS, BackoffInitial: 10 * time.Millisecond, BackoffMax: 100 * time.Millisecond, Logger: testlog.New(t)})
	if err != nil {
		t.Fatal(err)
	}
	began := time.Now()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })

	peerLabels := map[string]string{"peer": fmt.Sprintf("127.0.0.1:%d", router.port()), "name": "r"}
	bgpLatency := map[string]string{"mode": modeBGP}
	// state waits until the series say: UPDATEs sent and counted with
	// their prefixes, and changes measured on the wire.
	state := func(what string, updates, prefixes, measured int) {
		t.Helper()
		eventually(t, what, func() bool {
			u := find(t, reg, "metallb_bgp_updates_total", peerLabels)
			h := find(t, reg, "herald_bgp_update_prefixes", peerLabels)
			l := find(t, reg, "herald_event_to_wire_seconds", bgpLatency)
			lat := uint64(0)
			if l != nil {
				lat = l.GetHistogram().GetSampleCount()
			}
			return u != nil && h != nil && u.GetCounter().GetValue() == float64(updates) &&
				h.GetHistogram().GetSampleCount() == uint64(updates) && h.GetHistogram().GetSampleSum() == float64(prefixes) &&
				lat == uint64(measured)
		})
	}
	eventually(t, "the first route", func() bool { return slices.Equal(router.routes(), []string{"10.10.0.1/32"}) })
	state("the initial table: one UPDATE of one prefix, not measured", 1, 1, 0)
	for _, name := range []string{"metallb_bgp_session_up", "metallb_k8s_client_config_loaded_bool", "herald_config_loaded"} {
		m := find(t, reg, name, nil)
		if name == "metallb_bgp_session_up" {
			m = find(t, reg, name, peerLabels)
		}
		if m == nil || m.GetGauge().GetValue() != 1 {
			t.Errorf("%s = %v, want 1", name, m)
		}
	}
	if m := find(t, reg, "metallb_k8s_client_config_stale_bool", nil); m == nil || m.GetGauge().GetValue() != 0 {
		t.Errorf("metallb_k8s_client_config_stale_bool = %v, want 0", m)
	}

	if _, err := kube.CoreV1().Services("app").Create(ctx, lbService("api", "10.10.0.2"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := kube.DiscoveryV1().EndpointSlices("app").Create(ctx, endpoints("api", "n1"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the second route", func() bool { return len(router.routes()) == 2 })
	state("a created Service: its UPDATE measured", 2, 2, 1)
	if err := kube.CoreV1().Services("app").Delete(ctx, "api", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the withdrawal", func() bool { return len(router.routes()) == 1 })
	state("a deleted Service: its withdrawal measured", 3, 3, 2)

	l := find(t, reg, "herald_event_to_wire_seconds", bgpLatency).GetHistogram()
	if sum := l.GetSampleSum(); sum <= 0 || sum > time.Since(began).Seconds() {
		t.Errorf("the two measured latencies sum to %vs, want more than 0 and at most the test's %v", sum, time.Since(began))
	}

	// The BGPPeer removed: none of its series stays behind, counters
	// included.
	peerSeries := []string{"metallb_bgp_session_up", "metallb_bgp_announced_prefixes_total",
		"metallb_bgp_updates_total", "herald_bgp_update_prefixes"}
	if err := mlb.MetallbV1beta2().BGPPeers(testNS).Delete(ctx, "r", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the removed peer's series gone", func() bool {
		for _, name := range peerSeries {
			if find(t, reg, name, map[string]string{"name": "r"}) != nil {
				return false
			}
		}
		return true
	})
	if find(t, reg, "herald_event_to_wire_seconds", bgpLatency) == nil {
		t.Error("herald_event_to_wire_seconds went with the peer; it is the speaker's, not the peer's")
	}
}

// The wire latency of a BGP change, step by step on a fake clock: measured
// from the informer event to the moment the connection's writer wrote the
// UPDATE, only for a change given to an Established session, dropped when
// the change sent nothing (while the connection is not blocked) or when
// the session went down first.
func TestBGPWireLatencyIsMeasuredFromEventToWrite(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clk := clocktesting.NewFakeClock(start)
	reg := prometheus.NewRegistry()
	m, err := NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	a := &peerActor{e: &env{Runtime: &actors.Runtime{Clock: clk}, metrics: m}, name: "r",
		cfg: &config.Peer{Name: "r", Address: netip.MustParseAddr("192.0.2.1"), Port: 179}}
	h := m.eventToWire.WithLabelValues(modeBGP)
	count := func() uint64 { return histogramOf(t, h).GetSampleCount() }

	// Not Established: the change rides the initial table, unmeasured.
	if a.awaitWire(start) || a.wireWritten() != nil {
		t.Fatal("a change to a session not Established is measured")
	}
	a.last = peer.Status{State: fsm.Established}
	if a.awaitWire(time.Time{}) {
		t.Fatal("a change no informer event caused is measured")
	}

	// Two changes, 30 ms and 10 ms before the UPDATE carrying both is
	// written (the writer runs 5 ms after the step).
	a.awaitWire(start)
	clk.Step(20 * time.Millisecond)
	a.awaitWire(clk.Now())
	clk.Step(5 * time.Millisecond)
	written := a.wireWritten()
	if written == nil || a.wireWritten() != nil {
		t.Fatal("the waiting changes are not handed to the writer exactly once")
	}
	clk.Step(5 * time.Millisecond)
	written()
	if got, sum := count(), histogramOf(t, h).GetSampleSum(); got != 2 || sum < 0.0399 || sum > 0.0401 {
		t.Errorf("after one write: %d observations summing to %vs, want 2 summing to 0.040s", got, sum)
	}

	// A change that sent nothing on a flowing connection is dropped; on a
	// blocked one it waits for the drain.
	a.awaitWire(clk.Now())
	a.settleWire(false)
	if a.wireWritten() != nil {
		t.Error("a change that sent nothing still waits")
	}
	a.blocked = true
	a.awaitWire(clk.Now())
	a.settleWire(false)
	if a.wireWritten() == nil {
		t.Error("a change held back by a blocked connection was dropped")
	}
	if count() != 2 {
		t.Errorf("%d observations, want still 2 (nothing written since)", count())
	}
}

// L2 ownership moves in a scripted sequence of planner steps: gained from
// nobody, taken over from another node, lost, and steps that concern
// other nodes or only change the interfaces.
func TestL2OwnershipCounters(t *testing.T) {
	reg := prometheus.NewRegistry()
	m, err := NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	ip := netip.MustParseAddr("10.0.0.1")
	owner := func(n string, ifs ...string) announce.L2Owner { return announce.L2Owner{Node: n, Interfaces: ifs} }
	for _, step := range []struct {
		what                    string
		changes                 []announce.L2Change
		gained, lost, takeovers float64
	}{
		{"first owner, nobody before", []announce.L2Change{{IP: ip, New: owner("n1")}}, 1, 0, 0},
		{"interfaces only", []announce.L2Change{{IP: ip, Old: owner("n1"), New: owner("n1", "eth0")}}, 1, 0, 0},
		{"lost to n2", []announce.L2Change{{IP: ip, Old: owner("n1", "eth0"), New: owner("n2")}}, 1, 1, 0},
		{"taken back from n2", []announce.L2Change{{IP: ip, Old: owner("n2"), New: owner("n1")}}, 2, 1, 1},
		{"other nodes' business", []announce.L2Change{{IP: netip.MustParseAddr("10.0.0.2"), Old: owner("n2"), New: owner("n3")}}, 2, 1, 1},
		{"lost to nobody, and another taken over in the same step", []announce.L2Change{
			{IP: ip, Old: owner("n1")},
			{IP: netip.MustParseAddr("10.0.0.2"), Old: owner("n3"), New: owner("n1")}}, 3, 2, 2},
	} {
		m.observeL2(step.changes, "n1")
		got := []float64{testutil.ToFloat64(m.l2OwnerChanges.WithLabelValues("gained")),
			testutil.ToFloat64(m.l2OwnerChanges.WithLabelValues("lost")), testutil.ToFloat64(m.l2Takeovers)}
		if want := []float64{step.gained, step.lost, step.takeovers}; !slices.Equal(got, want) {
			t.Errorf("after %q: gained, lost, takeovers = %v, want %v", step.what, got, want)
		}
	}
}

// The L2 wire latency: an interface that starts answering for IPs observes
// each one a Service or EndpointSlice event caused, from that event.
func TestL2WireLatency(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clk := clocktesting.NewFakeClock(start)
	m, err := NewMetrics(prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	a := &ifaceActor{e: &env{Runtime: &actors.Runtime{Clock: clk}, metrics: m}}
	ip1, ip2, ip3 := netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2"), netip.MustParseAddr("10.0.0.3")
	clk.Step(7 * time.Millisecond)
	// ip2 came from a mesh change (no event), ip3 was not added here.
	a.l2Started([]netip.Addr{ip1, ip2}, map[netip.Addr]time.Time{ip1: start, ip3: start})
	a.l2Started([]netip.Addr{ip1}, nil)
	h := histogramOf(t, m.eventToWire.WithLabelValues(modeL2))
	if h.GetSampleCount() != 1 || h.GetSampleSum() < 0.0069 || h.GetSampleSum() > 0.0071 {
		t.Errorf("%d observations summing to %vs, want one of 0.007s", h.GetSampleCount(), h.GetSampleSum())
	}
}

func histogramOf(t *testing.T, o prometheus.Observer) *dto.Histogram {
	t.Helper()
	var out dto.Metric
	if err := o.(prometheus.Metric).Write(&out); err != nil {
		t.Fatal(err)
	}
	return out.GetHistogram()
}

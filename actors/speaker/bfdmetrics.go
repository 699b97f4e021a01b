package speaker

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/heraldlb/herald/bfdnet"
	"github.com/heraldlb/herald/bgpwire/bfd"
)

// bfdCollector reports every BFD session's state and counters, read from
// the Managers when Prometheus scrapes: the sessions count on their own
// goroutines, and a gauge set from an actor would lag behind them.
//
// A session is labelled by what it serves: kind "bgp" with the BGPPeer's
// name and address, or kind "mesh" with the other speaker's node name.
type bfdCollector struct {
	mu       sync.Mutex
	managers map[*bfdnet.Manager]bool

	up, state, flaps, in, out, drops, auth, detect *prometheus.Desc
	noSession, queueDrops                          *prometheus.Desc
}

func newBFDCollector() *bfdCollector {
	labels := []string{"kind", "name", "peer"}
	d := func(name, help string, l []string) *prometheus.Desc { return prometheus.NewDesc(name, help, l, nil) }
	return &bfdCollector{managers: map[*bfdnet.Manager]bool{},
		up:     d("herald_bfd_session_up", "1 while the BFD session is Up.", labels),
		state:  d("herald_bfd_session_state", "The BFD session's state: 0 AdminDown, 1 Down, 2 Init, 3 Up (RFC 5880 values).", labels),
		flaps:  d("herald_bfd_session_flaps_total", "Up to Down transitions of the BFD session.", labels),
		in:     d("herald_bfd_control_packets_received_total", "BFD Control packets from the peer that reached the session.", labels),
		out:    d("herald_bfd_control_packets_sent_total", "BFD Control packets sent to the peer.", labels),
		drops:  d("herald_bfd_packets_dropped_total", "The peer's BFD packets dropped (malformed, wrong TTL, failed checks), by reason.", append(labels, "reason")),
		auth:   d("herald_bfd_auth_failures_total", "The peer's BFD packets that failed authentication.", labels),
		detect: d("herald_bfd_detection_time_seconds", "The negotiated Detection Time of the Up session.", labels),
		noSession: d("herald_bfd_packets_unmatched_total",
			"Well-formed BFD packets that matched no session, by kind of Manager.", []string{"kind"}),
		queueDrops: d("herald_bfd_receive_queue_drops_total",
			"BFD datagrams the kernel dropped because the receive buffer was full, by kind of Manager.", []string{"kind"}),
	}
}

func (b *bfdCollector) add(m *bfdnet.Manager)    { b.mu.Lock(); b.managers[m] = true; b.mu.Unlock() }
func (b *bfdCollector) remove(m *bfdnet.Manager) { b.mu.Lock(); delete(b.managers, m); b.mu.Unlock() }

func (b *bfdCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{b.up, b.state, b.flaps, b.in, b.out, b.drops, b.auth, b.detect, b.noSession, b.queueDrops} {
		ch <- d
	}
}

func (b *bfdCollector) Collect(ch chan<- prometheus.Metric) {
	b.mu.Lock()
	managers := make([]*bfdnet.Manager, 0, len(b.managers))
	for m := range b.managers {
		managers = append(managers, m)
	}
	b.mu.Unlock()
	counter := func(d *prometheus.Desc, v uint64, l ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), l...)
	}
	gauge := func(d *prometheus.Desc, v float64, l ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, l...)
	}
	kinds := map[string]bfdnet.ManagerStats{}
	for _, m := range managers {
		kind := ""
		for _, s := range m.Sessions() {
			l, ok := bfdLabels(s)
			if !ok {
				continue
			}
			kind = l[0]
			st := s.Stats()
			up := 0.0
			if st.State == bfd.Up {
				up = 1
				gauge(b.detect, st.DetectionTime.Seconds(), l...)
			}
			gauge(b.up, up, l...)
			gauge(b.state, float64(st.State), l...)
			counter(b.flaps, st.Flaps, l...)
			counter(b.in, st.PacketsIn, l...)
			counter(b.out, st.PacketsOut, l...)
			counter(b.auth, st.AuthFailures, l...)
			drops := st.Drops
			for r := range drops {
				drops[r] += st.Malformed[r]
			}
			for r, n := range drops {
				if n > 0 {
					counter(b.drops, n, append(l, bfd.DropReason(r).String())...)
				}
			}
			if st.TTLDrops > 0 {
				counter(b.drops, st.TTLDrops, append(l, "TTL")...)
			}
		}
		if kind == "" {
			continue
		}
		ms := m.Stats()
		k := kinds[kind]
		k.NoSession += ms.NoSession
		k.QueueDrops += ms.QueueDrops
		kinds[kind] = k
	}
	for kind, ms := range kinds {
		counter(b.noSession, ms.NoSession, kind)
		counter(b.queueDrops, ms.QueueDrops, kind)
	}
}

// bfdLabels are a session's kind, name and peer labels.
func bfdLabels(s *bfdnet.Session) ([]string, bool) {
	switch t := s.Tag().(type) {
	case bfdTag:
		return []string{"bgp", t.peer, s.Key().Peer.String()}, true
	case meshTag:
		return []string{"mesh", t.node, s.Key().Peer.String()}, true
	}
	return nil, false
}

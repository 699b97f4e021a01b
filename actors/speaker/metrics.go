package speaker

import (
	"slices"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/heraldlb/herald/bgpwire/fsm"
	"github.com/heraldlb/herald/bgpwire/peer"
	"github.com/heraldlb/herald/l2"
)

// Metrics are the speaker's Prometheus series, registered on the registry
// the caller injects.
type Metrics struct {
	// Herald's and MetalLB's names for the same two facts.
	configLoaded sameGauges
	configStale  sameGauges
	ready        prometheus.Gauge
	apiErrors    *prometheus.CounterVec

	// BGP, with MetalLB's names where the meaning is the same: a peer is
	// labelled by its address:port (MetalLB's label) and its BGPPeer name.
	sessionUp *prometheus.GaugeVec
	updates   *prometheus.CounterVec
	prefixes  *prometheus.GaugeVec
	// malformed counts the peer's malformed UPDATEs by RFC 7606 outcome.
	malformed *prometheus.CounterVec

	// Herald's own: how long a Service's change takes from this
	// speaker's informer to the wire (docs/metrics.md has the exact
	// definition), how many prefixes each UPDATE carries, and L2
	// ownership moves.
	eventToWire    *prometheus.HistogramVec
	updatePrefixes *prometheus.HistogramVec
	l2Takeovers    prometheus.Counter
	l2OwnerChanges *prometheus.CounterVec

	// l2 reads the ARP/NDP responders' counters when scraped, bfd the
	// BFD sessions'.
	l2  *l2Collector
	bfd *bfdCollector

	// The liveness mesh.
	meshAlive, meshHeld                                  prometheus.Gauge
	meshSent, meshSendErrors, meshMalformed, meshForeign prometheus.Counter
}

// NewMetrics creates the series and registers them on reg.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		configLoaded: sameGauges{
			prometheus.NewGauge(prometheus.GaugeOpts{
				Name: "herald_config_loaded",
				Help: "1 once this speaker has loaded a valid configuration.",
			}),
			prometheus.NewGauge(prometheus.GaugeOpts{
				Name: "metallb_k8s_client_config_loaded_bool",
				Help: "1 once this speaker has loaded a valid configuration (MetalLB's name for herald_config_loaded).",
			}),
		},
		configStale: sameGauges{
			prometheus.NewGauge(prometheus.GaugeOpts{
				Name: "herald_config_stale",
				Help: "1 while the newest configuration is invalid and an older valid one is in use.",
			}),
			prometheus.NewGauge(prometheus.GaugeOpts{
				Name: "metallb_k8s_client_config_stale_bool",
				Help: "1 while the newest configuration is invalid and an older valid one is in use (MetalLB's name for herald_config_stale).",
			}),
		},
		ready: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "herald_speaker_ready",
			Help: "1 while the speaker's caches are synced and its actor tree runs.",
		}),
		apiErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "herald_api_update_errors_total",
			Help: "Failed writes to the Kubernetes API, by resource.",
		}, []string{"resource"}),
		sessionUp: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "metallb_bgp_session_up",
			Help: "1 while the BGP session with the peer is Established.",
		}, []string{"peer", "name"}),
		updates: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "metallb_bgp_updates_total",
			Help: "UPDATE messages carrying routes sent to the peer.",
		}, []string{"peer", "name"}),
		prefixes: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "metallb_bgp_announced_prefixes_total",
			Help: "Prefixes the Established peer has from this speaker now.",
		}, []string{"peer", "name"}),
		malformed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "herald_bgp_malformed_updates_total",
			Help: "RFC 7606 actions taken on malformed UPDATEs from the peer (action: attribute-discard, treat-as-withdraw or session-reset); one UPDATE with several faults counts once per action reported.",
		}, []string{"peer", "name", "action"}),
		eventToWire: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "herald_event_to_wire_seconds",
			Help:    "Seconds from this speaker's informer receiving a Service or EndpointSlice event to the UPDATE it caused written to an Established peer (mode bgp) or the gratuitous ARP/NA started on an interface (mode l2).",
			Buckets: latencyBuckets,
		}, []string{"mode"}),
		updatePrefixes: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "herald_bgp_update_prefixes",
			Help:    "Prefixes (announced plus withdrawn) per UPDATE sent to the peer; End-of-RIB markers are not counted.",
			Buckets: prefixBuckets,
		}, []string{"peer", "name"}),
		l2Takeovers: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "herald_layer2_takeovers_total",
			Help: "Times this node started answering ARP/NDP for an IP another node answered for (a failover to this node).",
		}),
		l2OwnerChanges: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "herald_layer2_owner_changes_total",
			Help: "Times this node became (change=gained) or stopped being (change=lost) the node answering ARP/NDP for an IP.",
		}, []string{"change"}),
		l2:  newL2Collector(),
		bfd: newBFDCollector(),
		meshAlive: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "herald_liveness_speakers_alive",
			Help: "Speakers alive in this speaker's view of the liveness mesh, itself included.",
		}),
		meshHeld: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "herald_liveness_statuses_held",
			Help: "Other speakers whose liveness status this speaker holds (all members but itself when in sync).",
		}),
		meshSent: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "herald_liveness_datagrams_sent_total",
			Help: "Liveness statuses and digests sent to other speakers.",
		}),
		meshSendErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "herald_liveness_send_errors_total",
			Help: "Liveness datagrams the socket refused.",
		}),
		meshMalformed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "herald_liveness_datagrams_malformed_total",
			Help: "Liveness datagrams received that did not decode.",
		}),
		meshForeign: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "herald_liveness_datagrams_foreign_total",
			Help: "Liveness datagrams received from an address that is no speaker's node, ignored.",
		}),
	}
	cs := []prometheus.Collector{m.ready, m.apiErrors, m.sessionUp, m.updates, m.prefixes, m.malformed,
		m.eventToWire, m.updatePrefixes, m.l2Takeovers, m.l2OwnerChanges,
		m.l2, m.bfd, m.meshAlive, m.meshHeld, m.meshSent, m.meshSendErrors, m.meshMalformed, m.meshForeign}
	for _, g := range append(slices.Clone(m.configLoaded), m.configStale...) {
		cs = append(cs, g)
	}
	for _, c := range cs {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

func (m *Metrics) apiError(resource string) { m.apiErrors.WithLabelValues(resource).Inc() }

// observePeer records a BGP session's status; prev is the status observed
// before (the Peer counts UPDATEs itself, the counter adds the difference).
func (m *Metrics) observePeer(name, addr string, st, prev peer.Status) {
	up := 0.0
	if st.State == fsm.Established {
		up = 1
	}
	m.sessionUp.WithLabelValues(addr, name).Set(up)
	m.prefixes.WithLabelValues(addr, name).Set(float64(st.Announced[peer.IPv4] + st.Announced[peer.IPv6]))
	if st.UpdatesSent > prev.UpdatesSent {
		m.updates.WithLabelValues(addr, name).Add(float64(st.UpdatesSent - prev.UpdatesSent))
	}
}

// forgetPeer removes a session's gauges when its actor stops. The
// counters count on, like any counter: a session restarted for a changed
// BGPPeer goes on from where it was (forgetPeerCounters ends them).
func (m *Metrics) forgetPeer(name, addr string) {
	m.sessionUp.DeleteLabelValues(addr, name)
	m.prefixes.DeleteLabelValues(addr, name)
}

// forgetPeerCounters removes every series of the BGPPeer name, under any
// address it had, once this node has no session with it any more (removed,
// or its node selectors no longer match): otherwise a cluster that renames
// or removes peers would export their last counts for ever. If it comes
// back, its counters start again from zero, a reset rate() allows for.
func (m *Metrics) forgetPeerCounters(name string) {
	byName := prometheus.Labels{"name": name}
	m.sessionUp.DeletePartialMatch(byName)
	m.prefixes.DeletePartialMatch(byName)
	m.updates.DeletePartialMatch(byName)
	m.updatePrefixes.DeletePartialMatch(byName)
	m.malformed.DeletePartialMatch(byName)
}

// sameGauges are gauges that say one fact under several names (Herald's
// and MetalLB's): they are always set together.
type sameGauges []prometheus.Gauge

// Set sets every gauge to v.
func (g sameGauges) Set(v float64) {
	for _, x := range g {
		x.Set(v)
	}
}

// l2Collector reports the ARP/NDP responders' per-IP counters, read when
// Prometheus scrapes (the responders count on their own goroutines), with
// MetalLB's names.
type l2Collector struct {
	mu         sync.Mutex
	responders map[*l2.Responder]bool
	requests   *prometheus.Desc
	responses  *prometheus.Desc
	gratuitous *prometheus.Desc
}

func newL2Collector() *l2Collector {
	labels := []string{"ip", "interface"}
	return &l2Collector{responders: map[*l2.Responder]bool{},
		requests:   prometheus.NewDesc("metallb_layer2_requests_received", "ARP requests and Neighbor Solicitations received for an owned IP.", labels, nil),
		responses:  prometheus.NewDesc("metallb_layer2_responses_sent", "ARP replies and Neighbor Advertisements sent for an owned IP.", labels, nil),
		gratuitous: prometheus.NewDesc("metallb_layer2_gratuitous_sent", "Gratuitous ARP and unsolicited Neighbor Advertisements sent for an IP.", labels, nil),
	}
}

func (c *l2Collector) add(r *l2.Responder) {
	c.mu.Lock()
	c.responders[r] = true
	c.mu.Unlock()
}

func (c *l2Collector) remove(r *l2.Responder) {
	c.mu.Lock()
	delete(c.responders, r)
	c.mu.Unlock()
}

func (c *l2Collector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.requests
	ch <- c.responses
	ch <- c.gratuitous
}

func (c *l2Collector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	rs := make([]*l2.Responder, 0, len(c.responders))
	for r := range c.responders {
		rs = append(rs, r)
	}
	c.mu.Unlock()
	for _, r := range rs {
		for _, n := range r.Counters() {
			ip := n.IP.String()
			ch <- prometheus.MustNewConstMetric(c.requests, prometheus.CounterValue, float64(n.Requests), ip, r.Name())
			ch <- prometheus.MustNewConstMetric(c.responses, prometheus.CounterValue, float64(n.Replies), ip, r.Name())
			ch <- prometheus.MustNewConstMetric(c.gratuitous, prometheus.CounterValue, float64(n.Gratuitous), ip, r.Name())
		}
	}
}

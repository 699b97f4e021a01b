package controller

import (
	"math"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/heraldlb/herald/alloc"
)

// Metrics are the controller's Prometheus series. They are registered on
// the registry the caller injects, so two controllers in one test process
// do not collide.
type Metrics struct {
	poolAddresses *prometheus.GaugeVec
	poolInUse     *prometheus.GaugeVec
	poolServices  *prometheus.GaugeVec
	configLoaded  prometheus.Gauge
	configStale   prometheus.Gauge
	apiErrors     *prometheus.CounterVec
	leader        prometheus.Gauge
}

// NewMetrics creates the series and registers them on reg.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		poolAddresses: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "herald_pool_addresses",
			Help: "Usable addresses of an IPAddressPool, per family (IPv6 counts above 2^53 are approximate).",
		}, []string{"pool", "family"}),
		poolInUse: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "herald_pool_addresses_in_use",
			Help: "Addresses of an IPAddressPool held by at least one Service, per family.",
		}, []string{"pool", "family"}),
		poolServices: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "herald_pool_services_allocated",
			Help: "Services holding addresses from an IPAddressPool.",
		}, []string{"pool"}),
		configLoaded: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "herald_config_loaded",
			Help: "1 once a valid configuration has been loaded by this controller's current term.",
		}),
		configStale: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "herald_config_stale",
			Help: "1 while the newest configuration is invalid and an older valid one is in use.",
		}),
		apiErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "herald_api_update_errors_total",
			Help: "Failed writes to the Kubernetes API, by resource.",
		}, []string{"resource"}),
		leader: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "herald_controller_leader",
			Help: "1 while this replica holds the controller Lease.",
		}),
	}
	for _, c := range []prometheus.Collector{m.poolAddresses, m.poolInUse, m.poolServices, m.configLoaded, m.configStale, m.apiErrors, m.leader} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

func (m *Metrics) setPool(s alloc.PoolStats) {
	for _, f := range []struct {
		name string
		st   alloc.FamilyStats
	}{{"ipv4", s.IPv4}, {"ipv6", s.IPv6}} {
		m.poolAddresses.WithLabelValues(s.Pool, f.name).Set(f.st.Capacity.Float64())
		m.poolInUse.WithLabelValues(s.Pool, f.name).Set(float64(f.st.Assigned))
	}
	m.poolServices.WithLabelValues(s.Pool).Set(float64(s.Services))
}

func (m *Metrics) deletePool(pool string) {
	for _, f := range []string{"ipv4", "ipv6"} {
		m.poolAddresses.DeleteLabelValues(pool, f)
		m.poolInUse.DeleteLabelValues(pool, f)
	}
	m.poolServices.DeleteLabelValues(pool)
}

func (m *Metrics) apiError(resource string) { m.apiErrors.WithLabelValues(resource).Inc() }

// clampInt64 converts a 128-bit count to the int64 of IPAddressPool status:
// an IPv6 /64 holds more than an int64 can say, so it saturates.
func clampInt64(c alloc.Count) int64 {
	u := c.Uint64()
	if u > math.MaxInt64 {
		return math.MaxInt64
	}
	return int64(u)
}

package controller

import (
	"math"
	"slices"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/heraldlb/herald/alloc"
)

// Metrics are the controller's Prometheus series. They are registered on
// the registry the caller injects, so two controllers in one test process
// do not collide. Herald's own series split a pool per family; MetalLB's
// (metallb_allocator_*, metallb_k8s_client_*) are kept beside them with
// MetalLB's names, labels and meaning, so its users' dashboards and alerts
// work unchanged (docs/metrics.md).
type Metrics struct {
	poolAddresses *prometheus.GaugeVec
	poolInUse     *prometheus.GaugeVec
	poolServices  *prometheus.GaugeVec
	configLoaded  sameGauges
	configStale   sameGauges
	apiErrors     *prometheus.CounterVec
	leader        prometheus.Gauge
	// leading hides the configuration gauges on a standby replica: it
	// loads no configuration, and a 0 there would fire every "not
	// loaded" alert (MetalLB's among them, written for one controller)
	// for as long as the standby runs.
	leading atomic.Bool

	// MetalLB's allocator series, labelled by pool only: both families
	// summed, and each family on its own.
	mlbAddresses, mlbAddresses4, mlbAddresses6 *prometheus.GaugeVec
	mlbInUse, mlbInUse4, mlbInUse6             *prometheus.GaugeVec
	mlbServices                                *prometheus.GaugeVec
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

// mlbPoolGauge is one of MetalLB's per-pool allocator gauges.
func mlbPoolGauge(name, help string) *prometheus.GaugeVec {
	return prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "metallb_allocator_" + name, Help: help}, []string{"pool"})
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
		configLoaded: sameGauges{
			prometheus.NewGauge(prometheus.GaugeOpts{
				Name: "herald_config_loaded",
				Help: "1 once a valid configuration has been loaded by this controller's current term.",
			}),
			prometheus.NewGauge(prometheus.GaugeOpts{
				Name: "metallb_k8s_client_config_loaded_bool",
				Help: "1 once a valid configuration has been loaded by this controller's current term (MetalLB's name for herald_config_loaded).",
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
		apiErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "herald_api_update_errors_total",
			Help: "Failed writes to the Kubernetes API, by resource.",
		}, []string{"resource"}),
		leader: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "herald_controller_leader",
			Help: "1 while this replica holds the controller Lease.",
		}),
		mlbAddresses:  mlbPoolGauge("addresses_total", "Usable addresses of an IPAddressPool, both families (IPv6 counts above 2^53 are approximate)."),
		mlbAddresses4: mlbPoolGauge("ipv4_addresses_total", "Usable IPv4 addresses of an IPAddressPool."),
		mlbAddresses6: mlbPoolGauge("ipv6_addresses_total", "Usable IPv6 addresses of an IPAddressPool (approximate above 2^53)."),
		mlbInUse:      mlbPoolGauge("addresses_in_use_total", "Addresses of an IPAddressPool held by at least one Service, both families."),
		mlbInUse4:     mlbPoolGauge("ipv4_addresses_in_use_total", "IPv4 addresses of an IPAddressPool held by at least one Service."),
		mlbInUse6:     mlbPoolGauge("ipv6_addresses_in_use_total", "IPv6 addresses of an IPAddressPool held by at least one Service."),
		mlbServices:   mlbPoolGauge("services_allocated_total", "Services holding addresses from an IPAddressPool."),
	}
	cs := []prometheus.Collector{m.poolAddresses, m.poolInUse, m.poolServices, m.apiErrors, m.leader,
		m.mlbAddresses, m.mlbAddresses4, m.mlbAddresses6, m.mlbInUse, m.mlbInUse4, m.mlbInUse6, m.mlbServices}
	config := whileLeading{leading: &m.leading}
	for _, g := range append(slices.Clone(m.configLoaded), m.configStale...) {
		config.cs = append(config.cs, g)
	}
	cs = append(cs, config)
	for _, c := range cs {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// setLeading records this replica starting or ending a term.
func (m *Metrics) setLeading(leading bool) {
	v := 0.0
	if leading {
		v = 1
	}
	m.leader.Set(v)
	m.leading.Store(leading)
}

// whileLeading collects its collectors only while this replica leads.
type whileLeading struct {
	leading *atomic.Bool
	cs      []prometheus.Collector
}

func (w whileLeading) Describe(ch chan<- *prometheus.Desc) {
	for _, c := range w.cs {
		c.Describe(ch)
	}
}

func (w whileLeading) Collect(ch chan<- prometheus.Metric) {
	if !w.leading.Load() {
		return
	}
	for _, c := range w.cs {
		c.Collect(ch)
	}
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
	m.mlbAddresses.WithLabelValues(s.Pool).Set(s.IPv4.Capacity.Float64() + s.IPv6.Capacity.Float64())
	m.mlbAddresses4.WithLabelValues(s.Pool).Set(s.IPv4.Capacity.Float64())
	m.mlbAddresses6.WithLabelValues(s.Pool).Set(s.IPv6.Capacity.Float64())
	m.mlbInUse.WithLabelValues(s.Pool).Set(float64(s.IPv4.Assigned + s.IPv6.Assigned))
	m.mlbInUse4.WithLabelValues(s.Pool).Set(float64(s.IPv4.Assigned))
	m.mlbInUse6.WithLabelValues(s.Pool).Set(float64(s.IPv6.Assigned))
	m.mlbServices.WithLabelValues(s.Pool).Set(float64(s.Services))
}

func (m *Metrics) deletePool(pool string) {
	for _, f := range []string{"ipv4", "ipv6"} {
		m.poolAddresses.DeleteLabelValues(pool, f)
		m.poolInUse.DeleteLabelValues(pool, f)
	}
	m.poolServices.DeleteLabelValues(pool)
	for _, g := range []*prometheus.GaugeVec{m.mlbAddresses, m.mlbAddresses4, m.mlbAddresses6, m.mlbInUse, m.mlbInUse4, m.mlbInUse6, m.mlbServices} {
		g.DeleteLabelValues(pool)
	}
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

package speaker

import "github.com/prometheus/client_golang/prometheus"

// Metrics are the speaker's Prometheus series, registered on the registry
// the caller injects.
type Metrics struct {
	configLoaded prometheus.Gauge
	configStale  prometheus.Gauge
	ready        prometheus.Gauge
	apiErrors    *prometheus.CounterVec
}

// NewMetrics creates the series and registers them on reg.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		configLoaded: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "herald_config_loaded",
			Help: "1 once this speaker has loaded a valid configuration.",
		}),
		configStale: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "herald_config_stale",
			Help: "1 while the newest configuration is invalid and an older valid one is in use.",
		}),
		ready: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "herald_speaker_ready",
			Help: "1 while the speaker's caches are synced and its actor tree runs.",
		}),
		apiErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "herald_api_update_errors_total",
			Help: "Failed writes to the Kubernetes API, by resource.",
		}, []string{"resource"}),
	}
	for _, c := range []prometheus.Collector{m.configLoaded, m.configStale, m.ready, m.apiErrors} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

func (m *Metrics) apiError(resource string) { m.apiErrors.WithLabelValues(resource).Inc() }

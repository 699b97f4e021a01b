package controller

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Two Services claim one IP in their status (as after a split brain or a
// restore from backup): the older keeps it, the younger is told why and
// gets another address.
func TestRestoreConflictOlderWins(t *testing.T) {
	old := metav1.NewTime(time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC))
	young := metav1.NewTime(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	withStatus := func(created metav1.Time) func(*corev1.Service) {
		return func(s *corev1.Service) {
			s.CreationTimestamp = created
			s.Status.LoadBalancer.Ingress = []corev1.LoadBalancerIngress{{IP: "10.0.0.2"}}
		}
	}
	// "a-young" sorts first by name, so only the age can make "z-old" win.
	f := newFixture(pool("a", "10.0.0.0/30"), lbService("a-young", withStatus(young)), lbService("z-old", withStatus(old)))
	f.start(t, "r1", nil)
	f.waitIngress(t, "z-old", "10.0.0.2")
	f.waitIngress(t, "a-young", "10.0.0.0")
	eventually(t, "conflict reported on the loser", func() bool {
		e, ok := f.rec.find("default/a-young", ReasonAllocationFailed, "could not be kept")
		return ok && strings.Contains(e.message, "10.0.0.2")
	})
	if _, ok := f.rec.find("default/z-old", ReasonAllocationFailed, ""); ok {
		t.Errorf("the winner was reported as failing")
	}
}

func gauge(t *testing.T, reg *prometheus.Registry, name string, labels map[string]string) (float64, bool) {
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
			for k, v := range labels {
				if !hasLabel(m, k, v) {
					continue next
				}
			}
			if m.Gauge != nil {
				return m.Gauge.GetValue(), true
			}
			return m.Counter.GetValue(), true
		}
	}
	return 0, false
}

func hasLabel(m *dto.Metric, k, v string) bool {
	for _, l := range m.GetLabel() {
		if l.GetName() == k && l.GetValue() == v {
			return true
		}
	}
	return false
}

func TestMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	f := newFixture(pool("a", "10.0.0.0/30", "2001:db8::/120"), lbService("web", nil), lbService("db", nil))
	c, stop := f.start(t, "r1", func(o *Options) { o.Registry = reg })
	f.waitIngress(t, "web", "10.0.0.1")
	f.waitIngress(t, "db", "10.0.0.0")
	want := []struct {
		name   string
		labels map[string]string
		value  float64
	}{
		{"herald_pool_addresses", map[string]string{"pool": "a", "family": "ipv4"}, 4},
		{"herald_pool_addresses", map[string]string{"pool": "a", "family": "ipv6"}, 256},
		{"herald_pool_addresses_in_use", map[string]string{"pool": "a", "family": "ipv4"}, 2},
		{"herald_pool_addresses_in_use", map[string]string{"pool": "a", "family": "ipv6"}, 0},
		{"herald_pool_services_allocated", map[string]string{"pool": "a"}, 2},
		{"herald_config_loaded", nil, 1},
		{"herald_config_stale", nil, 0},
		{"herald_controller_leader", nil, 1},
	}
	for _, w := range want {
		eventually(t, w.name, func() bool {
			v, ok := gauge(t, reg, w.name, w.labels)
			return ok && v == w.value
		})
	}

	// An invalid configuration keeps the last valid one in force: stale.
	p, err := f.mlb.MetallbV1beta1().IPAddressPools(testNS).Get(t.Context(), "a", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	p.Spec.Addresses = []string{"10.0.0.9-10.0.0.1"}
	if _, err := f.mlb.MetallbV1beta1().IPAddressPools(testNS).Update(t.Context(), p, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "config stale", func() bool {
		v, ok := gauge(t, reg, "herald_config_stale", nil)
		return ok && v == 1
	})
	eventually(t, "ConfigurationState Invalid naming the field", func() bool {
		s, err := f.mlb.MetallbV1beta1().ConfigurationStates(testNS).Get(t.Context(), ConfigurationStateName, metav1.GetOptions{})
		return err == nil && s.Status.Result == "Invalid" && strings.Contains(s.Status.ErrorSummary, "spec.addresses")
	})
	if got := ingress(f.service(t, "web")); got != "10.0.0.1" {
		t.Errorf("an invalid configuration moved web to %q", got)
	}
	stop()
	if c.Leading() {
		t.Error("still leading after stop")
	}
	if v, _ := gauge(t, reg, "herald_controller_leader", nil); v != 0 {
		t.Errorf("leader gauge %v after stop", v)
	}
}

// With no valid configuration since the start, nothing is allocated, but
// every Service says why, and no status is touched: once the configuration
// is fixed, the IP in status is restored as it was.
func TestInvalidConfigurationAtStartExplainsAndKeepsStatus(t *testing.T) {
	bad := pool("a", "10.0.0.9-10.0.0.0")
	f := newFixture(bad,
		lbService("kept", func(s *corev1.Service) {
			s.Status.LoadBalancer.Ingress = []corev1.LoadBalancerIngress{{IP: "10.0.0.3"}}
		}),
		lbService("new", nil))
	f.start(t, "r1", nil)
	for _, name := range []string{"default/kept", "default/new"} {
		eventually(t, "an explanation on "+name, func() bool {
			e, ok := f.rec.find(name, ReasonAllocationFailed, "until the configuration is valid")
			return ok && strings.Contains(e.message, "spec.addresses")
		})
	}
	time.Sleep(100 * time.Millisecond)
	if got := ingress(f.service(t, "kept")); got != "10.0.0.3" {
		t.Fatalf("status of kept changed to %q under an invalid configuration", got)
	}
	before := f.statusWrites()
	p, err := f.mlb.MetallbV1beta1().IPAddressPools(testNS).Get(t.Context(), "a", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	p.Spec.Addresses = []string{"10.0.0.0/29"}
	if _, err := f.mlb.MetallbV1beta1().IPAddressPools(testNS).Update(t.Context(), p, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	f.waitIngress(t, "new", "10.0.0.0")
	if got := ingress(f.service(t, "kept")); got != "10.0.0.3" {
		t.Errorf("kept moved to %q", got)
	}
	if n := f.statusWrites() - before; n != 1 {
		t.Errorf("%d status writes after the fix, want 1 (new)", n)
	}
}

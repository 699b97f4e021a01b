package controller

import (
	"context"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// The allocator's series under MetalLB's names follow the pools as the
// Services take addresses: totals and in-use per pool with both families
// summed (MetalLB's metallb_allocator_addresses_*), and per family; the
// configuration gauges say the same under both names, stale included; a
// deleted pool's series go.
func TestMetalLBNamedSeriesFollowThePools(t *testing.T) {
	reg := prometheus.NewRegistry()
	f := newFixture(pool("dual", "10.0.0.0/30", "fd00::/126"), pool("small", "10.0.1.0/31"),
		lbService("web", nil), lbService("api", nil))
	f.start(t, "r1", func(o *Options) { o.Registry = reg })
	eventually(t, "both Services' IPs", func() bool {
		return ingress(f.service(t, "web")) != "" && ingress(f.service(t, "api")) != ""
	})

	type series struct {
		name, pool string
		want       float64
	}
	check := func(what string, want []series) {
		t.Helper()
		eventually(t, what, func() bool {
			for _, s := range want {
				if got, ok := gathered(t, reg, s.name, s.pool); !ok || got != s.want {
					return false
				}
			}
			return true
		})
	}
	check("the pools' series", []series{
		{"metallb_allocator_addresses_total", "dual", 8},
		{"metallb_allocator_ipv4_addresses_total", "dual", 4},
		{"metallb_allocator_ipv6_addresses_total", "dual", 4},
		{"metallb_allocator_addresses_in_use_total", "dual", 2},
		{"metallb_allocator_ipv4_addresses_in_use_total", "dual", 2},
		{"metallb_allocator_ipv6_addresses_in_use_total", "dual", 0},
		{"metallb_allocator_services_allocated_total", "dual", 2},
		{"metallb_allocator_addresses_total", "small", 2},
		{"metallb_allocator_addresses_in_use_total", "small", 0},
		{"metallb_k8s_client_config_loaded_bool", "", 1},
		{"metallb_k8s_client_config_stale_bool", "", 0},
		{"herald_config_loaded", "", 1},
		{"herald_config_stale", "", 0},
	})

	// A Service released: in use drops.
	if err := f.kube.CoreV1().Services("default").Delete(context.Background(), "api", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	check("in use after a release", []series{
		{"metallb_allocator_addresses_in_use_total", "dual", 1},
		{"metallb_allocator_services_allocated_total", "dual", 1},
	})

	// An invalid pool (no webhook in front of the fake API) leaves the
	// last valid configuration in force: stale under both names.
	bad := pool("bad", "not-an-address")
	if _, err := f.mlb.MetallbV1beta1().IPAddressPools(testNS).Create(context.Background(), bad, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	check("stale", []series{
		{"metallb_k8s_client_config_stale_bool", "", 1},
		{"herald_config_stale", "", 1},
		{"metallb_k8s_client_config_loaded_bool", "", 1},
	})
	if err := f.mlb.MetallbV1beta1().IPAddressPools(testNS).Delete(context.Background(), "bad", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	// Deleting a pool while valid removes its series.
	if err := f.mlb.MetallbV1beta1().IPAddressPools(testNS).Delete(context.Background(), "small", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	check("fresh again", []series{{"metallb_k8s_client_config_stale_bool", "", 0}})
	eventually(t, "the deleted pool's series gone", func() bool {
		_, ok := gathered(t, reg, "metallb_allocator_addresses_total", "small")
		return !ok
	})
}

// gathered reads one gauge from reg: the series of name whose pool label is
// pool ("" for a series without labels).
func gathered(t *testing.T, reg *prometheus.Registry, name, pool string) (float64, bool) {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			got := ""
			for _, l := range m.GetLabel() {
				if l.GetName() == "pool" {
					got = l.GetValue()
				}
			}
			if got == pool {
				return m.GetGauge().GetValue(), true
			}
		}
	}
	return 0, false
}

// A standby replica loads no configuration, so it exports no
// configuration gauge under either name: a 0 there would fire every
// "configuration not loaded" alert for as long as it stands by. The
// leader's term shows them; its end hides them again.
func TestConfigurationGaugesOnlyWhileLeading(t *testing.T) {
	reg := prometheus.NewRegistry()
	m, err := NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	names := []string{"herald_config_loaded", "herald_config_stale",
		"metallb_k8s_client_config_loaded_bool", "metallb_k8s_client_config_stale_bool"}
	shown := func(want bool) {
		t.Helper()
		for _, n := range names {
			if _, ok := gathered(t, reg, n, ""); ok != want {
				t.Errorf("%s exported = %t, want %t", n, ok, want)
			}
		}
		if v, ok := gathered(t, reg, "herald_controller_leader", ""); !ok || (v == 1) != want {
			t.Errorf("herald_controller_leader = %v (exported %t), want leading %t", v, ok, want)
		}
	}
	shown(false)
	m.setLeading(true)
	m.configLoaded.Set(1)
	shown(true)
	if v, _ := gathered(t, reg, "metallb_k8s_client_config_loaded_bool", ""); v != 1 {
		t.Errorf("loaded while leading = %v, want 1", v)
	}
	m.configLoaded.Set(0)
	m.setLeading(false)
	shown(false)
}

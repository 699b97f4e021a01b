package informers

import (
	"errors"
	"net/netip"
	"reflect"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/heraldlb/herald/alloc"
)

func svc(mod func(*corev1.Service)) *corev1.Service {
	s := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "web", Labels: map[string]string{"app": "web"}},
		Spec: corev1.ServiceSpec{
			Type:     corev1.ServiceTypeLoadBalancer,
			Selector: map[string]string{"app": "web", "tier": "fe"},
			Ports:    []corev1.ServicePort{{Protocol: corev1.ProtocolTCP, Port: 80}, {Protocol: corev1.ProtocolUDP, Port: 53}},
		},
	}
	if mod != nil {
		mod(s)
	}
	return s
}

func addrs(ss ...string) []netip.Addr {
	var out []netip.Addr
	for _, s := range ss {
		out = append(out, netip.MustParseAddr(s))
	}
	return out
}

func TestParseService(t *testing.T) {
	local := corev1.ServiceExternalTrafficPolicyLocal
	require := corev1.IPFamilyPolicyRequireDualStack
	prefer := corev1.IPFamilyPolicyPreferDualStack
	class := "other"
	tests := []struct {
		name       string
		svc        *corev1.Service
		check      func(t *testing.T, s Service)
		invalid    bool
		deprecated []string
	}{
		{name: "plain", svc: svc(nil), check: func(t *testing.T, s Service) {
			if !s.Ours("") || s.Ours("x") {
				t.Errorf("Ours: a classless LoadBalancer belongs to the default class only")
			}
			want := []alloc.Port{{Protocol: "TCP", Port: 80}, {Protocol: "UDP", Port: 53}}
			if !reflect.DeepEqual(s.Alloc.Ports, want) {
				t.Errorf("ports %v, want %v", s.Alloc.Ports, want)
			}
			if s.Alloc.Backend != "app=web,tier=fe" || s.Alloc.LocalTraffic {
				t.Errorf("backend %q local %v", s.Alloc.Backend, s.Alloc.LocalTraffic)
			}
		}},
		{name: "annotations current", svc: svc(func(s *corev1.Service) {
			s.Annotations = map[string]string{
				AnnotationLoadBalancerIPs: "192.168.1.10, 2001:db8::10",
				AnnotationAddressPool:     " gold ",
				AnnotationAllowSharedIP:   "key1",
			}
		}), check: func(t *testing.T, s Service) {
			if !reflect.DeepEqual(s.Alloc.RequestedIPs, addrs("192.168.1.10", "2001:db8::10")) {
				t.Errorf("requested %v", s.Alloc.RequestedIPs)
			}
			if s.Alloc.RequestedPool != "gold" || s.Alloc.SharingKey != "key1" {
				t.Errorf("pool %q key %q", s.Alloc.RequestedPool, s.Alloc.SharingKey)
			}
		}},
		{name: "annotations deprecated", svc: svc(func(s *corev1.Service) {
			s.Annotations = map[string]string{
				"metallb.universe.tf/loadBalancerIPs": "192.168.1.10",
				"metallb.universe.tf/address-pool":    "gold",
				"metallb.universe.tf/allow-shared-ip": "k",
			}
		}), deprecated: []string{"metallb.universe.tf/address-pool", "metallb.universe.tf/allow-shared-ip", "metallb.universe.tf/loadBalancerIPs"},
			check: func(t *testing.T, s Service) {
				if s.Alloc.RequestedPool != "gold" || s.Alloc.SharingKey != "k" || len(s.Alloc.RequestedIPs) != 1 {
					t.Errorf("deprecated forms not read: %+v", s.Alloc)
				}
			}},
		{name: "current wins over deprecated", svc: svc(func(s *corev1.Service) {
			s.Annotations = map[string]string{"metallb.universe.tf/address-pool": "old", AnnotationAddressPool: "new"}
		}), check: func(t *testing.T, s Service) {
			if s.Alloc.RequestedPool != "new" {
				t.Errorf("pool %q", s.Alloc.RequestedPool)
			}
		}},
		{name: "spec.loadBalancerIP", svc: svc(func(s *corev1.Service) { s.Spec.LoadBalancerIP = "10.0.0.7" }),
			check: func(t *testing.T, s Service) {
				if !reflect.DeepEqual(s.Alloc.RequestedIPs, addrs("10.0.0.7")) {
					t.Errorf("requested %v", s.Alloc.RequestedIPs)
				}
			}},
		{name: "both spec and annotation", invalid: true, svc: svc(func(s *corev1.Service) {
			s.Spec.LoadBalancerIP = "10.0.0.7"
			s.Annotations = map[string]string{AnnotationLoadBalancerIPs: "10.0.0.8"}
		})},
		{name: "bad annotation IP", invalid: true, svc: svc(func(s *corev1.Service) {
			s.Annotations = map[string]string{AnnotationLoadBalancerIPs: "10.0.0.300"}
		})},
		{name: "bad spec IP", invalid: true, svc: svc(func(s *corev1.Service) { s.Spec.LoadBalancerIP = "nope" })},
		{name: "dual-stack local", svc: svc(func(s *corev1.Service) {
			s.Spec.IPFamilies = []corev1.IPFamily{corev1.IPv6Protocol, corev1.IPv4Protocol}
			s.Spec.IPFamilyPolicy = &require
			s.Spec.ExternalTrafficPolicy = local
		}), check: func(t *testing.T, s Service) {
			if !reflect.DeepEqual(s.Alloc.Families, []alloc.Family{alloc.IPv6, alloc.IPv4}) || s.Alloc.Policy != alloc.RequireDualStack || !s.Alloc.LocalTraffic {
				t.Errorf("families %v policy %v local %v", s.Alloc.Families, s.Alloc.Policy, s.Alloc.LocalTraffic)
			}
		}},
		{name: "prefer dual-stack", svc: svc(func(s *corev1.Service) { s.Spec.IPFamilyPolicy = &prefer }),
			check: func(t *testing.T, s Service) {
				if s.Alloc.Policy != alloc.PreferDualStack {
					t.Errorf("policy %v", s.Alloc.Policy)
				}
			}},
		{name: "class and type", svc: svc(func(s *corev1.Service) { s.Spec.LoadBalancerClass = &class }),
			check: func(t *testing.T, s Service) {
				if s.Ours("") || !s.Ours("other") {
					t.Errorf("class %q", s.Class)
				}
			}},
		{name: "cluster IP", svc: svc(func(s *corev1.Service) { s.Spec.Type = corev1.ServiceTypeClusterIP }),
			check: func(t *testing.T, s Service) {
				if s.Ours("") {
					t.Errorf("a ClusterIP Service is nobody's")
				}
			}},
		{name: "status", svc: svc(func(s *corev1.Service) {
			s.Status.LoadBalancer.Ingress = []corev1.LoadBalancerIngress{{IP: "10.0.0.1"}, {Hostname: "lb.example"}, {IP: "::ffff:10.0.0.2"}}
			s.Annotations = map[string]string{AnnotationAllocatedFromPool: "p"}
		}), check: func(t *testing.T, s Service) {
			if !reflect.DeepEqual(s.StatusIPs, addrs("10.0.0.1", "10.0.0.2")) || s.AllocatedFromPool != "p" {
				t.Errorf("status %v pool %q", s.StatusIPs, s.AllocatedFromPool)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := ParseService(tc.svc)
			if s.Key != (alloc.ServiceKey{Namespace: "ns", Name: "web"}) || s.Alloc.Key != s.Key {
				t.Fatalf("key %v / %v", s.Key, s.Alloc.Key)
			}
			if got := s.Invalid != nil; got != tc.invalid {
				t.Fatalf("invalid = %v (%v), want %v", got, s.Invalid, tc.invalid)
			}
			if tc.invalid && !errors.Is(s.Invalid, ErrInvalidService) {
				t.Errorf("error %v does not wrap ErrInvalidService", s.Invalid)
			}
			if !reflect.DeepEqual(s.Deprecated, tc.deprecated) {
				t.Errorf("deprecated %v, want %v", s.Deprecated, tc.deprecated)
			}
			if tc.check != nil {
				tc.check(t, s)
			}
		})
	}
}

// The snapshot shares nothing with the object it was read from: the cache
// must never be changed through it, nor the snapshot through the cache.
func TestParseServiceSharesNoMap(t *testing.T) {
	obj := svc(nil)
	s := ParseService(obj)
	obj.Labels["app"] = "changed"
	if got := s.Alloc.Labels.Get("app"); got != "web" {
		t.Errorf("snapshot label app = %q after the object changed, want web", got)
	}
}

func TestStatusIPs(t *testing.T) {
	obj := svc(func(s *corev1.Service) {
		s.Status.LoadBalancer.Ingress = []corev1.LoadBalancerIngress{{IP: "10.0.0.1"}, {Hostname: "lb.example"}, {IP: "::ffff:10.0.0.2"}, {IP: "2001:db8::1"}}
	})
	if got, want := StatusIPs(obj), addrs("10.0.0.1", "10.0.0.2", "2001:db8::1"); !reflect.DeepEqual(got, want) {
		t.Errorf("StatusIPs = %v, want %v", got, want)
	}
	if StatusIPs(nil) != nil {
		t.Errorf("StatusIPs(nil) is not empty")
	}
}

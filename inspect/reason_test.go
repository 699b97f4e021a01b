package inspect

import (
	"fmt"
	"net/netip"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/heraldlb/herald/alloc"
	"github.com/heraldlb/herald/informers"
)

// TestClassifyFailure classifies the messages the real allocator, the
// Service parser and the controller's configuration wait produce, so a
// change of their wording that breaks the classification fails here.
func TestClassifyFailure(t *testing.T) {
	rng := func(s string) alloc.Range {
		r, err := alloc.ParseRange(s)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	newAlloc := func(t *testing.T) *alloc.Allocator {
		a := alloc.New()
		if _, err := a.SetPools([]alloc.Pool{
			{Name: "small", Ranges: []alloc.Range{rng("10.0.0.1-10.0.0.2")}, AutoAssign: true},
			{Name: "v6only", Ranges: []alloc.Range{rng("2001:db8::/120")}, AutoAssign: false},
			{Name: "team", Ranges: []alloc.Range{rng("10.1.0.0/30")}, AutoAssign: false,
				Allocation: &alloc.ServiceAllocation{Namespaces: []string{"team"}}},
		}); err != nil {
			t.Fatal(err)
		}
		return a
	}
	key := func(n string) alloc.ServiceKey { return alloc.ServiceKey{Namespace: "default", Name: n} }
	tcp80 := []alloc.Port{{Protocol: "TCP", Port: 80}}
	fail := func(t *testing.T, a *alloc.Allocator, s alloc.Service) string {
		t.Helper()
		_, err := a.Allocate(s)
		if err == nil {
			t.Fatalf("allocating %v succeeded", s.Key)
		}
		return err.Error()
	}
	must := func(t *testing.T, a *alloc.Allocator, s alloc.Service) {
		t.Helper()
		if _, err := a.Allocate(s); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name    string
		message func(t *testing.T) string
		want    Reason
	}{
		{"no pool admits it (no autoAssign pool admits)", func(t *testing.T) string {
			a := alloc.New()
			if _, err := a.SetPools([]alloc.Pool{{Name: "team", Ranges: []alloc.Range{rng("10.1.0.0/30")}, AutoAssign: true,
				Allocation: &alloc.ServiceAllocation{ServiceSelectors: []labels.Selector{labels.SelectorFromSet(labels.Set{"tier": "web"})}}}}); err != nil {
				t.Fatal(err)
			}
			return fail(t, a, alloc.Service{Key: key("a")})
		}, ReasonNoPool},
		{"no pool admits it (no pools at all)", func(t *testing.T) string {
			return fail(t, alloc.New(), alloc.Service{Key: key("a")})
		}, ReasonNoPool},
		{"requested pool does not admit it", func(t *testing.T) string {
			return fail(t, newAlloc(t), alloc.Service{Key: key("a"), RequestedPool: "team"})
		}, ReasonNoPool},
		{"requested pool does not exist", func(t *testing.T) string {
			return fail(t, newAlloc(t), alloc.Service{Key: key("a"), RequestedPool: "nope"})
		}, ReasonUnknownPool},
		{"pool exhausted", func(t *testing.T) string {
			a := newAlloc(t)
			must(t, a, alloc.Service{Key: key("a")})
			must(t, a, alloc.Service{Key: key("b")})
			return fail(t, a, alloc.Service{Key: key("c")})
		}, ReasonPoolExhausted},
		{"pool exhausted, sharing key refused on the way (the detail quotes the refusal)", func(t *testing.T) string {
			a := newAlloc(t)
			must(t, a, alloc.Service{Key: key("a"), SharingKey: "k", Ports: tcp80})
			must(t, a, alloc.Service{Key: key("b")})
			return fail(t, a, alloc.Service{Key: key("c"), SharingKey: "k", Ports: tcp80})
		}, ReasonPoolExhausted},
		{"requested IP taken", func(t *testing.T) string {
			a := newAlloc(t)
			must(t, a, alloc.Service{Key: key("a")})
			return fail(t, a, alloc.Service{Key: key("b"), RequestedIPs: []netip.Addr{netip.MustParseAddr("10.0.0.1")}})
		}, ReasonIPInUse},
		{"sharing refused: different keys", func(t *testing.T) string {
			a := newAlloc(t)
			must(t, a, alloc.Service{Key: key("a"), SharingKey: "one", Ports: tcp80})
			return fail(t, a, alloc.Service{Key: key("b"), SharingKey: "two", RequestedIPs: []netip.Addr{netip.MustParseAddr("10.0.0.1")}})
		}, ReasonSharingRefused},
		{"sharing refused: same port", func(t *testing.T) string {
			a := newAlloc(t)
			must(t, a, alloc.Service{Key: key("a"), SharingKey: "k", Ports: tcp80})
			return fail(t, a, alloc.Service{Key: key("b"), SharingKey: "k", Ports: tcp80, RequestedIPs: []netip.Addr{netip.MustParseAddr("10.0.0.1")}})
		}, ReasonSharingRefused},
		{"requested IP in no pool", func(t *testing.T) string {
			return fail(t, newAlloc(t), alloc.Service{Key: key("a"), RequestedIPs: []netip.Addr{netip.MustParseAddr("192.0.2.1")}})
		}, ReasonIPNotInPool},
		{"family unavailable", func(t *testing.T) string {
			return fail(t, newAlloc(t), alloc.Service{Key: key("a"), Families: []alloc.Family{alloc.IPv6}})
		}, ReasonFamilyUnavailable},
		{"configuration invalid (the controller's wait, wrapped as the allocator actor does)", func(t *testing.T) string {
			return fmt.Errorf("%w (see ConfigurationState metallb-system/controller): IPAddressPool metallb-system/p: spec.addresses[0]: \"x\": not a CIDR or an address range",
				alloc.ErrNoValidConfig).Error()
		}, ReasonConfigInvalid},
		{"unreadable request (the Service parser)", func(t *testing.T) string {
			s := informers.ParseService(&corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "a",
				Annotations: map[string]string{informers.AnnotationLoadBalancerIPs: "not-an-ip"}}})
			if s.Invalid == nil {
				t.Fatal("ParseService accepted an unparsable IP")
			}
			return s.Invalid.Error()
		}, ReasonInvalidRequest},
		{"unknown text", func(*testing.T) string { return "something new went wrong" }, ReasonAllocationFailed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			msg := tc.message(t)
			got, phrase := ClassifyFailure(msg)
			if got != tc.want {
				t.Errorf("ClassifyFailure(%q) = %s, want %s", msg, got, tc.want)
			}
			if phrase == "" {
				t.Errorf("no phrase for %s", got)
			}
		})
	}
}

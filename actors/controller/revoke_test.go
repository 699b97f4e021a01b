package controller

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	k8stesting "k8s.io/client-go/testing"

	"github.com/heraldlb/herald/api/v1beta1"
	"github.com/heraldlb/herald/informers"
)

// An IP taken from a Service goes to no other Service while the first
// Service's status still shows it: the waiting Service gets it only after
// the write clearing the first status has landed.
func TestRevokedIPWaitsForStatusToClear(t *testing.T) {
	for _, tc := range []struct {
		name   string
		revoke func(t *testing.T, f *fixture)
	}{
		{"request changed", func(t *testing.T, f *fixture) {
			// x now asks for an IP no pool has: it can hold nothing.
			x := f.service(t, "x")
			x.Annotations = map[string]string{informers.AnnotationLoadBalancerIPs: "192.0.2.1"}
			if _, err := f.kube.CoreV1().Services("default").Update(context.Background(), x, metav1.UpdateOptions{}); err != nil {
				t.Fatal(err)
			}
		}},
		{"pool stops admitting it", func(t *testing.T, f *fixture) {
			p, err := f.mlb.MetallbV1beta1().IPAddressPools(testNS).Get(context.Background(), "a", metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			// Only Services labelled keep=yes (z and y) may use the pool
			// now: x is evicted, 10.0.0.0 stays in the pool.
			p.Spec.AllocateTo = &v1beta1.ServiceAllocation{
				ServiceSelectors: []metav1.LabelSelector{{MatchLabels: map[string]string{"keep": "yes"}}},
			}
			if _, err := f.mlb.MetallbV1beta1().IPAddressPools(testNS).Update(context.Background(), p, metav1.UpdateOptions{}); err != nil {
				t.Fatal(err)
			}
		}},
		{"request unreadable", func(t *testing.T, f *fixture) {
			x := f.service(t, "x")
			x.Annotations = map[string]string{informers.AnnotationLoadBalancerIPs: "not-an-ip"}
			if _, err := f.kube.CoreV1().Services("default").Update(context.Background(), x, metav1.UpdateOptions{}); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			keep := func(s *corev1.Service) { s.Labels = map[string]string{"keep": "yes"} }
			f := newFixture(pool("a", "10.0.0.0/31"),
				lbService("x", aged(0)), lbService("z", aged(time.Minute, keep)), lbService("y", aged(2*time.Minute, keep)))
			arm, release := f.stallStatusWrites("x", false)
			f.start(t, "r1", nil)
			f.waitIngress(t, "x", "10.0.0.0")
			f.waitIngress(t, "z", "10.0.0.1")
			eventually(t, "y waits", func() bool { _, ok := f.rec.find("default/y", ReasonAllocationFailed, "no free address"); return ok })

			arm()
			tc.revoke(t, f)
			eventually(t, "x told why it lost its IP", func() bool {
				for _, e := range f.rec.snapshot() {
					if e.object == "default/x" && e.reason == ReasonAllocationFailed {
						return true
					}
				}
				return false
			})
			// x's status still shows 10.0.0.0 (its clearing write is
			// stuck): y must not show it too.
			f.staysWithoutIP(t, "y", "x", 500*time.Millisecond)
			release()
			f.waitIngress(t, "x", "")
			f.waitIngress(t, "y", "10.0.0.0")
		})
	}
}

// aged returns a Service modifier that makes it d younger than the
// fixture's base creation time (the allocator serves the oldest first),
// then applies mods.
func aged(d time.Duration, mods ...func(*corev1.Service)) func(*corev1.Service) {
	return func(s *corev1.Service) {
		s.CreationTimestamp = metav1.NewTime(s.CreationTimestamp.Add(d))
		for _, m := range mods {
			m(s)
		}
	}
}

// stallStatusWrites makes the status writes of the Service name fail, as
// with an API server under strain, once arm is called and until release
// is: only those that clear the status, or with all set every one. The
// fake clientset holds its lock while reactors run, so a write cannot be
// blocked, only failed (the controller retries it on its backoff).
func (f *fixture) stallStatusWrites(name string, all bool) (arm, release func()) {
	armed, released := make(chan struct{}), make(chan struct{})
	f.kube.PrependReactor("update", "services", func(a k8stesting.Action) (bool, runtime.Object, error) {
		u, ok := a.(k8stesting.UpdateAction)
		if !ok || a.GetSubresource() != "status" {
			return false, nil, nil
		}
		if s := u.GetObject().(*corev1.Service); s.Name == name && (all || len(s.Status.LoadBalancer.Ingress) == 0) {
			select {
			case <-released:
			case <-armed:
				return true, nil, apierrors.NewServiceUnavailable("slow")
			default:
			}
		}
		return false, nil, nil
	})
	return func() { close(armed) }, func() { close(released) }
}

// staysWithoutIP fails if the Service name shows an IP at any time during
// d, while the Service holder's status still shows the one it lost.
func (f *fixture) staysWithoutIP(t *testing.T, name, holder string, d time.Duration) {
	t.Helper()
	for deadline := time.Now().Add(d); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if got := ingress(f.service(t, name)); got != "" {
			t.Fatalf("%s got %q while %s's status still shows %q", name, got, holder, ingress(f.service(t, holder)))
		}
	}
}

func (r *recorder) snapshot() []event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]event(nil), r.events...)
}

package controller

import (
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	k8stesting "k8s.io/client-go/testing"
)

// A status write that loses a conflict re-reads and succeeds without
// waiting; a write that fails otherwise retries on the backoff and counts
// an API error. Either way the Service ends with its IP.
func TestStatusWriteConflictAndErrorRetry(t *testing.T) {
	for _, tc := range []struct {
		name       string
		fail       error
		wantErrors float64
	}{
		{"conflict", apierrors.NewConflict(schema.GroupResource{Resource: "services"}, "web", errors.New("stale")), 0},
		{"server error", apierrors.NewServiceUnavailable("restarting"), 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(pool("a", "10.0.0.0/30"), lbService("web", nil))
			var failures atomic.Int32
			f.kube.PrependReactor("update", "services", func(a k8stesting.Action) (bool, runtime.Object, error) {
				if a.GetSubresource() == "status" && failures.Add(1) <= 3 {
					return true, nil, tc.fail
				}
				return false, nil, nil
			})
			reg := prometheus.NewRegistry()
			f.start(t, "r1", func(o *Options) { o.Registry = reg })
			f.waitIngress(t, "web", "10.0.0.0")
			if n := failures.Load(); n < 4 {
				t.Errorf("%d status writes, want the 3 failures and a success", n)
			}
			got, _ := gauge(t, reg, "herald_api_update_errors_total", map[string]string{"resource": "service"})
			if got != tc.wantErrors {
				t.Errorf("herald_api_update_errors_total{resource=service} = %v, want %v", got, tc.wantErrors)
			}
			eventually(t, "IPAllocated after the retried write", func() bool {
				_, ok := f.rec.find("default/web", ReasonIPAllocated, "10.0.0.0")
				return ok
			})
		})
	}
}

// A Service that keeps waiting repeats its AllocationFailed Event, so a
// dropped Event is made good; one that gets an address stops repeating.
func TestFailureEventRepeatsWhileWaiting(t *testing.T) {
	f := newFixture(pool("a", "10.0.0.0/32"), lbService("first", nil), lbService("second", func(s *corev1.Service) {
		s.CreationTimestamp = metav1.NewTime(s.CreationTimestamp.Add(time.Minute))
	}))
	f.start(t, "r1", func(o *Options) { o.FailureEventInterval = 50 * time.Millisecond })
	f.waitIngress(t, "first", "10.0.0.0")
	count := func() int {
		f.rec.mu.Lock()
		defer f.rec.mu.Unlock()
		n := 0
		for _, e := range f.rec.events {
			if e.object == "default/second" && e.reason == ReasonAllocationFailed {
				n++
			}
		}
		return n
	}
	eventually(t, "repeated AllocationFailed", func() bool { return count() >= 3 })
	if err := f.kube.CoreV1().Services("default").Delete(t.Context(), "first", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	f.waitIngress(t, "second", "10.0.0.0")
	time.Sleep(100 * time.Millisecond)
	n := count()
	time.Sleep(300 * time.Millisecond)
	if count() != n {
		t.Errorf("AllocationFailed still repeated after the Service got an address")
	}
}

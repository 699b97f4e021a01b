package actors

import (
	"errors"
	"sync/atomic"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
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
			f.start(t, "r1", func(o *ControllerOptions) { o.Registry = reg })
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

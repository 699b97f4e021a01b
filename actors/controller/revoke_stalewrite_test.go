package controller

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	k8stesting "k8s.io/client-go/testing"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/heraldlb/herald/api/v1beta1"
)

// x holds 10.0.0.0 but its status write keeps failing (backoff pending).
// A config change evicts x: revoked{10.0.0.0} reaches x before the
// allocResult that withdraws the IP, and x reports the IP clear at once
// (its status does not show it), so y gets it. x's backoff retry, firing
// before that allocResult, must not write the IP it was told it lost.
func TestRevokedIPIsNeverWrittenBack(t *testing.T) {
	fc := clocktesting.NewFakeClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	age := func(d time.Duration) func(*corev1.Service) {
		return func(s *corev1.Service) {
			s.CreationTimestamp = metav1.NewTime(s.CreationTimestamp.Add(d))
			if s.Name != "x" {
				s.Labels = map[string]string{"keep": "yes"}
			}
		}
	}
	f := newFixture(pool("a", "10.0.0.0/31"),
		lbService("x", age(0)), lbService("z", age(time.Minute)), lbService("y", age(2*time.Minute)))
	var xFails, xClearFails atomic.Bool
	xFails.Store(true)
	var mu sync.Mutex
	var history []string
	f.kube.PrependReactor("update", "services", func(a k8stesting.Action) (bool, runtime.Object, error) {
		if a.GetSubresource() != "status" {
			return false, nil, nil
		}
		s := a.(k8stesting.UpdateAction).GetObject().(*corev1.Service)
		if s.Name == "x" && (xFails.Load() || (xClearFails.Load() && len(s.Status.LoadBalancer.Ingress) == 0)) {
			return true, nil, apierrors.NewServiceUnavailable("strain")
		}
		mu.Lock()
		history = append(history, s.Name+"="+ingress(s))
		mu.Unlock()
		return false, nil, nil
	})
	var slow atomic.Bool
	f.start(t, "r1", func(o *Options) {
		o.Clock = fc
		o.BackoffInitial, o.BackoffMax = time.Hour, time.Hour
		o.Logger = slog.New(slowRouter(&slow))
	})
	stepUntil(t, fc, configDebounce, 100, "z and y settled", func() bool {
		_, ok := f.rec.find("default/y", ReasonAllocationFailed, "no free address")
		return ingress(f.service(t, "z")) == "10.0.0.1" && ok
	})
	if got := ingress(f.service(t, "x")); got != "" {
		t.Fatalf("x shows %q", got)
	}
	time.Sleep(200 * time.Millisecond) // let the failed write attempts settle

	// Evict x: the pool admits keep=yes only. The router is slow to
	// forward (a busy router), so x's backoff timer can land between the
	// revoked and the allocResult.
	slow.Store(true)
	p, err := f.mlb.MetallbV1beta1().IPAddressPools(testNS).Get(context.Background(), "a", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	p.Spec.AllocateTo = &v1beta1.ServiceAllocation{ServiceSelectors: []metav1.LabelSelector{{MatchLabels: map[string]string{"keep": "yes"}}}}
	if _, err := f.mlb.MetallbV1beta1().IPAddressPools(testNS).Update(context.Background(), p, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	fc.Step(configDebounce) // compile: x is evicted
	// The router sleeps 100ms before forwarding each forService: revoked
	// reaches x at ~100ms, x's allocResult at ~200ms.
	time.Sleep(150 * time.Millisecond)
	xFails.Store(false)
	xClearFails.Store(true) // x's clearing write is slow, as in revoke_test
	fc.Step(2 * time.Hour)  // x's backoff retry fires now
	time.Sleep(1500 * time.Millisecond)
	slow.Store(false)
	mu.Lock()
	defer mu.Unlock()
	t.Logf("status writes: %v", history)
	if ingress(f.service(t, "x")) == "10.0.0.0" && ingress(f.service(t, "y")) == "10.0.0.0" {
		t.Fatalf("x and y both show 10.0.0.0")
	}
}

package controller

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	k8stesting "k8s.io/client-go/testing"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/heraldlb/herald/informers"
)

// stepUntil advances the fake clock by step, giving the actors a moment of
// real time after each step, until cond holds; it fails after max steps.
func stepUntil(t *testing.T, fc *clocktesting.FakeClock, step time.Duration, max int, what string, cond func() bool) {
	t.Helper()
	for i := 0; i <= max; i++ {
		// Let messages sent by the last step land before judging.
		deadline := time.Now().Add(50 * time.Millisecond)
		for time.Now().Before(deadline) {
			if cond() {
				return
			}
			time.Sleep(2 * time.Millisecond)
		}
		fc.Step(step)
	}
	t.Fatalf("%s: not after %d steps of %s", what, max, step)
}

func (r *recorder) count(object, reason string) int {
	n := 0
	for _, e := range r.snapshot() {
		if e.object == object && e.reason == reason {
			n++
		}
	}
	return n
}

// The AllocationFailed reminder runs on the injected clock: nothing is
// repeated until the clock has moved a whole interval, then it is.
func TestFailureReminderFollowsTheClock(t *testing.T) {
	fc := clocktesting.NewFakeClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	f := newFixture(pool("a", "10.0.0.0/32"), lbService("first", nil), lbService("waits", nil))
	f.start(t, "r1", func(o *Options) {
		o.Clock = fc
		o.FailureEventInterval = time.Hour
	})
	// The configuration debounce runs on the fake clock too.
	stepUntil(t, fc, configDebounce, 100, "first Event on waits", func() bool {
		return f.rec.count("default/waits", ReasonAllocationFailed) == 1
	})
	// The reminder's timer is the only one left once the Event is out.
	eventually(t, "the reminder's timer", fc.HasWaiters)
	fc.Step(59 * time.Minute)
	time.Sleep(100 * time.Millisecond)
	if got := f.rec.count("default/waits", ReasonAllocationFailed); got != 1 {
		t.Fatalf("%d AllocationFailed Events after 59 minutes, want 1", got)
	}
	fc.Step(time.Minute)
	eventually(t, "the reminder an hour after the first Event", func() bool {
		return f.rec.count("default/waits", ReasonAllocationFailed) == 2
	})
	if got := f.rec.count("default/first", ReasonAllocationFailed); got != 0 {
		t.Errorf("the allocated Service got %d AllocationFailed Events", got)
	}
}

// A failed status write is retried after the backoff on the injected
// clock: 29 seconds into a backoff of at least 30 no retry is made, and
// once the clock passes the backoff the retry comes at once.
func TestStatusRetryWaitsForTheClock(t *testing.T) {
	fc := clocktesting.NewFakeClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	f := newFixture(pool("a", "10.0.0.0/30"), lbService("web", nil))
	var failing atomic.Bool
	var attempts atomic.Int32
	f.kube.PrependReactor("update", "services", func(a k8stesting.Action) (bool, runtime.Object, error) {
		if a.GetSubresource() == "status" && failing.Load() {
			attempts.Add(1)
			return true, nil, apierrors.NewServiceUnavailable("restarting")
		}
		return false, nil, nil
	})
	f.start(t, "r1", func(o *Options) {
		o.Clock = fc
		o.BackoffInitial, o.BackoffMax = time.Minute, time.Minute
	})
	stepUntil(t, fc, configDebounce, 100, "web allocated", func() bool { return ingress(f.service(t, "web")) == "10.0.0.0" })

	// A new decision, and its write fails. (Watch events still arriving
	// for the first write may each make one more attempt: an event is new
	// information, and the controller acts on it at once.)
	failing.Store(true)
	web := f.service(t, "web")
	web.Annotations = map[string]string{informers.AnnotationLoadBalancerIPs: "10.0.0.2"}
	if _, err := f.kube.CoreV1().Services("default").Update(context.Background(), web, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "a failed write", func() bool { return attempts.Load() > 0 })
	n := attempts.Load()
	for settled := time.Now(); time.Since(settled) < 300*time.Millisecond; time.Sleep(10 * time.Millisecond) {
		if m := attempts.Load(); m != n {
			n, settled = m, time.Now()
		}
	}
	// The backoff is a minute, randomised by up to ±50%: not before 30s.
	fc.Step(29 * time.Second)
	time.Sleep(200 * time.Millisecond)
	if got := attempts.Load(); got != n {
		t.Fatalf("%d write attempts 29s into a backoff of at least 30s, want %d", got, n)
	}
	// By 90s the retry is due; with the API back it succeeds.
	failing.Store(false)
	fc.Step(61 * time.Second)
	f.waitIngress(t, "web", "10.0.0.2")
}

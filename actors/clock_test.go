package actors

import (
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	k8stesting "k8s.io/client-go/testing"
	clocktesting "k8s.io/utils/clock/testing"
)

// stepUntil advances the fake clock by step, giving the actors a moment of
// real time after each step, until cond holds; it fails after max steps.
// It returns how far the clock went.
func stepUntil(t *testing.T, fc *clocktesting.FakeClock, step time.Duration, max int, what string, cond func() bool) time.Duration {
	t.Helper()
	for i := 0; i <= max; i++ {
		// Let messages sent by the last step land before judging.
		deadline := time.Now().Add(50 * time.Millisecond)
		for time.Now().Before(deadline) {
			if cond() {
				return time.Duration(i) * step
			}
			time.Sleep(2 * time.Millisecond)
		}
		fc.Step(step)
	}
	t.Fatalf("%s: not after %d steps of %s", what, max, step)
	return 0
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
	f.start(t, "r1", func(o *ControllerOptions) {
		o.Clock = fc
		o.FailureEventInterval = time.Hour
	})
	// The configuration debounce runs on the fake clock too.
	stepUntil(t, fc, configDebounce, 100, "first Event on waits", func() bool {
		return f.rec.count("default/waits", ReasonAllocationFailed) == 1
	})
	// A reminder is due an hour after the first Event. Step by minutes:
	// the reminder's timer is set just after the Event is published, so
	// it may start up to one step late.
	took := stepUntil(t, fc, time.Minute, 70, "reminder", func() bool {
		return f.rec.count("default/waits", ReasonAllocationFailed) == 2
	})
	if took < 59*time.Minute || took > 62*time.Minute {
		t.Errorf("reminder after %s of fake time, want about 1h", took)
	}
	if got := f.rec.count("default/first", ReasonAllocationFailed); got != 0 {
		t.Errorf("the allocated Service got %d AllocationFailed Events", got)
	}
}

// A failed status write is retried after the backoff on the injected
// clock: while the clock stands still, no retry is made.
func TestStatusRetryWaitsForTheClock(t *testing.T) {
	fc := clocktesting.NewFakeClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	f := newFixture(pool("a", "10.0.0.0/30"), lbService("web", nil))
	attempts := 0
	f.kube.PrependReactor("update", "services", func(a k8stesting.Action) (bool, runtime.Object, error) {
		if a.GetSubresource() != "status" {
			return false, nil, nil
		}
		attempts++
		if attempts == 1 {
			return true, nil, apierrors.NewServiceUnavailable("restarting")
		}
		return false, nil, nil
	})
	f.start(t, "r1", func(o *ControllerOptions) {
		o.Clock = fc
		o.BackoffInitial, o.BackoffMax = time.Minute, time.Minute
	})
	stepUntil(t, fc, configDebounce, 100, "first write attempt", func() bool { return f.statusWrites() >= 1 })
	// Real time passes, fake time does not: no second attempt.
	time.Sleep(300 * time.Millisecond)
	if got := f.statusWrites(); got != 1 {
		t.Fatalf("%d status writes while the clock stood still, want 1", got)
	}
	// The backoff is a minute, randomised by up to ±50%.
	took := stepUntil(t, fc, 10*time.Second, 12, "retry", func() bool { return ingress(f.service(t, "web")) == "10.0.0.0" })
	if took < 30*time.Second {
		t.Errorf("retried after %s of fake time, want at least the backoff's 30s floor", took)
	}
}

package e2e

import (
	"fmt"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/leaderelection"

	"github.com/heraldlb/herald/actors/controller"
	"github.com/heraldlb/herald/informers"
)

// Restart safety: with every Service allocated, the leader is killed (its
// Lease is not released, as after a crash); the standby must take over
// within the Lease duration and change no IP — in fact write no Service at
// all. 200 Services by default, 5,000 with HERALD_SOAK=1.
func TestControllerFailoverChangesNoIP(t *testing.T) { failover(t, false) }

// The same, with the API server restarted twice: while the leader is
// allocating, and again right after the leader is killed.
func TestControllerFailoverWithAPIServerRestart(t *testing.T) { failover(t, true) }

func failover(t *testing.T, bounce bool) {
	n := 200
	if soak() {
		n = 5000
	}
	const (
		lease = 4 * time.Second
		retry = 500 * time.Millisecond
	)
	l := newLab(t)
	l.namespace("load", nil)
	l.pool(newPool("big", "10.0.0.0/16"))
	l.pool(newPool("extra", "10.1.0.0/24"))
	crash := func(o *controller.Options) {
		o.KeepLeaseOnStop = true
		o.LeaseDuration, o.RenewDeadline, o.RetryPeriod = lease, 3*time.Second, retry
	}
	r1 := l.runController("r1", crash)
	eventually(t, 30*time.Second, "r1 leads", func() (bool, string) { return r1.ctrl.Leading(), "" })
	r2 := l.runController("r2", crash)

	start := time.Now()
	var wg sync.WaitGroup
	names := make(chan string)
	for range 16 {
		wg.Go(func() {
			for name := range names {
				s := lbService("load", name, nil)
				for attempt := 0; ; attempt++ {
					_, err := l.admin.CoreV1().Services("load").Create(t.Context(), s, metav1.CreateOptions{})
					if err == nil || apierrors.IsAlreadyExists(err) || t.Context().Err() != nil {
						break
					}
					if attempt == 300 {
						t.Errorf("creating %s: %v", name, err)
						break
					}
					// The API server may be restarting, and while it
					// stops it even refuses valid Services (it cannot
					// reach itself to allocate their cluster IP): try
					// again.
					time.Sleep(100 * time.Millisecond)
				}
			}
		})
	}
	for i := range n {
		if bounce && i == n/2 {
			if err := l.cp.RestartAPIServer(t.Context()); err != nil {
				t.Fatal(err)
			}
			t.Logf("API server restarted after %d Services", i)
		}
		names <- fmt.Sprintf("s%05d", i)
	}
	close(names)
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	before := l.allocated(n, 5*time.Minute)
	check := l.checkFailover(before)
	t.Logf("%d Services created and allocated in %s", n, time.Since(start).Round(time.Millisecond))
	// Exactly one leads. Without the API server restart that is r1; with
	// it, r1 may have stepped down while it could not renew, and r2 won.
	var leader, standby *replica
	eventually(t, 2*lease, "one leader", func() (bool, string) {
		switch a, b := r1.ctrl.Leading(), r2.ctrl.Leading(); {
		case a && b:
			t.Fatal("two leaders")
		case a:
			leader, standby = r1, r2
		case b:
			leader, standby = r2, r1
		}
		return leader != nil, ""
	})
	if !bounce && leader != r1 {
		t.Error("leadership moved although the leader was alive and the API server up")
	}

	killed := time.Now()
	leader.stop()
	// The clock starts at the kill, or when the API server is back: no
	// one can take a Lease from an API server that is down.
	from := killed
	if bounce {
		if err := l.cp.RestartAPIServer(t.Context()); err != nil {
			t.Fatal(err)
		}
		from = time.Now()
		t.Logf("API server back %s after the kill", from.Sub(killed).Round(time.Millisecond))
	}
	eventually(t, 2*lease+30*time.Second, "the standby takes over", func() (bool, string) { return standby.ctrl.Leading(), "" })
	took := time.Since(from)
	t.Logf("standby took over %s after the kill (%s after the API server was available; lease %s, retry %s)",
		time.Since(killed).Round(time.Millisecond), took.Round(time.Millisecond), lease, retry)
	if limit, maxPoll := takeoverBound(lease, retry); took > limit {
		t.Errorf("takeover took %s, want at most %s (lease %s + 2 × %s polling)", took, limit, lease, maxPoll)
	}

	check.newLeaderChangedNothing(n)
}

type allocation struct{ ip, rv string }

// allocated waits until want Services in "load" have an IP, checks that no
// two share one, and returns them by name.
func (l *lab) allocated(want int, timeout time.Duration) map[string]allocation {
	l.t.Helper()
	var out map[string]allocation
	every := 50 * time.Millisecond
	if want > 500 {
		every = time.Second
	}
	eventuallyEvery(l.t, timeout, every, fmt.Sprintf("%d Services allocated", want), func() (bool, string) {
		list, err := l.admin.CoreV1().Services("load").List(l.t.Context(), metav1.ListOptions{})
		if err != nil {
			return false, err.Error()
		}
		out = map[string]allocation{}
		owner := map[string]string{}
		for _, s := range list.Items {
			ip := ingress(&s)
			if ip == "" || s.Spec.Type != corev1.ServiceTypeLoadBalancer {
				continue
			}
			// Converged means the pool annotation is written too (it is
			// a second write after the status).
			if s.Annotations[informers.AnnotationAllocatedFromPool] == "" {
				continue
			}
			if o, dup := owner[ip]; dup {
				l.t.Fatalf("%s held by both %s and %s", ip, o, s.Name)
			}
			owner[ip] = s.Name
			out[s.Name] = allocation{ip: ip, rv: s.ResourceVersion}
		}
		return len(out) == want, fmt.Sprintf("%d of %d", len(out), len(list.Items))
	})
	return out
}

// takeoverBound is how long after the leader dies a standby may take to
// hold the Lease, and the longest interval between its polls. The bound
// follows from client-go's leader election: the standby polls the Lease
// every retry period stretched by up to JitterFactor, so it sees the dead
// leader's last renewal up to one stretched period late, counts the Lease
// duration from that sighting, and acquires at its next poll after expiry,
// up to another stretched period later. A quarter second covers the API
// calls and the test's own polling.
func takeoverBound(lease, retry time.Duration) (limit, maxPoll time.Duration) {
	maxPoll = retry + time.Duration(leaderelection.JitterFactor*float64(retry))
	return lease + 2*maxPoll + 250*time.Millisecond, maxPoll
}

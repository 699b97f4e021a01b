package controller

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	k8stesting "k8s.io/client-go/testing"
	"k8s.io/utils/ptr"

	"github.com/heraldlb/herald/informers"
)

// A new leader must not restore from a cache older than the previous
// leader's last writes (issue 8: after an API server restart, a standby's
// reflectors resume only after their backoff, and the standby took the
// Lease first). Here the standby's Service watch is held back while the
// previous leader writes the statuses, and released only once the new
// leader acts: by reading from the API server (the fence) or by writing a
// status (restoring from what it had). Restored from the stale cache, a
// (older by name, no status there) would get 10.0.0.0, which b holds.
//
// The fence is checked three ways: the cache catches up as soon as the new
// leader lists; it catches up only 2.5 s later (the fence lists again,
// and still waits); and the new leader's first lists fail (a list that
// fails is no proof that the cache is current).
func TestNewLeaderWaitsForItsCacheBeforeRestoring(t *testing.T) {
	for _, tc := range []struct {
		name      string
		openAfter time.Duration // from the first consistent list
		failLists int           // the new leader's first lists fail
	}{
		{"catches up at once", 0, 0},
		{"catches up slowly", 2500 * time.Millisecond, 0},
		{"lists fail first", 0, 3},
	} {
		t.Run(tc.name, func(t *testing.T) { newLeaderWaits(t, tc.openAfter, tc.failLists) })
	}
}

func newLeaderWaits(t *testing.T, openAfter time.Duration, failLists int) {
	now := metav1.NewMicroTime(time.Now())
	f := newFixture(pool("p", "10.0.0.0/30"),
		lbService("a", func(s *corev1.Service) { s.ResourceVersion = "10" }),
		lbService("b", func(s *corev1.Service) { s.ResourceVersion = "11" }),
		&coordinationv1.Lease{
			ObjectMeta: metav1.ObjectMeta{Namespace: testNS, Name: "herald-controller"},
			Spec: coordinationv1.LeaseSpec{HolderIdentity: ptr.To("old"), LeaseDurationSeconds: ptr.To[int32](1),
				AcquireTime: &now, RenewTime: &now},
		})
	g := f.gateServiceWatch()
	var armed atomic.Bool
	var leader atomic.Pointer[Controller]
	var firstMove sync.Once
	acted := func(what string, after time.Duration) {
		if armed.Load() {
			firstMove.Do(func() {
				t.Logf("the new leader's first read or write: %s; the cache catches up %s later", what, after)
				time.AfterFunc(after, g.open)
			})
		}
	}
	var lists atomic.Int32
	f.kube.PrependReactor("list", "services", func(k8stesting.Action) (bool, runtime.Object, error) {
		if c := leader.Load(); c != nil && c.Leading() {
			if lists.Add(1) <= int32(failLists) {
				return true, nil, apierrors.NewServiceUnavailable("the API server is restarting")
			}
			acted("a consistent list of Services", openAfter)
		}
		return false, nil, nil
	})
	f.kube.PrependReactor("update", "services", func(a k8stesting.Action) (bool, runtime.Object, error) {
		if a.GetSubresource() == "status" {
			acted("a status write", 0)
		}
		return false, nil, nil
	})

	c, _ := f.start(t, "new", nil)
	leader.Store(c)
	eventually(t, "the standby's caches synced", c.Synced)
	if c.Leading() {
		t.Fatal("leading while another replica's Lease is valid")
	}

	// The previous leader's last writes, which the standby's cache does
	// not see yet: it had given b its IP first.
	g.close()
	for name, ip := range map[string]string{"a": "10.0.0.1", "b": "10.0.0.0"} {
		s := f.service(t, name)
		s.ResourceVersion = map[string]string{"a": "20", "b": "21"}[name]
		s.Annotations = map[string]string{informers.AnnotationAllocatedFromPool: "p"}
		s.Status.LoadBalancer.Ingress = []corev1.LoadBalancerIngress{{IP: ip}}
		if _, err := f.kube.CoreV1().Services("default").Update(context.Background(), s, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	before := f.statusWrites()
	armed.Store(true)

	eventually(t, "the standby leads", c.Leading)
	eventually(t, "the new leader restored and published pool usage", func() bool {
		p, err := f.mlb.MetallbV1beta1().IPAddressPools(testNS).Get(context.Background(), "p", metav1.GetOptions{})
		return err == nil && p.Status.AssignedIPv4 == 2
	})
	// Anything the new leader would write is on its way by now.
	time.Sleep(300 * time.Millisecond)
	for name, want := range map[string]string{"a": "10.0.0.1", "b": "10.0.0.0"} {
		if got := ingress(f.service(t, name)); got != want {
			t.Errorf("%s moved from %s to %s across the failover", name, want, got)
		}
	}
	for _, a := range f.kube.Actions() {
		if u, ok := a.(k8stesting.UpdateAction); ok && a.GetSubresource() == "status" {
			s := u.GetObject().(*corev1.Service)
			t.Logf("status write: %s -> %q", s.Name, ingress(s))
		}
	}
	if n := f.statusWrites() - before; n != 0 {
		t.Errorf("the new leader wrote %d statuses, want none: every Service already showed its IP", n)
	}
}

// serviceGate holds back the events of every Service watch while closed and
// delivers them, in order, once open.
type serviceGate struct {
	mu     sync.Mutex
	cond   *sync.Cond
	closed bool
}

func (g *serviceGate) close() { g.mu.Lock(); g.closed = true; g.mu.Unlock() }

func (g *serviceGate) open() {
	g.mu.Lock()
	g.closed = false
	g.mu.Unlock()
	g.cond.Broadcast()
}

func (g *serviceGate) wait() {
	g.mu.Lock()
	for g.closed {
		g.cond.Wait()
	}
	g.mu.Unlock()
}

func (f *fixture) gateServiceWatch() *serviceGate {
	g := &serviceGate{}
	g.cond = sync.NewCond(&g.mu)
	f.kube.PrependWatchReactor("services", copyingWatch(f.kube.Tracker(), g))
	return g
}

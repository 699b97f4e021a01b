package controller

import (
	"context"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// serviceActors counts the live Service actors of c.
func serviceActors(c *Controller) int {
	n := 0
	for _, m := range c.system.ProcessRegistry.LocalPIDs.LocalPIDs {
		for _, k := range m.Keys() {
			if strings.Contains(k, "/svc-") {
				n++
			}
		}
	}
	return n
}

// A Service deleted while the allocator's answer to it is still on its way:
// the answer reaches an actor that has nothing left to do, and the router
// must still stop that actor.
func TestActorOfDeletedServiceStops(t *testing.T) {
	f := newFixture(pool("a", "10.0.0.0/24"))
	var slow atomic.Bool
	c, _ := f.start(t, "r1", func(o *Options) {
		o.Logger = slog.New(slowMessages{&slow, "/allocator", "actors.ensure", 200 * time.Millisecond})
	})
	eventually(t, "leading", c.Leading)
	time.Sleep(300 * time.Millisecond) // the first configuration is in
	slow.Store(true)
	s := lbService("x", nil)
	if _, err := f.kube.CoreV1().Services("default").Create(context.Background(), s, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond)
	if err := f.kube.CoreV1().Services("default").Delete(context.Background(), s.Name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "no Service actor left", func() bool { return serviceActors(c) == 0 })
}

// panicOnce panics the first time a Service is told IPAllocated: a broken
// invariant, as the supervisor sees it.
type panicOnce struct {
	*recorder
	done *atomic.Bool
}

func (r panicOnce) Eventf(obj runtime.Object, kind, reason, format string, args ...any) {
	if reason == ReasonIPAllocated && r.done.CompareAndSwap(false, true) {
		panic("broken invariant")
	}
	r.recorder.Eventf(obj, kind, reason, format, args...)
}

// A Service actor restarted by its supervisor starts counting forwarded
// messages afresh; the router must still stop it once its Service is gone.
func TestRestartedActorOfDeletedServiceStops(t *testing.T) {
	f := newFixture(pool("a", "10.0.0.0/30"), lbService("x", nil))
	var panicked atomic.Bool
	c, _ := f.start(t, "r1", func(o *Options) { o.Recorder = panicOnce{f.rec, &panicked} })
	f.waitIngress(t, "x", "10.0.0.0")
	eventually(t, "the actor panicked and was restarted", panicked.Load)
	time.Sleep(300 * time.Millisecond)
	if err := f.kube.CoreV1().Services("default").Delete(context.Background(), "x", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "no Service actor left", func() bool { return serviceActors(c) == 0 })
}

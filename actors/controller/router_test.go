package controller

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/heraldlb/herald/alloc"
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

// The router stops a Service actor only when the actor's idle report
// covers every kick and every forwarded message it was sent: a message sent
// after the actor decided it was idle (a revoked message forwarded as the
// actor reports idle, an answer to a request that the deletion of its
// Service overtook) would otherwise be dropped with the actor.
func TestRouterStopsOnlyActorsThatSawEverything(t *testing.T) {
	k := alloc.ServiceKey{Namespace: "default", Name: "x"}
	pid := &actor.PID{Id: "svc-default-x"}
	for _, tc := range []struct {
		name         string
		kicks, fwds  int    // what the router sent
		report       [2]int // the actor's idle report: kicks, forwards seen
		stop, remain bool
	}{
		{"saw everything", 2, 1, [2]int{2, 1}, true, false},
		{"a kick is queued", 3, 1, [2]int{2, 1}, false, true},
		{"a forwarded message is queued", 2, 2, [2]int{2, 1}, false, true},
		{"nothing forwarded yet", 1, 0, [2]int{1, 0}, true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cs := children{}
			ch := cs.add(k, pid)
			for range tc.kicks {
				ch.kick()
			}
			for range tc.fwds {
				ch.forward()
			}
			got, stop := cs.idle(idle{key: k, n: uint64(tc.report[0]), fwd: uint64(tc.report[1])})
			if stop != tc.stop || (stop && got != pid) {
				t.Errorf("idle stopped %v (%v), want %v", got, stop, tc.stop)
			}
			if _, ok := cs[k]; ok != tc.remain {
				t.Errorf("child kept %v, want %v", ok, tc.remain)
			}
		})
	}
	// A report about an actor the router no longer has stops nothing.
	if _, stop := (children{}).idle(idle{key: k}); stop {
		t.Error("an unknown actor was stopped")
	}
}

// Wiring: a Service created and deleted at once leaves no actor behind.
func TestActorOfDeletedServiceStops(t *testing.T) {
	f := newFixture(pool("a", "10.0.0.0/24"))
	c, _ := f.start(t, "r1", nil)
	eventually(t, "leading", c.Leading)
	s := lbService("x", nil)
	if _, err := f.kube.CoreV1().Services("default").Create(context.Background(), s, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
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

func (r panicOnce) Event(obj runtime.Object, kind, reason, message string) {
	if reason == ReasonIPAllocated && r.done.CompareAndSwap(false, true) {
		panic("broken invariant")
	}
	r.recorder.Event(obj, kind, reason, message)
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

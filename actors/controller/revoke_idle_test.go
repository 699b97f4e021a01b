package controller

import (
	"context"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// slowMessages delays one actor's handling of one message type by delay,
// while armed: the trace middleware logs every message through the
// injected logger before the actor handles it, and this handler sleeps
// there. It makes a race window wide enough to hit every run.
type slowMessages struct {
	armed     *atomic.Bool
	self, typ string // suffix of the actor's PID, message type
	delay     time.Duration
}

func slowRouter(armed *atomic.Bool) slowMessages {
	return slowMessages{armed, "/router", "actors.forService", 100 * time.Millisecond}
}

func (h slowMessages) Enabled(context.Context, slog.Level) bool { return true }
func (h slowMessages) Handle(_ context.Context, r slog.Record) error {
	if !h.armed.Load() || r.Message != "message" {
		return nil
	}
	var self, typ string
	r.Attrs(func(a slog.Attr) bool {
		switch a.Key {
		case "self":
			self = a.Value.String()
		case "type":
			typ = a.Value.String()
		}
		return true
	})
	if strings.HasSuffix(self, h.self) && typ == h.typ {
		time.Sleep(h.delay)
	}
	return nil
}
func (h slowMessages) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h slowMessages) WithGroup(string) slog.Handler      { return h }

// slowRecorder sleeps on the "no longer of type LoadBalancer" Event, which
// the Service actor publishes after sending release and before idle.
type slowRecorder struct {
	*recorder
	armed *atomic.Bool
}

func (r slowRecorder) Eventf(obj runtime.Object, kind, reason, format string, args ...any) {
	if r.armed.Load() && strings.Contains(format, "no longer of type LoadBalancer") {
		time.Sleep(30 * time.Millisecond)
	}
	r.recorder.Eventf(obj, kind, reason, format, args...)
}

// A Service that stops being a LoadBalancer (the API server clears its
// status) has its IP reserved, and the revoked message is forwarded to its
// actor just as the actor reports idle. The router must not stop it with
// the message queued (it would be dropped and the reservation never
// released): the waiting Service gets the IP.
func TestRevokedReachesAnActorTheRouterWouldStop(t *testing.T) {
	age := func(d time.Duration) func(*corev1.Service) {
		return func(s *corev1.Service) { s.CreationTimestamp = metav1.NewTime(s.CreationTimestamp.Add(d)) }
	}
	f := newFixture(pool("a", "10.0.0.0/31"),
		lbService("x", age(0)), lbService("z", age(time.Minute)), lbService("y", age(2*time.Minute)))
	var armed atomic.Bool
	f.start(t, "r1", func(o *Options) {
		o.Logger = slog.New(slowRouter(&armed))
		o.Recorder = slowRecorder{f.rec, &armed}
	})
	f.waitIngress(t, "x", "10.0.0.0")
	f.waitIngress(t, "z", "10.0.0.1")
	eventually(t, "y waits", func() bool { _, ok := f.rec.find("default/y", ReasonAllocationFailed, "no free address"); return ok })
	time.Sleep(100 * time.Millisecond)

	armed.Store(true)
	// What the API server does on a type change: status.loadBalancer goes.
	x := f.service(t, "x")
	x.Spec.Type = corev1.ServiceTypeClusterIP
	x.Status.LoadBalancer = corev1.LoadBalancerStatus{}
	// kubectl replace of a ClusterIP manifest: the pool annotation goes too.
	delete(x.Annotations, "metallb.io/ip-allocated-from-pool")
	if _, err := f.kube.CoreV1().Services("default").Update(context.Background(), x, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond)
	armed.Store(false)
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if ingress(f.service(t, "y")) == "10.0.0.0" {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("y never got 10.0.0.0: x's status is %q, but the reservation for x was never released", ingress(f.service(t, "x")))
}

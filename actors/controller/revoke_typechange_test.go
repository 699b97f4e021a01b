package controller

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// A Service that stops being a LoadBalancer (the API server clears its
// status) has its IP reserved and released again once its actor sees the
// status clear: the waiting Service gets the IP. The race where the
// revoked message is forwarded just as the actor reports idle is the
// router's counters' (TestRouterStopsOnlyActorsThatSawEverything); this is
// the wiring.
func TestTypeChangeReleasesTheReservation(t *testing.T) {
	age := func(d time.Duration) func(*corev1.Service) {
		return func(s *corev1.Service) { s.CreationTimestamp = metav1.NewTime(s.CreationTimestamp.Add(d)) }
	}
	f := newFixture(pool("a", "10.0.0.0/31"),
		lbService("x", age(0)), lbService("z", age(time.Minute)), lbService("y", age(2*time.Minute)))
	f.start(t, "r1", nil)
	f.waitIngress(t, "x", "10.0.0.0")
	f.waitIngress(t, "z", "10.0.0.1")
	eventually(t, "y waits", func() bool { _, ok := f.rec.find("default/y", ReasonAllocationFailed, "no free address"); return ok })

	// What the API server does on a type change: status.loadBalancer goes.
	x := f.service(t, "x")
	x.Spec.Type = corev1.ServiceTypeClusterIP
	x.Status.LoadBalancer = corev1.LoadBalancerStatus{}
	// kubectl replace of a ClusterIP manifest: the pool annotation goes too.
	delete(x.Annotations, "metallb.io/ip-allocated-from-pool")
	if _, err := f.kube.CoreV1().Services("default").Update(context.Background(), x, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if ingress(f.service(t, "y")) == "10.0.0.0" {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("y never got 10.0.0.0: x's status is %q, but the reservation for x was never released", ingress(f.service(t, "x")))
}

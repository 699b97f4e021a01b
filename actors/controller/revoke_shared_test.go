package controller

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/heraldlb/herald/informers"
)

// x and w share 10.0.0.0. x's request becomes unreadable and its clearing
// write is stuck, so x's status keeps showing 10.0.0.0 while w still holds
// it. Then w is deleted: 10.0.0.0 must stay reserved for x, and the waiting
// y (no sharing key) gets it only after x's status is clear.
func TestRevokedSharedIPStaysReservedForLeaver(t *testing.T) {
	shared := func(port int32, d time.Duration) func(*corev1.Service) {
		return func(s *corev1.Service) {
			s.CreationTimestamp = metav1.NewTime(s.CreationTimestamp.Add(d))
			s.Annotations = map[string]string{informers.AnnotationAllowSharedIP: "k"}
			s.Spec.Ports = []corev1.ServicePort{{Protocol: corev1.ProtocolTCP, Port: port}}
		}
	}
	f := newFixture(pool("a", "10.0.0.0/31"),
		lbService("x", shared(80, 0)), lbService("w", shared(443, time.Second)),
		lbService("z", aged(time.Minute)), lbService("y", aged(2*time.Minute)))
	arm, _ := f.stallStatusWrites("x", false)
	f.start(t, "r1", nil)
	f.waitIngress(t, "x", "10.0.0.0")
	f.waitIngress(t, "w", "10.0.0.0")
	f.waitIngress(t, "z", "10.0.0.1")
	eventually(t, "y waits", func() bool { _, ok := f.rec.find("default/y", ReasonAllocationFailed, "no free address"); return ok })

	arm()
	x := f.service(t, "x")
	x.Annotations[informers.AnnotationLoadBalancerIPs] = "not-an-ip"
	if _, err := f.kube.CoreV1().Services("default").Update(context.Background(), x, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "x told", func() bool { _, ok := f.rec.find("default/x", ReasonAllocationFailed, "not an IP"); return ok })
	if err := f.kube.CoreV1().Services("default").Delete(context.Background(), "w", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	f.staysWithoutIP(t, "y", "x", time.Second)
}

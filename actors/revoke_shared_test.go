package actors

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	k8stesting "k8s.io/client-go/testing"

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
	age := func(d time.Duration) func(*corev1.Service) {
		return func(s *corev1.Service) { s.CreationTimestamp = metav1.NewTime(s.CreationTimestamp.Add(d)) }
	}
	f := newFixture(pool("a", "10.0.0.0/31"),
		lbService("x", shared(80, 0)), lbService("w", shared(443, time.Second)),
		lbService("z", age(time.Minute)), lbService("y", age(2*time.Minute)))
	armed := make(chan struct{})
	f.kube.PrependReactor("update", "services", func(a k8stesting.Action) (bool, runtime.Object, error) {
		u, ok := a.(k8stesting.UpdateAction)
		if !ok || a.GetSubresource() != "status" {
			return false, nil, nil
		}
		if s := u.GetObject().(*corev1.Service); s.Name == "x" && len(s.Status.LoadBalancer.Ingress) == 0 {
			select {
			case <-armed:
				return true, nil, apierrors.NewServiceUnavailable("slow")
			default:
			}
		}
		return false, nil, nil
	})
	f.start(t, "r1", nil)
	f.waitIngress(t, "x", "10.0.0.0")
	f.waitIngress(t, "w", "10.0.0.0")
	f.waitIngress(t, "z", "10.0.0.1")
	eventually(t, "y waits", func() bool { _, ok := f.rec.find("default/y", ReasonAllocationFailed, "no free address"); return ok })

	close(armed)
	x := f.service(t, "x")
	x.Annotations[informers.AnnotationLoadBalancerIPs] = "not-an-ip"
	if _, err := f.kube.CoreV1().Services("default").Update(context.Background(), x, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "x told", func() bool { _, ok := f.rec.find("default/x", ReasonAllocationFailed, "not an IP"); return ok })
	if err := f.kube.CoreV1().Services("default").Delete(context.Background(), "w", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(time.Second)
	for time.Now().Before(deadline) {
		if got := ingress(f.service(t, "y")); got != "" {
			t.Fatalf("y got %q while x's status still shows %q", got, ingress(f.service(t, "x")))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

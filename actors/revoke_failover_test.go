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

// x's request becomes unreadable while x holds 10.0.0.0, and its clearing
// write is slow; the leader changes before it lands. The new term's
// restore must reserve 10.0.0.0 for x (an Invalid Service claims nothing,
// but its status still shows the IP): the waiting y gets it only after
// x's status is clear.
func TestRevokedIPOfInvalidServiceSurvivesFailover(t *testing.T) {
	age := func(d time.Duration) func(*corev1.Service) {
		return func(s *corev1.Service) { s.CreationTimestamp = metav1.NewTime(s.CreationTimestamp.Add(d)) }
	}
	f := newFixture(pool("a", "10.0.0.0/31"),
		lbService("x", age(0)), lbService("z", age(time.Minute)), lbService("y", age(2*time.Minute)))
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
	_, stop := f.start(t, "r1", nil)
	f.waitIngress(t, "x", "10.0.0.0")
	f.waitIngress(t, "z", "10.0.0.1")
	eventually(t, "y waits", func() bool { _, ok := f.rec.find("default/y", ReasonAllocationFailed, "no free address"); return ok })

	close(armed)
	x := f.service(t, "x")
	x.Annotations = map[string]string{informers.AnnotationLoadBalancerIPs: "not-an-ip"}
	if _, err := f.kube.CoreV1().Services("default").Update(context.Background(), x, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "x told", func() bool { _, ok := f.rec.find("default/x", ReasonAllocationFailed, "not an IP"); return ok })
	time.Sleep(200 * time.Millisecond)
	if got := ingress(f.service(t, "y")); got != "" {
		t.Fatalf("term 1 already gave y %q", got)
	}
	stop()
	f.start(t, "r2", nil)
	deadline := time.Now().Add(2 * time.Second)
	for time.Now().Before(deadline) {
		if got := ingress(f.service(t, "y")); got != "" {
			t.Fatalf("after failover y got %q while x's status still shows %q", got, ingress(f.service(t, "x")))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

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

// A config change removes x's IP from every pool, evicting x; the range
// comes back (a reverted edit) while x's clearing write is stuck. y, which
// requested that IP, must wait until x's status is clear: the reservation
// outlives the range.
func TestRevokedIPSurvivesRangeRemovedAndRestored(t *testing.T) {
	age := func(d time.Duration) func(*corev1.Service) {
		return func(s *corev1.Service) { s.CreationTimestamp = metav1.NewTime(s.CreationTimestamp.Add(d)) }
	}
	f := newFixture(pool("a", "10.0.0.0/31"), pool("b", "10.0.1.0/31"),
		lbService("x", age(0)), lbService("z", age(time.Minute)),
		lbService("y", func(s *corev1.Service) {
			age(2 * time.Minute)(s)
			s.Annotations = map[string]string{informers.AnnotationLoadBalancerIPs: "10.0.0.0"}
		}))
	armed := make(chan struct{})
	f.kube.PrependReactor("update", "services", func(a k8stesting.Action) (bool, runtime.Object, error) {
		if a.GetSubresource() != "status" {
			return false, nil, nil
		}
		if s := a.(k8stesting.UpdateAction).GetObject().(*corev1.Service); s.Name == "x" {
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
	f.waitIngress(t, "z", "10.0.0.1")
	eventually(t, "y waits", func() bool { _, ok := f.rec.find("default/y", ReasonAllocationFailed, "in use"); return ok })

	close(armed)
	setAddrs := func(addrs ...string) {
		p, err := f.mlb.MetallbV1beta1().IPAddressPools(testNS).Get(context.Background(), "a", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		p.Spec.Addresses = addrs
		if _, err := f.mlb.MetallbV1beta1().IPAddressPools(testNS).Update(context.Background(), p, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	setAddrs("10.0.0.1/32")
	eventually(t, "y told 10.0.0.0 is in no pool", func() bool {
		_, ok := f.rec.find("default/y", ReasonAllocationFailed, "no address pool contains it")
		return ok
	})
	time.Sleep(100 * time.Millisecond)
	setAddrs("10.0.0.0/31") // reverted
	deadline := time.Now().Add(time.Second)
	for time.Now().Before(deadline) {
		if got := ingress(f.service(t, "y")); got != "" {
			t.Fatalf("y got %q while x's status still shows %q", got, ingress(f.service(t, "x")))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

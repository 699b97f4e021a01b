package controller

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/heraldlb/herald/informers"
)

// A config change removes x's IP from every pool, evicting x; the range
// comes back (a reverted edit) while x's clearing write is stuck. y, which
// requested that IP, must wait until x's status is clear: the reservation
// outlives the range.
func TestRevokedIPSurvivesRangeRemovedAndRestored(t *testing.T) {
	f := newFixture(pool("a", "10.0.0.0/31"), pool("b", "10.0.1.0/31"),
		lbService("x", aged(0)), lbService("z", aged(time.Minute)),
		lbService("y", func(s *corev1.Service) {
			aged(2 * time.Minute)(s)
			s.Annotations = map[string]string{informers.AnnotationLoadBalancerIPs: "10.0.0.0"}
		}))
	arm, _ := f.stallStatusWrites("x", true)
	f.start(t, "r1", nil)
	f.waitIngress(t, "x", "10.0.0.0")
	f.waitIngress(t, "z", "10.0.0.1")
	eventually(t, "y waits", func() bool { _, ok := f.rec.find("default/y", ReasonAllocationFailed, "in use"); return ok })

	arm()
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
	f.staysWithoutIP(t, "y", "x", time.Second)
}

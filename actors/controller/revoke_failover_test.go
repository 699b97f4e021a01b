package controller

import (
	"context"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/heraldlb/herald/informers"
)

// x's request becomes unreadable while x holds 10.0.0.0, and its clearing
// write is slow; the leader changes before it lands. The new term's
// restore must reserve 10.0.0.0 for x (an Invalid Service claims nothing,
// but its status still shows the IP): the waiting y gets it only after
// x's status is clear.
func TestRevokedIPOfInvalidServiceSurvivesFailover(t *testing.T) {
	f := newFixture(pool("a", "10.0.0.0/31"),
		lbService("x", aged(0)), lbService("z", aged(time.Minute)), lbService("y", aged(2*time.Minute)))
	arm, _ := f.stallStatusWrites("x", false)
	_, stop := f.start(t, "r1", nil)
	f.waitIngress(t, "x", "10.0.0.0")
	f.waitIngress(t, "z", "10.0.0.1")
	eventually(t, "y waits", func() bool { _, ok := f.rec.find("default/y", ReasonAllocationFailed, "no free address"); return ok })

	arm()
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
	f.staysWithoutIP(t, "y", "x", 2*time.Second)
}

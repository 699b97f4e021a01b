package speaker

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	kubefake "k8s.io/client-go/kubernetes/fake"

	mlbfake "github.com/heraldlb/herald/api/client/clientset/versioned/fake"
	"github.com/heraldlb/herald/api/v1beta1"
	"github.com/heraldlb/herald/api/v1beta2"
	"github.com/heraldlb/herald/internal/testlog"
)

// A Service announced over an IPv4-only session gains an IPv6 IP: the set
// of peers it is announced to does not change, but its routes do, and the
// new one cannot go out: the planner checks Services whose routes changed,
// not only those whose peers did.
func TestIPAddedToAnAnnouncedServiceIsChecked(t *testing.T) {
	router := startTestRouter(t, 64513)
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1"},
		Status: corev1.NodeStatus{Addresses: []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "192.0.2.10"}}}}
	kube := kubefake.NewClientset(node, lbService("web", "10.10.0.1"), endpoints("web", "n1"))
	mlb := mlbfake.NewSimpleClientset(
		&v1beta1.IPAddressPool{ObjectMeta: metav1.ObjectMeta{Namespace: testNS, Name: "p"},
			Spec: v1beta1.IPAddressPoolSpec{Addresses: []string{"10.10.0.0/24", "fd00:10::/120"}}},
		&v1beta2.BGPPeer{ObjectMeta: metav1.ObjectMeta{Namespace: testNS, Name: "r"},
			Spec: v1beta2.BGPPeerSpec{MyASN: 64512, ASN: 64513, Address: "127.0.0.1", Port: router.port()}},
		&v1beta1.BGPAdvertisement{ObjectMeta: metav1.ObjectMeta{Namespace: testNS, Name: "adv"}},
	)
	rec := &events{}
	runSpeaker(t, Options{Kube: kube, Metallb: mlb, Registry: prometheus.NewRegistry(), NodeName: "n1", Recorder: rec, NoL2: true,
		LivenessPort: -1, Namespace: testNS, BackoffInitial: 10 * time.Millisecond, BackoffMax: 100 * time.Millisecond, Logger: testlog.New(t)})
	eventually(t, "web's route", func() bool { return slices.Equal(router.routes(), []string{"10.10.0.1/32"}) })
	time.Sleep(200 * time.Millisecond) // the session's families are in
	ctx := context.Background()
	web, err := kube.CoreV1().Services("app").Get(ctx, "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	web.Status.LoadBalancer.Ingress = append(web.Status.LoadBalancer.Ingress, corev1.LoadBalancerIngress{IP: "fd00:10::1"})
	if _, err := kube.CoreV1().Services("app").UpdateStatus(ctx, web, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the AnnouncementFailed Event", func() bool {
		return rec.has("app/web", ReasonAnnouncementFailed, "node n1 cannot announce fd00:10::1 to BGPPeer r")
	})
}

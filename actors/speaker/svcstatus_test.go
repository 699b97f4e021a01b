package speaker

import (
	"context"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	kubefake "k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	mlbfake "github.com/heraldlb/herald/api/client/clientset/versioned/fake"
	"github.com/heraldlb/herald/api/v1beta1"
	"github.com/heraldlb/herald/api/v1beta2"
	"github.com/heraldlb/herald/internal/testlog"
)

// A speaker that starts where one ran before reads its node's
// ServiceBGPStatus objects from the API (not a cache, retrying a failed
// list): the one it still wants stays and raises no new Announcing Event,
// the stale ones go (also one whose status was never written), another
// node's are not its business, and a Service announced afterwards gets
// its object and its Event as usual.
func TestStatusObjectsOfAPreviousRun(t *testing.T) {
	router := startTestRouter(t, 64513)
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1"},
		Status: corev1.NodeStatus{Addresses: []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "192.0.2.10"}}}}
	kube := kubefake.NewClientset(node, lbService("web", "10.10.0.1"), endpoints("web", "n1"))
	status := func(svc, onNode string, peers ...string) *v1beta1.ServiceBGPStatus {
		o := &v1beta1.ServiceBGPStatus{ObjectMeta: metav1.ObjectMeta{Namespace: testNS, Name: "app-" + svc + "-" + onNode,
			Labels: map[string]string{LabelNode: onNode, LabelServiceName: svc, LabelServiceNamespace: "app"}}}
		if peers != nil {
			o.Status = v1beta1.ServiceBGPStatusStatus{Node: onNode, ServiceName: svc, ServiceNamespace: "app", Peers: peers}
		}
		return o
	}
	mlb := mlbfake.NewSimpleClientset(
		&v1beta1.IPAddressPool{ObjectMeta: metav1.ObjectMeta{Namespace: testNS, Name: "p"},
			Spec: v1beta1.IPAddressPoolSpec{Addresses: []string{"10.10.0.0/24"}}},
		&v1beta2.BGPPeer{ObjectMeta: metav1.ObjectMeta{Namespace: testNS, Name: "r"},
			Spec: v1beta2.BGPPeerSpec{MyASN: 64512, ASN: 64513, Address: "127.0.0.1", Port: router.port()}},
		&v1beta1.BGPAdvertisement{ObjectMeta: metav1.ObjectMeta{Namespace: testNS, Name: "adv"}},
		status("web", "n1", "r"), status("gone", "n1", "r"), status("unwritten", "n1"), status("web", "n2", "r"),
	)
	var lists atomic.Int32
	mlb.PrependReactor("list", "servicebgpstatuses", func(a k8stesting.Action) (bool, runtime.Object, error) {
		if a.(k8stesting.ListAction).GetListRestrictions().Labels.Empty() {
			return false, nil, nil // the test's own
		}
		if lists.Add(1) == 1 {
			return true, nil, apierrors.NewServiceUnavailable("the API server is starting")
		}
		return false, nil, nil
	})
	rec := &events{}
	s, err := New(Options{Kube: kube, Metallb: mlb, Registry: prometheus.NewRegistry(), NodeName: "n1", Recorder: rec, NoL2: true, LivenessPort: -1,
		Namespace: testNS, BackoffInitial: 10 * time.Millisecond, BackoffMax: 100 * time.Millisecond, Logger: testlog.New(t)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })

	names := func() []string {
		l, err := mlb.MetallbV1beta1().ServiceBGPStatuses(testNS).List(ctx, metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, o := range l.Items {
			out = append(out, o.Name)
		}
		slices.Sort(out)
		return out
	}
	eventually(t, "the route of app/web", func() bool { return slices.Equal(router.routes(), []string{"10.10.0.1/32"}) })
	eventually(t, "the stale objects deleted", func() bool {
		return slices.Equal(names(), []string{"app-web-n1", "app-web-n2"})
	})
	if n := lists.Load(); n < 2 {
		t.Errorf("%d list requests, want the failed one and a retry", n)
	}
	if rec.has("app/web", ReasonAnnouncing, "") {
		t.Errorf("an Announcing Event for app/web, which the API already showed announced by n1")
	}

	if _, err := kube.CoreV1().Services("app").Create(ctx, lbService("api", "10.10.0.2"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := kube.DiscoveryV1().EndpointSlices("app").Create(ctx, endpoints("api", "n1"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "an Announcing Event on app/api", func() bool { return rec.has("app/api", ReasonAnnouncing, "node n1 announces it over BGP to r") })
	eventually(t, "app/api's object", func() bool {
		st, err := mlb.MetallbV1beta1().ServiceBGPStatuses(testNS).Get(ctx, "app-api-n1", metav1.GetOptions{})
		return err == nil && slices.Equal(st.Status.Peers, []string{"r"})
	})
	if rec.has("app/web", ReasonAnnouncing, "") {
		t.Errorf("an Announcing Event for app/web, which the API already showed announced by n1")
	}
}

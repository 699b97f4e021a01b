package speaker

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	kubefake "k8s.io/client-go/kubernetes/fake"
	"k8s.io/utils/ptr"

	"github.com/heraldlb/herald/announce"
	mlbfake "github.com/heraldlb/herald/api/client/clientset/versioned/fake"
	"github.com/heraldlb/herald/api/v1beta1"
	"github.com/heraldlb/herald/api/v1beta2"
	"github.com/heraldlb/herald/bgpwire"
	"github.com/heraldlb/herald/internal/testlog"
)

func lbService(name, ip string) *corev1.Service {
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: "app", Name: name},
		Spec:       corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer, Ports: []corev1.ServicePort{{Port: 80}}},
		Status:     corev1.ServiceStatus{LoadBalancer: corev1.LoadBalancerStatus{Ingress: []corev1.LoadBalancerIngress{{IP: ip}}}},
	}
}

func endpoints(svc, node string) *discoveryv1.EndpointSlice {
	return &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Namespace: "app", Name: svc + "-1", Labels: map[string]string{discoveryv1.LabelServiceName: svc}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints:   []discoveryv1.Endpoint{{Addresses: []string{"10.244.0.5"}, NodeName: ptr.To(node), Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true)}}},
	}
}

// One BGP session from kubectl apply to the wire and back: a Service's
// status IP becomes a route at the router with the advertisement's
// community, a second Service a second route, a deleted one is withdrawn,
// a cordoned node withdraws everything but keeps its session, and a
// stopping speaker withdraws and says goodbye with Cease/Administrative
// Shutdown. The lab proves the same against FRR and BIRD.
func TestBGPRoutesFollowServices(t *testing.T) {
	router := startTestRouter(t, 64513)
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1"},
		Status: corev1.NodeStatus{Addresses: []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "192.0.2.10"}}}}
	kube := kubefake.NewClientset(node, lbService("web", "10.10.0.1"), endpoints("web", "n1"))
	mlb := mlbfake.NewSimpleClientset(
		&v1beta1.IPAddressPool{ObjectMeta: metav1.ObjectMeta{Namespace: testNS, Name: "p"},
			Spec: v1beta1.IPAddressPoolSpec{Addresses: []string{"10.10.0.0/24"}}},
		&v1beta2.BGPPeer{ObjectMeta: metav1.ObjectMeta{Namespace: testNS, Name: "r"},
			Spec: v1beta2.BGPPeerSpec{MyASN: 64512, ASN: 64513, Address: "127.0.0.1", Port: router.port()}},
		&v1beta1.BGPAdvertisement{ObjectMeta: metav1.ObjectMeta{Namespace: testNS, Name: "adv"},
			Spec: v1beta1.BGPAdvertisementSpec{Communities: []string{"65535:65282"}}},
	)
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

	wantRoutes := func(what string, want ...string) {
		t.Helper()
		eventually(t, what, func() bool { return slices.Equal(router.routes(), want) })
	}
	wantRoutes("the first Service's route", "10.10.0.1/32")
	if a, _ := router.attrs("10.10.0.1/32"); !slices.Equal(a.Communities, []bgpwire.Community{bgpwire.NewCommunity(65535, 65282)}) {
		t.Errorf("communities %v, want no-advertise (65535:65282)", a.Communities)
	}

	sessionState := func(what string, cond func(v1beta1.BGPSessionStateStatus) bool) {
		t.Helper()
		eventually(t, what, func() bool {
			st, err := mlb.MetallbV1beta1().BGPSessionStates(testNS).Get(ctx, sessionStateName("n1", "r"), metav1.GetOptions{})
			return err == nil && st.Labels[LabelNode] == "n1" && cond(st.Status)
		})
	}
	sessionState("BGPSessionState n1-r Established with one IPv4 prefix", func(st v1beta1.BGPSessionStateStatus) bool {
		return st.BGPState == "Established" && st.PrefixesIPv4 == 1 && st.PeerAddress == fmt.Sprintf("127.0.0.1:%d", router.port())
	})

	bgpStatus := func(what, svc string, peers ...string) {
		t.Helper()
		eventually(t, what, func() bool {
			st, err := mlb.MetallbV1beta1().ServiceBGPStatuses(testNS).Get(ctx, serviceStatusName(announce.ServiceKey{Namespace: "app", Name: svc}, "n1"), metav1.GetOptions{})
			if len(peers) == 0 {
				return apierrors.IsNotFound(err)
			}
			return err == nil && slices.Equal(st.Status.Peers, peers) && st.Status.Node == "n1" &&
				st.Labels[LabelServiceName] == svc && st.Labels[LabelServiceNamespace] == "app"
		})
	}
	bgpStatus("ServiceBGPStatus of app/web lists peer r", "web", "r")
	eventually(t, "an Announcing Event on app/web", func() bool { return rec.has("app/web", ReasonAnnouncing, "node n1 announces it over BGP to r") })

	create := func(objs ...runtime.Object) {
		t.Helper()
		for _, o := range objs {
			var err error
			switch o := o.(type) {
			case *corev1.Service:
				_, err = kube.CoreV1().Services("app").Create(ctx, o, metav1.CreateOptions{})
			case *discoveryv1.EndpointSlice:
				_, err = kube.DiscoveryV1().EndpointSlices("app").Create(ctx, o, metav1.CreateOptions{})
			}
			if err != nil {
				t.Fatal(err)
			}
		}
	}
	create(lbService("api", "10.10.0.2"), endpoints("api", "n1"))
	wantRoutes("a second Service's route", "10.10.0.1/32", "10.10.0.2/32")

	// A changed BGPPeer restarts its session, which starts from every
	// route the speaker announces, with its attributes.
	bp, err := mlb.MetallbV1beta2().BGPPeers(testNS).Get(ctx, "r", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	bp.Spec.HoldTime = &metav1.Duration{Duration: 30 * time.Second}
	if _, err := mlb.MetallbV1beta2().BGPPeers(testNS).Update(ctx, bp, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "a second session with both routes", func() bool {
		return router.sessions() == 2 && slices.Equal(router.routes(), []string{"10.10.0.1/32", "10.10.0.2/32"})
	})
	for _, p := range []string{"10.10.0.1/32", "10.10.0.2/32"} {
		if a, _ := router.attrs(p); !slices.Equal(a.Communities, []bgpwire.Community{bgpwire.NewCommunity(65535, 65282)}) {
			t.Errorf("after the session restarted, %s has communities %v, want no-advertise (65535:65282)", p, a.Communities)
		}
	}

	if err := kube.CoreV1().Services("app").Delete(ctx, "web", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	wantRoutes("the deleted Service's route withdrawn", "10.10.0.2/32")
	bgpStatus("the deleted Service's ServiceBGPStatus removed", "web")

	// A Service of another class and one without endpoints are not
	// announced.
	other := lbService("other", "10.10.0.3")
	other.Spec.LoadBalancerClass = ptr.To("example.com/other")
	create(other, endpoints("other", "n1"), lbService("idle", "10.10.0.4"))
	time.Sleep(200 * time.Millisecond)
	wantRoutes("nothing for another class or without endpoints", "10.10.0.2/32")

	// Cordoned: nothing announced, the session stays up.
	closes := router.notificationCount() // the restart's Cease
	n, _ := kube.CoreV1().Nodes().Get(ctx, "n1", metav1.GetOptions{})
	n.Spec.Unschedulable = true
	if _, err := kube.CoreV1().Nodes().Update(ctx, n, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	wantRoutes("every route withdrawn from a cordoned node")
	sessionState("BGPSessionState n1-r still Established, no prefix", func(st v1beta1.BGPSessionStateStatus) bool {
		return st.BGPState == "Established" && st.PrefixesIPv4 == 0
	})
	bgpStatus("no ServiceBGPStatus from a cordoned node", "api")
	eventually(t, "a StoppedAnnouncing Event on app/api", func() bool { return rec.has("app/api", ReasonStoppedAnnouncing, "node n1") })
	if router.notificationCount() != closes {
		t.Errorf("the session was closed on cordon")
	}
	n.Spec.Unschedulable = false
	if _, err := kube.CoreV1().Nodes().Update(ctx, n, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	wantRoutes("routes back after uncordon", "10.10.0.2/32")

	// Stopping: the withdrawal first, then Cease/Administrative Shutdown.
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the speaker did not stop")
	}
	done <- nil // for the cleanup
	wantRoutes("routes withdrawn before the session closed")
	eventually(t, "Cease/Administrative Shutdown", func() bool {
		n, ok := router.lastNotification()
		return ok && n.Code == bgpwire.CodeCease && n.Subcode == bgpwire.SubcodeAdministrativeShutdown
	})
	n2, _ := router.lastNotification()
	if reason, ok := n2.ShutdownReason(); !ok || !strings.Contains(reason, "stopping") {
		t.Errorf("shutdown communication %q", reason)
	}
}

// events keeps Events in memory.
type events struct {
	mu   sync.Mutex
	list []string // "ns/name reason message"
}

func (r *events) Event(obj runtime.Object, _, reason, message string) {
	key := "?"
	switch o := obj.(type) {
	case *corev1.Service:
		key = o.Namespace + "/" + o.Name
	case *corev1.ObjectReference:
		// What client-go's recorder makes of any object, as Events
		// about Services now pass it.
		if o.Kind == "Service" && o.APIVersion == "v1" {
			key = o.Namespace + "/" + o.Name
		}
	}
	r.mu.Lock()
	r.list = append(r.list, key+" "+reason+" "+message)
	r.mu.Unlock()
}

func (r *events) Eventf(obj runtime.Object, kind, reason, format string, args ...any) {
	r.Event(obj, kind, reason, fmt.Sprintf(format, args...))
}

func (r *events) AnnotatedEventf(obj runtime.Object, _ map[string]string, kind, reason, format string, args ...any) {
	r.Eventf(obj, kind, reason, format, args...)
}

func (r *events) has(object, reason, text string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, e := range r.list {
		if strings.HasPrefix(e, object+" "+reason+" ") && strings.Contains(e, text) {
			return true
		}
	}
	return false
}

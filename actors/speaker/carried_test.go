package speaker

import (
	"context"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	kubefake "k8s.io/client-go/kubernetes/fake"

	"github.com/heraldlb/herald/announce"
	mlbfake "github.com/heraldlb/herald/api/client/clientset/versioned/fake"
	"github.com/heraldlb/herald/api/v1beta1"
	"github.com/heraldlb/herald/api/v1beta2"
	"github.com/heraldlb/herald/internal/testlog"
)

func TestCarriedCheck(t *testing.T) {
	v4, v6 := netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("fd00::1")
	k := announce.ServiceKey{Namespace: "app", Name: "web"}
	cc := newCarriedCheck()
	if msg, say := cc.check("n1", k, []netip.Addr{v4, v6}, []string{"r"}); say {
		t.Errorf("a session not up yet: said %q, want nothing (its families are not known)", msg)
	}
	cc.sessions["r"] = sessionCarries{peer: "r", ipv4: true}
	cc.sessions["r2"] = sessionCarries{peer: "r2", ipv4: true}
	cc.sessions["r-v6"] = sessionCarries{peer: "r-v6", ipv6: true}
	cc.sessions["both"] = sessionCarries{peer: "both", ipv4: true, ipv6: true}
	for _, tc := range []struct {
		name  string
		ips   []netip.Addr
		peers []string
		want  string // a part of the message; "" for none said
	}{
		{"IPv4 over IPv4", []netip.Addr{v4}, []string{"r"}, ""},
		{"IPv6 over IPv4 only", []netip.Addr{v4, v6}, []string{"r"}, "node n1 cannot announce fd00::1 to BGPPeer r: "},
		{"said once", []netip.Addr{v4, v6}, []string{"r"}, ""},
		{"another session carries it: nothing said", []netip.Addr{v4, v6}, []string{"r", "both"}, ""},
		{"a session per family: nothing said", []netip.Addr{v4, v6}, []string{"r", "r-v6"}, ""},
		{"IPv4 to the IPv6 session of a pair: nothing said", []netip.Addr{v4}, []string{"r", "r-v6"}, ""},
		{"a session never up may carry it: nothing said", []netip.Addr{v6}, []string{"r", "down"}, ""},
		{"none of several carries it", []netip.Addr{v4, v6}, []string{"r", "r2"}, "cannot announce fd00::1 to BGPPeers r, r2: "},
		{"IPv4 to an IPv6 session alone", []netip.Addr{v4}, []string{"r-v6"}, "cannot announce 10.0.0.1 to BGPPeer r-v6: "},
		{"gone", nil, nil, ""},
	} {
		msg, say := cc.check("n1", k, tc.ips, tc.peers)
		if say != (tc.want != "") || !strings.Contains(msg, tc.want) {
			t.Errorf("%s: said %v %q, want %q", tc.name, say, msg, tc.want)
		}
	}
	if len(cc.failed) != 0 {
		t.Errorf("a gone Service's failure is kept: %v", cc.failed)
	}
}

// startDualStackSpeaker runs node n1's speaker with web and its endpoint
// on n1, a dual-stack pool and one IPv4 session (no
// dualStackAddressFamily) to router.
func startDualStackSpeaker(t *testing.T, router *testRouter, web *corev1.Service) (*kubefake.Clientset, *events) {
	t.Helper()
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1"},
		Status: corev1.NodeStatus{Addresses: []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "192.0.2.10"}}}}
	kube := kubefake.NewClientset(node, web, endpoints("web", "n1"))
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
	return kube, rec
}

// A dual-stack Service announced to an IPv4 session that carries no IPv6
// (no dualStackAddressFamily): its IPv4 route reaches the router, and a
// Warning Event says its IPv6 route cannot, instead of the ServiceBGPStatus
// listing the peer in silence.
func TestRouteTheSessionCannotCarryIsAnEvent(t *testing.T) {
	router := startTestRouter(t, 64513)
	web := lbService("web", "10.10.0.1")
	web.Status.LoadBalancer.Ingress = append(web.Status.LoadBalancer.Ingress, corev1.LoadBalancerIngress{IP: "fd00:10::1"})
	_, rec := startDualStackSpeaker(t, router, web)
	eventually(t, "the AnnouncementFailed Event", func() bool {
		return rec.has("app/web", ReasonAnnouncementFailed, "node n1 cannot announce fd00:10::1 to BGPPeer r")
	})
	if got := router.routes(); len(got) != 1 || got[0] != "10.10.0.1/32" {
		t.Errorf("the router has %v, want the IPv4 route alone", got)
	}
}

// A Service announced over an IPv4-only session gains an IPv6 IP: the set
// of peers it is announced to does not change, but its routes do, and the
// new one cannot go out: the planner checks Services whose routes changed,
// not only those whose peers did.
func TestIPAddedToAnAnnouncedServiceIsChecked(t *testing.T) {
	router := startTestRouter(t, 64513)
	kube, rec := startDualStackSpeaker(t, router, lbService("web", "10.10.0.1"))
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

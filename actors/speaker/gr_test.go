package speaker

import (
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	kubefake "k8s.io/client-go/kubernetes/fake"

	mlbfake "github.com/heraldlb/herald/api/client/clientset/versioned/fake"
	"github.com/heraldlb/herald/api/v1beta1"
	"github.com/heraldlb/herald/api/v1beta2"
	"github.com/heraldlb/herald/internal/testlog"
)

// startGRSpeaker runs a speaker of node n1 with n Services announced to
// router over one graceful-restart session, as a speaker process starting
// (or restarting) with its Services already in the API.
func startGRSpeaker(t *testing.T, router *testRouter, n int) {
	t.Helper()
	objs := []runtime.Object{&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1"},
		Status: corev1.NodeStatus{Addresses: []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "192.0.2.10"}}}}}
	for i := range n {
		name := fmt.Sprintf("s%d", i)
		objs = append(objs, lbService(name, fmt.Sprintf("10.10.%d.%d", i/250, i%250+1)), endpoints(name, "n1"))
	}
	mlb := mlbfake.NewSimpleClientset(
		&v1beta1.IPAddressPool{ObjectMeta: metav1.ObjectMeta{Namespace: testNS, Name: "p"},
			Spec: v1beta1.IPAddressPoolSpec{Addresses: []string{"10.10.0.0/16"}}},
		&v1beta2.BGPPeer{ObjectMeta: metav1.ObjectMeta{Namespace: testNS, Name: "r"},
			Spec: v1beta2.BGPPeerSpec{MyASN: 64512, ASN: 64513, Address: "127.0.0.1", Port: router.port(), EnableGracefulRestart: true}},
		&v1beta1.BGPAdvertisement{ObjectMeta: metav1.ObjectMeta{Namespace: testNS, Name: "adv"}},
	)
	runSpeaker(t, Options{Kube: kubefake.NewClientset(objs...), Metallb: mlb, Registry: prometheus.NewRegistry(), NodeName: "n1",
		NoL2: true, LivenessPort: -1, Namespace: testNS, BackoffInitial: 10 * time.Millisecond, BackoffMax: 100 * time.Millisecond,
		Logger: testlog.New(t)})
}

// A starting speaker's End-of-RIB follows its whole table: a router that
// kept this node's routes through a graceful restart drops, at End-of-RIB,
// every one not announced again by then (RFC 4724, 4.2). With the
// sessions opened at the configuration, before the planner had read the
// Services, End-of-RIB went out with none or a few of them.
func TestEndOfRIBFollowsTheWholeTable(t *testing.T) {
	const n = 1000
	router := startTestRouter(t, 64513)
	startGRSpeaker(t, router, n)
	eventually(t, "every route", func() bool { return len(router.routes()) == n })
	router.mu.Lock()
	defer router.mu.Unlock()
	if len(router.ribAtEoR) == 0 || router.ribAtEoR[0] != n {
		t.Errorf("End-of-RIB came when the router had %v of the %d routes", router.ribAtEoR, n)
	}
}

// A speaker process's first OPEN carries the Restart State bit: the
// process has just (re)started, and says so (RFC 4724, 3).
func TestFirstOpenOfTheProcessSaysRestarted(t *testing.T) {
	router := startTestRouter(t, 64513)
	startGRSpeaker(t, router, 1)
	eventually(t, "a session", func() bool { return router.sessions() >= 1 })
	router.mu.Lock()
	defer router.mu.Unlock()
	if !router.restartBits[0] {
		t.Errorf("the first OPEN of the process has the Restart State bit clear")
	}
}

package speaker

import (
	"context"
	"net"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	kubefake "k8s.io/client-go/kubernetes/fake"

	mlbfake "github.com/heraldlb/herald/api/client/clientset/versioned/fake"
	"github.com/heraldlb/herald/api/v1beta1"
	"github.com/heraldlb/herald/api/v1beta2"
	"github.com/heraldlb/herald/bgpwire/peer"
	"github.com/heraldlb/herald/internal/testlog"
)

// startWebSpeaker runs a speaker of node n1 announcing app/web
// (10.10.0.1) to router over the BGPPeer r; bgpNet is its BGP network
// (nil: the default, no listener), more are metallb.io objects the API
// holds besides the configuration.
func startWebSpeaker(t *testing.T, router *testRouter, bgpNet func(*testing.T) *BGPNet, more ...runtime.Object) (*Speaker, *kubefake.Clientset, *mlbfake.Clientset) {
	t.Helper()
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1"},
		Status: corev1.NodeStatus{Addresses: []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "192.0.2.10"}}}}
	kube := kubefake.NewClientset(node, lbService("web", "10.10.0.1"), endpoints("web", "n1"))
	mlb := mlbfake.NewSimpleClientset(
		&v1beta1.IPAddressPool{ObjectMeta: metav1.ObjectMeta{Namespace: testNS, Name: "p"},
			Spec: v1beta1.IPAddressPoolSpec{Addresses: []string{"10.10.0.0/24"}}},
		&v1beta2.BGPPeer{ObjectMeta: metav1.ObjectMeta{Namespace: testNS, Name: "r"},
			Spec: v1beta2.BGPPeerSpec{MyASN: 64512, ASN: 64513, Address: "127.0.0.1", Port: router.port()}},
		&v1beta1.BGPAdvertisement{ObjectMeta: metav1.ObjectMeta{Namespace: testNS, Name: "adv"}},
	)
	for _, o := range more {
		if err := mlb.Tracker().Add(o); err != nil {
			t.Fatal(err)
		}
	}
	opts := Options{Kube: kube, Metallb: mlb, Registry: prometheus.NewRegistry(), NodeName: "n1", NoL2: true, LivenessPort: -1,
		Namespace: testNS, BackoffInitial: 10 * time.Millisecond, BackoffMax: 100 * time.Millisecond, Logger: testlog.New(t)}
	if bgpNet != nil {
		opts.Net = bgpNet(t)
	}
	s := runSpeaker(t, opts)
	eventually(t, "web's route", func() bool { return slices.Equal(router.routes(), []string{"10.10.0.1/32"}) })
	return s, kube, mlb
}

// A BGPPeer change that restarts the session, on a speaker that listens
// for BGP: the new session's actor registers the peer's address with the
// listener, which the old one holds until it is gone. Started at once, the
// new one was refused (a duplicate registration) and the session never
// came back.
func TestPeerChangeWithAListener(t *testing.T) {
	router := startTestRouter(t, 64513)
	_, _, mlb := startWebSpeaker(t, router, func(t *testing.T) *BGPNet {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := uint16(l.Addr().(*net.TCPAddr).Port)
		l.Close()
		return NewBGPNet(port, testlog.New(t))
	})
	ctx := context.Background()
	for i := 1; i <= 3; i++ {
		bp, err := mlb.MetallbV1beta2().BGPPeers(testNS).Get(ctx, "r", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		bp.Spec.HoldTime = &metav1.Duration{Duration: time.Duration(30+i) * time.Second}
		if _, err := mlb.MetallbV1beta2().BGPPeers(testNS).Update(ctx, bp, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		eventually(t, "the session back after the change", func() bool {
			return router.sessions() == i+1 && slices.Equal(router.routes(), []string{"10.10.0.1/32"})
		})
	}
}

// A session's actor that fails starts again with the routes in force, not
// those it was first given: protoactor's restart calls the producer again,
// whose closure held the routes of the first spawn.
func TestFailedSessionActorStartsFromTheRoutesInForce(t *testing.T) {
	router := startTestRouter(t, 64513)
	s, kube, _ := startWebSpeaker(t, router, nil)
	ctx := context.Background()
	if err := kube.CoreV1().Services("app").Delete(ctx, "web", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := kube.CoreV1().Services("app").Create(ctx, lbService("api", "10.10.0.2"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := kube.DiscoveryV1().EndpointSlices("app").Create(ctx, endpoints("api", "n1"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "api's route only", func() bool { return slices.Equal(router.routes(), []string{"10.10.0.2/32"}) })

	// A panic in the session's actor: a nil connection handed to it.
	s.system.Root.Send(s.system.NewLocalPID("speaker/peers/$1"), acceptedConn{})
	eventually(t, "a second session", func() bool { return router.sessions() == 2 })
	eventually(t, "api's route on it", func() bool { return slices.Equal(router.routes(), []string{"10.10.0.2/32"}) })
	time.Sleep(200 * time.Millisecond) // a stale route of web would come with the table
	if got := router.routes(); !slices.Equal(got, []string{"10.10.0.2/32"}) {
		t.Errorf("after the session's actor failed the router has %v, want [10.10.0.2/32]", got)
	}
}

// A session that is draining (the speaker stops) announces nothing more: a
// Service event between the withdrawal and the Cease would otherwise put a
// route back at the router just before the session closes.
func TestDrainingSessionAnnouncesNothingMore(t *testing.T) {
	router := startTestRouter(t, 64513)
	s, _, _ := startWebSpeaker(t, router, nil)
	session := s.system.NewLocalPID("speaker/peers/$1")
	reply := s.system.Root.Spawn(actor.PropsFromFunc(func(actor.Context) {}))
	s.system.Root.Send(session, drainPeer{reply: reply})
	s.system.Root.Send(session, changeRoutes{routes: []peer.Route{{Prefix: netip.MustParsePrefix("10.10.0.2/32")}}})
	eventually(t, "the Cease", func() bool { return router.notificationCount() == 1 })
	if got := router.routes(); len(got) != 0 {
		t.Errorf("the router holds %v after the drain, want nothing", got)
	}
}

// A speaker that starts deletes the BGPSessionStates of its node that no
// planned session writes: one of a BGPPeer deleted while no speaker ran
// here (a stopping speaker keeps its objects for the next), and one of an
// earlier name. Another node's stay.
func TestStartingSpeakerDropsStaleSessionStates(t *testing.T) {
	state := func(name, node, peer string) *v1beta1.BGPSessionState {
		return &v1beta1.BGPSessionState{ObjectMeta: metav1.ObjectMeta{Namespace: testNS, Name: name,
			Labels: map[string]string{LabelNode: node, LabelPeer: peer}},
			Status: v1beta1.BGPSessionStateStatus{Node: node, Peer: peer, BGPState: "Established"}}
	}
	router := startTestRouter(t, 64513)
	_, _, mlb := startWebSpeaker(t, router, nil,
		state(sessionStateName("n1", "gone"), "n1", "gone"),
		state("n1-r", "n1", "r"),
		state(sessionStateName("n2", "gone"), "n2", "gone"))
	names := func() []string {
		l, err := mlb.MetallbV1beta1().BGPSessionStates(testNS).List(context.Background(), metav1.ListOptions{})
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
	want := []string{sessionStateName("n1", "r"), sessionStateName("n2", "gone")}
	slices.Sort(want)
	eventually(t, "only the planned session's and n2's BGPSessionStates", func() bool { return slices.Equal(names(), want) })
}

// A connection reported drained while its session has since queued more
// (the withdrawals held while it was blocked) is not drained: closing it
// would drop them.
func TestDrainWaitsForWhatWasQueuedAfterTheQueuesEmptied(t *testing.T) {
	bc := &bgpConn{id: 1, bulk: []outgoing{{b: []byte("withdrawals")}}}
	bc.wake = sync.NewCond(&bc.mu)
	a := &peerActor{drain: &drainSession{waiting: map[peer.ConnID]bool{1: true}}, conns: map[peer.ConnID]*bgpConn{1: bc}}
	a.drainedConn(nil, 1)
	if !a.drain.waiting[1] {
		t.Errorf("the connection counts as drained with a write queued")
	}
	if !bc.watchDrain {
		t.Errorf("no new connDrained asked for")
	}
}

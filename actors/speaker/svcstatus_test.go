package speaker

import (
	"context"
	"errors"
	"log/slog"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	kubefake "k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	"k8s.io/utils/clock"

	"github.com/heraldlb/herald/actors"
	"github.com/heraldlb/herald/announce"
	mlbfake "github.com/heraldlb/herald/api/client/clientset/versioned/fake"
	"github.com/heraldlb/herald/api/v1beta1"
	"github.com/heraldlb/herald/api/v1beta2"
	"github.com/heraldlb/herald/internal/testlog"
)

// A speaker that starts where one ran before reads its node's
// ServiceBGPStatus objects from the API (not a cache; page by page,
// retrying a failed list): the one it still wants stays and raises no new
// Announcing Event, the stale ones go (also one whose status was never
// written, on the second page), another node's are not its business, and
// a Service announced afterwards gets its object and its Event as usual.
func TestStatusObjectsOfAPreviousRun(t *testing.T) {
	router := startTestRouter(t, 64513)
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1"},
		Status: corev1.NodeStatus{Addresses: []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "192.0.2.10"}}}}
	kube := kubefake.NewClientset(node, lbService("web", "10.10.0.1"), endpoints("web", "n1"))
	status := func(svc, onNode string, peers ...string) *v1beta1.ServiceBGPStatus {
		o := &v1beta1.ServiceBGPStatus{ObjectMeta: metav1.ObjectMeta{Namespace: testNS, Name: "app." + svc + "." + onNode,
			Labels: map[string]string{LabelNode: onNode, LabelServiceName: svc, LabelServiceNamespace: "app"}}}
		if peers != nil {
			o.Status = v1beta1.ServiceBGPStatusStatus{Node: onNode, ServiceName: svc, ServiceNamespace: "app", Peers: peers}
		}
		return o
	}
	// web's object also under the dash-joined name of an earlier
	// version: no write reaches it, so it goes.
	earlier := status("web", "n1", "r")
	earlier.Name = "app-web-n1"
	mlb := mlbfake.NewSimpleClientset(
		&v1beta1.IPAddressPool{ObjectMeta: metav1.ObjectMeta{Namespace: testNS, Name: "p"},
			Spec: v1beta1.IPAddressPoolSpec{Addresses: []string{"10.10.0.0/24"}}},
		&v1beta2.BGPPeer{ObjectMeta: metav1.ObjectMeta{Namespace: testNS, Name: "r"},
			Spec: v1beta2.BGPPeerSpec{MyASN: 64512, ASN: 64513, Address: "127.0.0.1", Port: router.port()}},
		&v1beta1.BGPAdvertisement{ObjectMeta: metav1.ObjectMeta{Namespace: testNS, Name: "adv"}},
		status("web", "n1", "r"), status("gone", "n1", "r"), status("unwritten", "n1"), status("gone", "n2", "r"), earlier,
	)
	// The speaker's lists: the first fails, then two pages, the second
	// holding the object without a status.
	var lists atomic.Int32
	mlb.PrependReactor("list", "servicebgpstatuses", func(a k8stesting.Action) (bool, runtime.Object, error) {
		la := a.(k8stesting.ListActionImpl)
		if la.ListRestrictions.Labels.Empty() {
			return false, nil, nil // the test's own
		}
		if !la.ListRestrictions.Labels.Matches(labels.Set{LabelNode: "n1"}) || la.ListRestrictions.Labels.Matches(labels.Set{LabelNode: "n2"}) {
			t.Errorf("the speaker listed with selector %q, want its own node's objects", la.ListRestrictions.Labels)
		}
		if lists.Add(1) == 1 {
			return true, nil, apierrors.NewServiceUnavailable("the API server is starting")
		}
		if la.ListOptions.Continue == "" {
			return true, &v1beta1.ServiceBGPStatusList{ListMeta: metav1.ListMeta{Continue: "page2"},
				Items: []v1beta1.ServiceBGPStatus{*status("web", "n1", "r"), *status("gone", "n1", "r")}}, nil
		}
		return true, &v1beta1.ServiceBGPStatusList{Items: []v1beta1.ServiceBGPStatus{*status("unwritten", "n1"), *earlier}}, nil
	})
	rec := &events{}
	runSpeaker(t, Options{Kube: kube, Metallb: mlb, Registry: prometheus.NewRegistry(), NodeName: "n1", Recorder: rec, NoL2: true, LivenessPort: -1,
		Namespace: testNS, BackoffInitial: 10 * time.Millisecond, BackoffMax: 100 * time.Millisecond, Logger: testlog.New(t)})
	ctx := context.Background()

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
		return slices.Equal(names(), []string{"app.gone.n2", "app.web.n1"})
	})
	if n := lists.Load(); n != 3 {
		t.Errorf("%d list requests, want the failed one and the retry's two pages", n)
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
		st, err := mlb.MetallbV1beta1().ServiceBGPStatuses(testNS).Get(ctx, "app.api.n1", metav1.GetOptions{})
		return err == nil && slices.Equal(st.Status.Peers, []string{"r"})
	})
	if rec.has("app/web", ReasonAnnouncing, "") {
		t.Errorf("an Announcing Event for app/web, which the API already showed announced by n1")
	}
}

// A status actor restarted while its previous term's write was in flight:
// the write's answer comes before the new term's list, which was read
// before the write reached the API. The object it created is known all
// the same, and goes once nobody wants it.
func TestStatusActorKeepsAPreviousTermsWrite(t *testing.T) {
	mlb := mlbfake.NewSimpleClientset()
	release := make(chan struct{})
	mlb.PrependReactor("list", "servicebgpstatuses", func(k8stesting.Action) (bool, runtime.Object, error) {
		<-release // read now, answered later
		return true, &v1beta1.ServiceBGPStatusList{}, nil
	})
	var deleted atomic.Value
	mlb.PrependReactor("delete", "servicebgpstatuses", func(a k8stesting.Action) (bool, runtime.Object, error) {
		deleted.Store(a.(k8stesting.DeleteAction).GetName())
		return true, nil, nil
	})
	e, system, log := statusTestEnv(t, mlb)
	pid := system.Root.Spawn(actors.NewProps(log, "bgpstatus", func() actor.Actor { return newStatusActor(e, bgpStatusKind) }))
	defer system.Root.Stop(pid)

	web := announce.ServiceKey{Namespace: "app", Name: "web"}
	// Mailboxes are FIFO: the write's answer is in before the list's,
	// which is sent only once the list is released.
	system.Root.Send(pid, statusWrote{key: web, names: []string{"r"}})
	close(release)
	system.Root.Send(pid, planned{})
	eventually(t, "app.web.n1 deleted", func() bool { return deleted.Load() == "app.web.n1" })
}

// A status actor restarted on its own (its siblings run on) asks the
// planner for what it lost: the planner answers with what it last told
// that kind's actor of each Service announced now, then planned. So the
// object still wanted stays, with no new Event, and the stale one goes,
// as after a whole speaker's restart.
func TestRestartedStatusActorAsksThePlanner(t *testing.T) {
	web := announce.ServiceKey{Namespace: "app", Name: "web"}
	gone := announce.ServiceKey{Namespace: "app", Name: "gone"}
	v4 := netip.MustParseAddr

	// The planner's side, with web announced to r over BGP and on eth0
	// over L2.
	ips := fakeServiceIPs{}
	pa := &plannerActor{ann: newAnnouncements(ips), l2Shown: map[announce.ServiceKey][]string{web: {"eth0"}}}
	ips.set(web, []netip.Addr{v4("10.10.0.1")})
	pa.ann.changed(pa.ann.routes(announce.RouteChanges{Peer: "r", Added: []announce.Route{{Prefix: netip.MustParsePrefix("10.10.0.1/32")}}}))
	for _, tc := range []struct {
		l2   bool
		want []string
	}{{false, []string{"r"}}, {true, []string{"eth0"}}} {
		got := pa.announcedNow(tc.l2)
		if len(got) != 1 || got[0].key != web || !slices.Equal(got[0].names, tc.want) {
			t.Errorf("announcedNow(l2=%v) = %+v, want web with %v", tc.l2, got, tc.want)
		}
	}

	mlb := mlbfake.NewSimpleClientset()
	obj := func(k announce.ServiceKey) v1beta1.ServiceBGPStatus {
		return v1beta1.ServiceBGPStatus{ObjectMeta: metav1.ObjectMeta{Namespace: testNS, Name: serviceStatusName(k, "n1"),
			Labels: map[string]string{LabelNode: "n1", LabelServiceName: k.Name, LabelServiceNamespace: k.Namespace}},
			Status: v1beta1.ServiceBGPStatusStatus{Node: "n1", ServiceName: k.Name, ServiceNamespace: k.Namespace, Peers: []string{"r"}}}
	}
	listed := make(chan struct{})
	var listOnce sync.Once
	mlb.PrependReactor("list", "servicebgpstatuses", func(k8stesting.Action) (bool, runtime.Object, error) {
		listOnce.Do(func() { close(listed) })
		return true, &v1beta1.ServiceBGPStatusList{Items: []v1beta1.ServiceBGPStatus{obj(web), obj(gone)}}, nil
	})
	var writes []string
	var mu sync.Mutex
	for _, verb := range []string{"create", "update", "delete"} {
		mlb.PrependReactor(verb, "servicebgpstatuses", func(a k8stesting.Action) (bool, runtime.Object, error) {
			mu.Lock()
			defer mu.Unlock()
			name := ""
			if d, ok := a.(k8stesting.DeleteAction); ok {
				name = d.GetName()
			}
			writes = append(writes, a.GetVerb()+" "+name)
			return true, nil, nil
		})
	}
	asked := make(chan resendAnnounced, 1)
	rec := &events{}
	e, system, log := statusTestEnv(t, mlb)
	e.recorder = rec
	// The planner's own answer (plannerActor.resendAnnounced), given once
	// the status actor has read the API: so a planned left over from the
	// previous term, if it counted, would have the status actor delete
	// app.web.n1 before it learns that web is still announced.
	var target atomic.Pointer[actor.PID]
	pa.e, pa.ready = &env{}, true
	e.planner = system.Root.Spawn(actor.PropsFromFunc(func(c actor.Context) {
		if m, ok := c.Message().(resendAnnounced); ok {
			select {
			case asked <- m:
			default:
				t.Errorf("the planner was asked again: %+v", m)
			}
			<-listed
			time.Sleep(200 * time.Millisecond)
			pa.e.bgpStatus = target.Load()
			pa.resendAnnounced(c, m.l2)
		}
	}))
	defer system.Root.Stop(e.planner)
	// A restarted term of the status actor. (A first term asks nothing:
	// the planner sends everything on its own then.) Its mailbox holds a
	// planned the previous term did not get to.
	pid := system.Root.Spawn(actors.NewProps(log, "bgpstatus", func() actor.Actor {
		sa := newStatusActor(e, bgpStatusKind)
		sa.(*statusActor).restarted = true
		return selfRecorder{Actor: sa, self: &target, leftover: planned{}}
	}))
	defer system.Root.Stop(pid)

	select {
	case m := <-asked:
		if m.l2 {
			t.Errorf("the ServiceBGPStatus actor asked for the L2 record")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the restarted status actor did not ask the planner")
	}
	eventually(t, "app.gone.n1 deleted", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return slices.Contains(writes, "delete app.gone.n1")
	})
	time.Sleep(100 * time.Millisecond) // a wrong write of web would follow the delete at once
	mu.Lock()
	defer mu.Unlock()
	if !slices.Equal(writes, []string{"delete app.gone.n1"}) {
		t.Errorf("writes %q, want only the stale object's deletion: app.web.n1 already says r", writes)
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if len(rec.list) != 0 {
		t.Errorf("Events %q, want none: nothing changed for either Service", rec.list)
	}
}

// selfRecorder tells a test an actor's PID before the actor's own Started
// runs, so that whoever it sends to there can answer it; a leftover
// message is put in its mailbox first, as if a previous term had left it.
type selfRecorder struct {
	actor.Actor
	self     *atomic.Pointer[actor.PID]
	leftover any
}

func (r selfRecorder) Receive(c actor.Context) {
	if _, ok := c.Message().(*actor.Started); ok {
		r.self.Store(c.Self())
		if r.leftover != nil {
			c.Send(c.Self(), r.leftover)
		}
	}
	r.Actor.Receive(c)
}

// A planner that has no configuration yet answers no resendAnnounced:
// loadAll sends everything, and planned, once it has one.
func TestPlannerAnswersResendOnlyOncePlanned(t *testing.T) {
	log := testlog.New(t)
	system := actors.NewSystem(log)
	got := make(chan any, 10)
	probe := system.Root.Spawn(actor.PropsFromFunc(func(c actor.Context) {
		switch m := c.Message().(type) {
		case serviceAnnounced, planned:
			got <- m
		}
	}))
	wrong := system.Root.Spawn(actor.PropsFromFunc(func(c actor.Context) {
		switch m := c.Message().(type) {
		case serviceAnnounced, planned:
			t.Errorf("the ServiceBGPStatus actor got %+v, an answer for the L2 one", m)
		}
	}))
	web := announce.ServiceKey{Namespace: "app", Name: "web"}
	pa := &plannerActor{e: &env{bgpStatus: wrong, l2Status: probe}, ann: newAnnouncements(fakeServiceIPs{}),
		l2Shown: map[announce.ServiceKey][]string{web: {"eth0"}}}
	run := func(l2 bool) {
		done := make(chan struct{})
		system.Root.Spawn(actor.PropsFromFunc(func(c actor.Context) {
			if _, ok := c.Message().(*actor.Started); ok {
				pa.resendAnnounced(c, l2)
				close(done)
			}
		}))
		<-done
	}
	run(true)
	select {
	case m := <-got:
		t.Fatalf("a planner without configuration answered %+v", m)
	case <-time.After(200 * time.Millisecond):
	}
	pa.ready = true
	run(true)
	for _, want := range []any{serviceAnnounced{key: web, names: []string{"eth0"}}, planned{}} {
		select {
		case m := <-got:
			if d := cmp.Diff(want, m, cmp.AllowUnexported(serviceAnnounced{})); d != "" {
				t.Errorf("answer (-want +got):\n%s", d)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("no %T in the answer", want)
		}
	}
}

// statusTestEnv is the environment of a status actor run alone, on node n1,
// writing through mlb, with a real clock and short backoffs.
func statusTestEnv(t *testing.T, mlb *mlbfake.Clientset) (*env, *actor.ActorSystem, *slog.Logger) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	log := testlog.New(t)
	system := actors.NewSystem(log)
	m, err := NewMetrics(prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	return &env{Runtime: &actors.Runtime{Log: log, Ctx: ctx, Root: system.Root, Clock: clock.RealClock{},
		BackoffInitial: 10 * time.Millisecond, BackoffMax: 100 * time.Millisecond},
		mlb: mlb, metrics: m, namespace: testNS, node: "n1"}, system, log
}

// A write that failed may have done part of its work: here the Create
// went through and the status update did not. When the Service then stops
// being announced, the object must go although the wish (none) equals
// what the actor last knew the API to hold (none): a failed write leaves
// the object unknown, and its next write goes out.
func TestFailedWriteLeavesNoOrphan(t *testing.T) {
	mlb := mlbfake.NewSimpleClientset()
	updating, release := make(chan struct{}), make(chan struct{})
	var updates atomic.Int32
	mlb.PrependReactor("update", "servicebgpstatuses", func(a k8stesting.Action) (bool, runtime.Object, error) {
		if a.GetSubresource() == "status" && updates.Add(1) == 1 {
			close(updating)
			<-release
			return true, nil, errors.New("http2: client connection lost")
		}
		return false, nil, nil
	})
	e, system, log := statusTestEnv(t, mlb)
	pid := system.Root.Spawn(actors.NewProps(log, "bgpstatus", func() actor.Actor { return newStatusActor(e, bgpStatusKind) }))
	defer system.Root.Stop(pid)
	web := announce.ServiceKey{Namespace: "app", Name: "web"}
	system.Root.Send(pid, planned{})
	system.Root.Send(pid, serviceAnnounced{key: web, names: []string{"r"}})
	<-updating
	system.Root.Send(pid, serviceAnnounced{key: web}) // no longer announced
	close(release)
	eventually(t, "app.web.n1 gone", func() bool {
		_, err := mlb.MetallbV1beta1().ServiceBGPStatuses(testNS).Get(context.Background(), serviceStatusName(web, "n1"), metav1.GetOptions{})
		return apierrors.IsNotFound(err)
	})
}

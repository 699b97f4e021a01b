package controller

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	kubefake "k8s.io/client-go/kubernetes/fake"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	k8stesting "k8s.io/client-go/testing"

	mlbfake "github.com/heraldlb/herald/api/client/clientset/versioned/fake"
	"github.com/heraldlb/herald/api/v1beta1"
	"github.com/heraldlb/herald/informers"
	"github.com/heraldlb/herald/internal/testlog"
)

const testNS = "metallb-system"

// recorder keeps Events in memory; client-go's FakeRecorder blocks when its
// channel is full, which would block an actor.
type recorder struct {
	mu     sync.Mutex
	events []event
}

type event struct{ object, kind, reason, message string }

func (r *recorder) Event(obj runtime.Object, kind, reason, message string) {
	key := "?"
	if s, ok := obj.(*corev1.Service); ok {
		key = s.Namespace + "/" + s.Name
	}
	r.mu.Lock()
	r.events = append(r.events, event{key, kind, reason, message})
	r.mu.Unlock()
}

func (r *recorder) Eventf(obj runtime.Object, kind, reason, format string, args ...any) {
	r.Event(obj, kind, reason, fmt.Sprintf(format, args...))
}

func (r *recorder) AnnotatedEventf(obj runtime.Object, _ map[string]string, kind, reason, format string, args ...any) {
	r.Eventf(obj, kind, reason, format, args...)
}

// find returns the first Event on object with reason whose message contains
// text.
func (r *recorder) find(object, reason, text string) (event, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, e := range r.events {
		if e.object == object && e.reason == reason && strings.Contains(e.message, text) {
			return e, true
		}
	}
	return event{}, false
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

type fixture struct {
	kube *kubefake.Clientset
	mlb  *mlbfake.Clientset
	rec  *recorder
}

func newFixture(objs ...runtime.Object) *fixture {
	var kubeObjs, mlbObjs []runtime.Object
	kubeObjs = append(kubeObjs, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "default"}})
	for _, o := range objs {
		switch o.(type) {
		case *v1beta1.IPAddressPool, *v1beta1.L2Advertisement:
			mlbObjs = append(mlbObjs, o)
		default:
			kubeObjs = append(kubeObjs, o)
		}
	}
	f := &fixture{kube: kubefake.NewClientset(kubeObjs...), mlb: mlbfake.NewSimpleClientset(mlbObjs...), rec: &recorder{}}
	f.kube.PrependWatchReactor("*", copyingWatch(f.kube.Tracker(), nil))
	f.mlb.PrependWatchReactor("*", copyingWatch(f.mlb.Tracker(), nil))
	return f
}

// copyingWatch is the fakes' watch with every event's object deep-copied,
// optionally held back by gate. The fake tracker hands a new watch the very
// objects it stores when they changed between the reflector's List and
// Watch, and informers.Transform slims what it is given in place (allowed
// with a real API server, whose objects are freshly decoded): without the
// copy, a test reading the fake races with the informer.
func copyingWatch(tracker k8stesting.ObjectTracker, gate *serviceGate) k8stesting.WatchReactionFunc {
	return func(a k8stesting.Action) (bool, watch.Interface, error) {
		var opts metav1.ListOptions
		if w, ok := a.(k8stesting.WatchActionImpl); ok {
			opts = w.ListOptions
		}
		inner, err := tracker.Watch(a.GetResource(), a.GetNamespace(), opts)
		if err != nil {
			return true, nil, err
		}
		ch := make(chan watch.Event)
		out := watch.NewProxyWatcher(ch)
		go func() {
			defer inner.Stop()
			defer close(ch)
			for {
				select {
				case ev, ok := <-inner.ResultChan():
					if !ok {
						return
					}
					if ev.Object != nil {
						ev.Object = ev.Object.DeepCopyObject()
					}
					if gate != nil {
						gate.wait()
					}
					select {
					case ch <- ev:
					case <-out.StopChan():
						return
					}
				case <-out.StopChan():
					return
				}
			}
		}()
		return true, out, nil
	}
}

// start runs one controller replica until the test ends or stop is called.
func (f *fixture) start(t *testing.T, identity string, mod func(*Options)) (c *Controller, stop func()) {
	t.Helper()
	opts := Options{
		Kube: f.kube, Metallb: f.mlb, Recorder: f.rec, Registry: prometheus.NewRegistry(),
		Logger:   testlog.New(t).With("replica", identity),
		Identity: identity, Namespace: testNS,
		LeaseDuration: time.Second, RenewDeadline: 600 * time.Millisecond, RetryPeriod: 100 * time.Millisecond,
		BackoffInitial: 10 * time.Millisecond, BackoffMax: 200 * time.Millisecond,
	}
	if mod != nil {
		mod(&opts)
	}
	c, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil && ctx.Err() == nil {
					t.Errorf("Run: %v", err)
				}
			case <-time.After(15 * time.Second):
				t.Errorf("controller %s did not stop", identity)
			}
		})
	}
	t.Cleanup(stop)
	return c, stop
}

func pool(name string, addrs ...string) *v1beta1.IPAddressPool {
	return &v1beta1.IPAddressPool{ObjectMeta: metav1.ObjectMeta{Namespace: testNS, Name: name}, Spec: v1beta1.IPAddressPoolSpec{Addresses: addrs}}
}

func lbService(name string, mod func(*corev1.Service)) *corev1.Service {
	s := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name, UID: types.UID("uid-" + name),
			CreationTimestamp: metav1.NewTime(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))},
		Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer, Ports: []corev1.ServicePort{{Protocol: corev1.ProtocolTCP, Port: 80}}},
	}
	if mod != nil {
		mod(s)
	}
	return s
}

func (f *fixture) service(t *testing.T, name string) *corev1.Service {
	t.Helper()
	s, err := f.kube.CoreV1().Services("default").Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func ingress(s *corev1.Service) string {
	var ips []string
	for _, i := range s.Status.LoadBalancer.Ingress {
		ips = append(ips, i.IP)
	}
	return strings.Join(ips, ",")
}

func (f *fixture) waitIngress(t *testing.T, name, want string) {
	t.Helper()
	eventually(t, name+" ingress "+want, func() bool { return ingress(f.service(t, name)) == want })
}

func (f *fixture) statusWrites() int {
	n := 0
	for _, a := range f.kube.Actions() {
		if a.GetVerb() == "update" && a.GetResource().Resource == "services" && a.GetSubresource() == "status" {
			n++
		}
	}
	return n
}

func TestAllocateStatusAnnotationEventsAndPoolStatus(t *testing.T) {
	f := newFixture(pool("a", "10.0.0.0/30"), lbService("web", nil))
	c, _ := f.start(t, "r1", nil)
	f.waitIngress(t, "web", "10.0.0.0")
	if !c.Leading() {
		t.Errorf("the only replica does not lead")
	}
	eventually(t, "pool annotation a", func() bool {
		return f.service(t, "web").Annotations[informers.AnnotationAllocatedFromPool] == "a"
	})
	eventually(t, "IPAllocated event", func() bool {
		_, ok := f.rec.find("default/web", ReasonIPAllocated, "10.0.0.0")
		return ok
	})
	eventually(t, "pool status", func() bool {
		p, err := f.mlb.MetallbV1beta1().IPAddressPools(testNS).Get(context.Background(), "a", metav1.GetOptions{})
		return err == nil && p.Status.AssignedIPv4 == 1 && p.Status.AvailableIPv4 == 3
	})
	eventually(t, "ConfigurationState Valid", func() bool {
		s, err := f.mlb.MetallbV1beta1().ConfigurationStates(testNS).Get(context.Background(), ConfigurationStateName, metav1.GetOptions{})
		return err == nil && s.Status.Result == v1beta1.ConfigurationValid &&
			strings.Contains(s.Status.WarningSummary, "IPAddressPool metallb-system/a: no L2Advertisement or BGPAdvertisement selects this pool")
	})
}

func TestExhaustionReleaseTypeChangeAndDeprecation(t *testing.T) {
	ctx := context.Background()
	var objs []runtime.Object
	objs = append(objs, pool("a", "10.0.0.0/31"))
	for i, name := range []string{"s1", "s2", "s3"} {
		objs = append(objs, lbService(name, func(s *corev1.Service) {
			s.CreationTimestamp = metav1.NewTime(s.CreationTimestamp.Add(time.Duration(i) * time.Minute))
		}))
	}
	f := newFixture(objs...)
	f.start(t, "r1", nil)
	// Oldest first: s1 and s2 get the two addresses, s3 is told why not.
	f.waitIngress(t, "s1", "10.0.0.0")
	f.waitIngress(t, "s2", "10.0.0.1")
	eventually(t, "AllocationFailed on s3", func() bool {
		_, ok := f.rec.find("default/s3", ReasonAllocationFailed, "no free address")
		return ok
	})
	if got := ingress(f.service(t, "s3")); got != "" {
		t.Fatalf("s3 has %q without a free address", got)
	}

	// s1 stops being a LoadBalancer: its status is cleared, and s3 gets the
	// freed address.
	s1 := f.service(t, "s1")
	s1.Spec.Type = corev1.ServiceTypeClusterIP
	if _, err := f.kube.CoreV1().Services("default").Update(ctx, s1, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	f.waitIngress(t, "s1", "")
	eventually(t, "ClearedIP on s1", func() bool { _, ok := f.rec.find("default/s1", ReasonClearedIP, "10.0.0.0"); return ok })
	eventually(t, "pool annotation removed from a ClusterIP Service", func() bool {
		_, ok := f.service(t, "s1").Annotations[informers.AnnotationAllocatedFromPool]
		return !ok
	})
	f.waitIngress(t, "s3", "10.0.0.0")

	// Deleting s2 frees 10.0.0.1 for a new Service using a deprecated
	// annotation, which is honoured and warned about.
	if err := f.kube.CoreV1().Services("default").Delete(ctx, "s2", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	s4 := lbService("s4", func(s *corev1.Service) {
		s.Annotations = map[string]string{"metallb.universe.tf/loadBalancerIPs": "10.0.0.1"}
	})
	if _, err := f.kube.CoreV1().Services("default").Create(ctx, s4, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	f.waitIngress(t, "s4", "10.0.0.1")
	eventually(t, "deprecation warning", func() bool {
		_, ok := f.rec.find("default/s4", ReasonDeprecatedAnnotation, "metallb.universe.tf/loadBalancerIPs")
		return ok
	})

	// An unreadable request fails with the reason and holds nothing.
	s5 := lbService("s5", func(s *corev1.Service) {
		s.Annotations = map[string]string{informers.AnnotationLoadBalancerIPs: "10.0.0.999"}
	})
	if _, err := f.kube.CoreV1().Services("default").Create(ctx, s5, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "AllocationFailed on s5", func() bool {
		_, ok := f.rec.find("default/s5", ReasonAllocationFailed, "not an IP address")
		return ok
	})
}

func TestOtherClassIsLeftAlone(t *testing.T) {
	other := "example.com/other"
	f := newFixture(pool("a", "10.0.0.0/30"),
		lbService("mine", nil),
		lbService("theirs", func(s *corev1.Service) { s.Spec.LoadBalancerClass = &other }))
	f.start(t, "r1", nil)
	f.waitIngress(t, "mine", "10.0.0.0")
	time.Sleep(200 * time.Millisecond)
	if got := ingress(f.service(t, "theirs")); got != "" {
		t.Errorf("a Service of another class got %q", got)
	}

	g := newFixture(pool("a", "10.0.0.0/30"),
		lbService("mine", nil),
		lbService("theirs", func(s *corev1.Service) { s.Spec.LoadBalancerClass = &other }))
	g.start(t, "r1", func(o *Options) { o.LoadBalancerClass = other })
	g.waitIngress(t, "theirs", "10.0.0.0")
	if got := ingress(g.service(t, "mine")); got != "" {
		t.Errorf("with --lb-class, a classless Service got %q", got)
	}
}

func TestRestartKeepsEveryIPAndWritesNothing(t *testing.T) {
	const n = 50
	objs := []runtime.Object{pool("a", "10.0.0.0/24")}
	for i := range n {
		objs = append(objs, lbService(fmt.Sprintf("s%02d", i), func(s *corev1.Service) {
			s.CreationTimestamp = metav1.NewTime(s.CreationTimestamp.Add(time.Duration(i) * time.Second))
		}))
	}
	f := newFixture(objs...)
	_, stop := f.start(t, "r1", nil)
	want := map[string]string{}
	for i := range n {
		name := fmt.Sprintf("s%02d", i)
		f.waitIngress(t, name, fmt.Sprintf("10.0.0.%d", i))
		want[name] = fmt.Sprintf("10.0.0.%d", i)
	}
	stop()

	// Reverse the order in which the Services will be seen by making the
	// newest ones look older: restore must still keep every IP, because
	// it claims what status says before allocating anything.
	before := f.statusWrites()
	c2, _ := f.start(t, "r2", nil)
	eventually(t, "r2 leads", c2.Leading)
	// A new Service arrives while r2 starts: it must not take anyone's IP.
	if _, err := f.kube.CoreV1().Services("default").Create(context.Background(), lbService("new", nil), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	f.waitIngress(t, "new", fmt.Sprintf("10.0.0.%d", n))
	for name, ip := range want {
		if got := ingress(f.service(t, name)); got != ip {
			t.Errorf("%s moved from %s to %s", name, ip, got)
		}
	}
	if got := f.statusWrites() - before; got != 1 {
		t.Errorf("restart wrote %d statuses, want 1 (the new Service)", got)
	}
}

func TestStandbyTakesOver(t *testing.T) {
	f := newFixture(pool("a", "10.0.0.0/30"), lbService("web", nil))
	c1, stop1 := f.start(t, "r1", func(o *Options) { o.KeepLeaseOnStop = true })
	eventually(t, "r1 leads", c1.Leading)
	c2, _ := f.start(t, "r2", nil)
	f.waitIngress(t, "web", "10.0.0.0")
	time.Sleep(300 * time.Millisecond)
	if c2.Leading() {
		t.Fatal("two leaders")
	}
	// How fast is measured on the real API server (testbed/e2e), not
	// here: under -race on a busy machine a timed bound would only flake.
	stop1()
	eventually(t, "r2 takes over", c2.Leading)
	if _, err := f.kube.CoreV1().Services("default").Create(context.Background(), lbService("after", nil), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	f.waitIngress(t, "after", "10.0.0.1")
	f.waitIngress(t, "web", "10.0.0.0")
}

// A clean stop hands the Lease over at once, and only after the tree's
// last status write has returned: a standby taking over earlier could pass
// its cache fence before that write landed. The write here is held in the
// API server (it completes whatever the client does) until the test lets
// it go.
func TestCleanStopReleasesTheLeaseAfterTheLastWrite(t *testing.T) {
	f := newFixture(pool("a", "10.0.0.0/30"))
	held := &heldWrites{started: make(chan struct{}), release: make(chan struct{})}
	c, stop := f.start(t, "r1", func(o *Options) {
		o.Kube = heldKube{Interface: f.kube, held: held}
		o.ElectionKube = f.kube
	})
	eventually(t, "leading", c.Leading)
	if _, err := f.kube.CoreV1().Services("default").Create(context.Background(), lbService("web", nil), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	<-held.started
	stopped := make(chan struct{})
	go func() { stop(); close(stopped) }()
	select {
	case <-stopped:
		t.Fatal("Run returned while its last status write was still in the API server")
	case <-time.After(300 * time.Millisecond):
	}
	holder := func() string {
		lease, err := f.kube.CoordinationV1().Leases(testNS).Get(context.Background(), "herald-controller", metav1.GetOptions{})
		if err != nil || lease.Spec.HolderIdentity == nil {
			return ""
		}
		return *lease.Spec.HolderIdentity
	}
	if h := holder(); h != "r1" {
		t.Fatalf("the Lease shows %q while r1's last write is in flight, want r1 still", h)
	}
	close(held.release)
	<-stopped
	if h := holder(); h != "" {
		t.Errorf("Lease still held by %q after a clean stop", h)
	}
}

// heldWrites holds the first Service status write inside the "API server"
// until release is closed; the write completes then, even if the client
// gave up meanwhile, as a request already received does.
type heldWrites struct {
	once    sync.Once
	started chan struct{}
	release chan struct{}
}

type heldKube struct {
	kubernetes.Interface
	held *heldWrites
}

func (k heldKube) CoreV1() typedcorev1.CoreV1Interface {
	return heldCore{CoreV1Interface: k.Interface.CoreV1(), held: k.held}
}

type heldCore struct {
	typedcorev1.CoreV1Interface
	held *heldWrites
}

func (c heldCore) Services(ns string) typedcorev1.ServiceInterface {
	return heldServices{ServiceInterface: c.CoreV1Interface.Services(ns), held: c.held}
}

type heldServices struct {
	typedcorev1.ServiceInterface
	held *heldWrites
}

// IsWatchListSemanticsUnSupported keeps saying what the fake clientset
// under it says: it cannot stream a watch list, and without this the
// informers would wait for one.
func (heldKube) IsWatchListSemanticsUnSupported() bool { return true }

func (s heldServices) UpdateStatus(_ context.Context, svc *corev1.Service, opts metav1.UpdateOptions) (*corev1.Service, error) {
	first := false
	s.held.once.Do(func() { first = true; close(s.held.started) })
	if first {
		<-s.held.release
	}
	return s.ServiceInterface.UpdateStatus(context.Background(), svc, opts)
}

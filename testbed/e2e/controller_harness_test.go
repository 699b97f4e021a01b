package e2e

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/record"

	"github.com/heraldlb/herald/actors/controller"
	"github.com/heraldlb/herald/api/client/clientset/versioned"
	"github.com/heraldlb/herald/api/v1beta1"
	"github.com/heraldlb/herald/informers"
	"github.com/heraldlb/herald/testbed/kube"
)

const herald = "metallb-system"

// soak reports whether the long-run sizes were asked for.
func soak() bool { return os.Getenv("HERALD_SOAK") != "" }

// lab is one control plane with Herald's CRDs and the chart's RBAC.
type lab struct {
	t     *testing.T
	cp    *kube.ControlPlane
	admin kubernetes.Interface
	mlb   versioned.Interface
	// controllerConfig is the herald-controller ServiceAccount's client
	// configuration: the controller runs with exactly the chart's rights.
	controllerConfig *rest.Config
}

func repoFile(t *testing.T, rel string) string {
	t.Helper()
	crds, err := kube.RepoCRDDir() // <repo>/charts/herald/crds
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Join(filepath.Dir(filepath.Dir(filepath.Dir(crds))), rel)
}

// newLab starts a dual-stack control plane (Services may have IPv4 and IPv6
// cluster IPs, so dual-stack LoadBalancers can be created at all).
func newLab(t *testing.T) *lab {
	t.Helper()
	crds, err := kube.RepoCRDDir()
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	cp := kube.StartForTest(t, kube.Options{
		CRDDir:             crds,
		ExtraAPIServerArgs: []string{"--service-cluster-ip-range=10.96.0.0/16,fd00:10:96::/108"},
	})
	ctx := t.Context()
	_, err = cp.ApplyYAML(ctx, chartRBAC(t))
	if err != nil {
		t.Fatalf("applying the chart's RBAC: %v", err)
	}
	adminCfg := rest.CopyConfig(cp.AdminRESTConfig())
	adminCfg.QPS, adminCfg.Burst = 500, 1000
	mlb, err := versioned.NewForConfig(adminCfg)
	if err != nil {
		t.Fatal(err)
	}
	admin, err := kubernetes.NewForConfig(adminCfg)
	if err != nil {
		t.Fatal(err)
	}
	cc, err := cp.RESTConfigFor(ctx, herald, "herald-controller")
	if err != nil {
		t.Fatal(err)
	}
	cc.QPS, cc.Burst = 200, 400
	t.Logf("control plane with CRDs and RBAC up in %s", time.Since(start).Round(time.Millisecond))
	return &lab{t: t, cp: cp, admin: admin, mlb: mlb, controllerConfig: cc}
}

// replica is one in-process `herald controller`.
type replica struct {
	ctrl *controller.Controller
	stop func()
}

// runController starts a replica under the chart's ServiceAccount, with
// Events going to the real API server. stop cancels it as a crash would when
// KeepLeaseOnStop is set.
func (l *lab) runController(identity string, mod func(*controller.Options)) *replica {
	t := l.t
	t.Helper()
	// The binary's clients, not plain ones: with plain clients a standby
	// that led after an API server restart sat out client-go's reflector
	// backoff and missed a new Service for over 20 s, which the binary
	// does not (controller.NewClients).
	clients, err := controller.NewClients(l.controllerConfig)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	broadcaster := record.NewBroadcaster(record.WithContext(ctx))
	evc, err := kubernetes.NewForConfig(l.controllerConfig)
	if err != nil {
		t.Fatal(err)
	}
	broadcaster.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: evc.CoreV1().Events("")})
	rec := broadcaster.NewRecorder(scheme.Scheme, corev1.EventSource{Component: "herald-controller", Host: identity})
	level := slog.LevelWarn
	if os.Getenv("HERALD_TEST_DEBUG") != "" {
		level = slog.LevelDebug
	}
	opts := controller.Options{
		Kube: clients.Kube, Metallb: clients.Metallb, ElectionKube: clients.Election, Recorder: rec, Registry: prometheus.NewRegistry(),
		Logger:   slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level})).With("replica", identity),
		Identity: identity, Namespace: herald,
		LeaseDuration: 4 * time.Second, RenewDeadline: 3 * time.Second, RetryPeriod: 500 * time.Millisecond,
		BackoffInitial: 50 * time.Millisecond, BackoffMax: 2 * time.Second,
		FailureEventInterval: 5 * time.Second,
	}
	if mod != nil {
		mod(&opts)
	}
	ctrl, err := controller.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- ctrl.Run(ctx) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil && !strings.Contains(err.Error(), "context canceled") {
					t.Errorf("replica %s: %v", identity, err)
				}
			case <-time.After(30 * time.Second):
				t.Errorf("replica %s did not stop", identity)
			}
			broadcaster.Shutdown()
		})
	}
	t.Cleanup(stop)
	return &replica{ctrl: ctrl, stop: stop}
}

func eventually(t *testing.T, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	eventuallyEvery(t, timeout, 50*time.Millisecond, what, cond)
}

// eventuallyEvery is eventually with a chosen polling interval, for
// conditions that are expensive to check (listing thousands of Services).
func eventuallyEvery(t *testing.T, timeout, every time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	last := ""
	for {
		ok, state := cond()
		if ok {
			return
		}
		last = state
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s; last: %s", timeout, what, last)
		}
		time.Sleep(every)
	}
}

func (l *lab) namespace(name string, labels map[string]string) {
	l.t.Helper()
	_, err := l.admin.CoreV1().Namespaces().Create(l.t.Context(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		l.t.Fatal(err)
	}
}

// pool creates or replaces an IPAddressPool.
func (l *lab) pool(p *v1beta1.IPAddressPool) {
	l.t.Helper()
	p.Namespace = herald
	c := l.mlb.MetallbV1beta1().IPAddressPools(herald)
	cur, err := c.Get(l.t.Context(), p.Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		_, err = c.Create(l.t.Context(), p, metav1.CreateOptions{})
	} else if err == nil {
		cur.Spec = p.Spec
		_, err = c.Update(l.t.Context(), cur, metav1.UpdateOptions{})
	}
	if err != nil {
		l.t.Fatalf("pool %s: %v", p.Name, err)
	}
}

func newPool(name string, addrs ...string) *v1beta1.IPAddressPool {
	return &v1beta1.IPAddressPool{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: v1beta1.IPAddressPoolSpec{Addresses: addrs}}
}

// lbService is a LoadBalancer Service without node ports: the node port
// range holds only 2,768 ports, fewer than the large tests' Services, and
// Herald does not use them.
func lbService(ns, name string, mod func(*corev1.Service)) *corev1.Service {
	noNodePorts := false
	s := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: corev1.ServiceSpec{
			Type:                          corev1.ServiceTypeLoadBalancer,
			AllocateLoadBalancerNodePorts: &noNodePorts,
			Selector:                      map[string]string{"app": name},
			Ports:                         []corev1.ServicePort{{Name: "http", Protocol: corev1.ProtocolTCP, Port: 80}},
		},
	}
	if mod != nil {
		mod(s)
	}
	return s
}

func (l *lab) create(s *corev1.Service) {
	l.t.Helper()
	if _, err := l.admin.CoreV1().Services(s.Namespace).Create(l.t.Context(), s, metav1.CreateOptions{}); err != nil {
		l.t.Fatalf("creating %s/%s: %v", s.Namespace, s.Name, err)
	}
}

func (l *lab) get(ns, name string) *corev1.Service {
	l.t.Helper()
	s, err := l.admin.CoreV1().Services(ns).Get(l.t.Context(), name, metav1.GetOptions{})
	if err != nil {
		l.t.Fatal(err)
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

// waitIngress waits until the Service's status lists exactly want
// (comma-separated, in order; "" for none).
func (l *lab) waitIngress(ns, name, want string) *corev1.Service {
	l.t.Helper()
	var s *corev1.Service
	eventually(l.t, 20*time.Second, fmt.Sprintf("%s/%s ingress %q", ns, name, want), func() (bool, string) {
		s = l.get(ns, name)
		return ingress(s) == want, ingress(s)
	})
	return s
}

// stays checks for a while that the Service's ingress does not become
// anything but want.
func (l *lab) stays(ns, name, want string, d time.Duration) {
	l.t.Helper()
	for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
		if got := ingress(l.get(ns, name)); got != want {
			l.t.Fatalf("%s/%s ingress %q, want it to stay %q", ns, name, got, want)
		}
	}
}

// events returns the Events on a Service, oldest first.
func (l *lab) events(ns, name string) []corev1.Event {
	l.t.Helper()
	list, err := l.admin.CoreV1().Events(ns).List(l.t.Context(), metav1.ListOptions{
		FieldSelector: fields.Set{"involvedObject.name": name, "involvedObject.kind": "Service"}.String(),
	})
	if err != nil {
		l.t.Fatal(err)
	}
	slices.SortFunc(list.Items, func(a, b corev1.Event) int { return a.FirstTimestamp.Compare(b.FirstTimestamp.Time) })
	return list.Items
}

// waitEvent waits for an Event with reason whose message contains every
// one of texts, and returns its message.
func (l *lab) waitEvent(ns, name, reason string, texts ...string) string {
	l.t.Helper()
	msg := ""
	eventually(l.t, 20*time.Second, fmt.Sprintf("%s event on %s/%s containing %q", reason, ns, name, texts), func() (bool, string) {
		var seen []string
		for _, e := range l.events(ns, name) {
			seen = append(seen, e.Reason+": "+e.Message)
			if e.Reason != reason {
				continue
			}
			ok := true
			for _, s := range texts {
				ok = ok && strings.Contains(e.Message, s)
			}
			if ok {
				msg = e.Message
				return true, ""
			}
		}
		return false, strings.Join(seen, " | ")
	})
	return msg
}

// poolStatus waits for an IPAddressPool's status counters.
func (l *lab) poolStatus(name string, want v1beta1.IPAddressPoolStatus) {
	l.t.Helper()
	eventually(l.t, 20*time.Second, "pool "+name+" status", func() (bool, string) {
		p, err := l.mlb.MetallbV1beta1().IPAddressPools(herald).Get(l.t.Context(), name, metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		return p.Status == want, fmt.Sprintf("%+v", p.Status)
	})
}

// waitAnnotation waits for the ip-allocated-from-pool annotation to say
// pool ("" for absent).
func (l *lab) waitAnnotation(ns, name, pool string) {
	l.t.Helper()
	eventually(l.t, 20*time.Second, fmt.Sprintf("%s/%s allocated from %q", ns, name, pool), func() (bool, string) {
		got := l.get(ns, name).Annotations[informers.AnnotationAllocatedFromPool]
		return got == pool, got
	})
}

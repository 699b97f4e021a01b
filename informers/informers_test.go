package informers

import (
	"context"
	"fmt"
	goruntime "runtime"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	kubefake "k8s.io/client-go/kubernetes/fake"

	"github.com/heraldlb/herald/alloc"
	mlbfake "github.com/heraldlb/herald/api/client/clientset/versioned/fake"
	"github.com/heraldlb/herald/api/v1beta1"
)

type keySink struct {
	mu   sync.Mutex
	keys []Key
}

func (s *keySink) add(k Key) { s.mu.Lock(); s.keys = append(s.keys, k); s.mu.Unlock() }
func (s *keySink) has(k Key) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, x := range s.keys {
		if x == k {
			return true
		}
	}
	return false
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestInformersKeysSnapshotsAndInput(t *testing.T) {
	const ns = "metallb-system"
	kube := kubefake.NewClientset(
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "team-a", Labels: map[string]string{"team": "a"}}},
		&corev1.Service{
			ObjectMeta: metav1.ObjectMeta{Namespace: "team-a", Name: "web",
				ManagedFields: []metav1.ManagedFieldsEntry{{Manager: "kubectl"}},
				Annotations:   map[string]string{corev1.LastAppliedConfigAnnotation: "{}", AnnotationAddressPool: "gold"}},
			Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer},
		},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "bgp"},
			Data: map[string][]byte{"password": []byte("pw"), "other": []byte("x")}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "elsewhere", Name: "x"}},
		&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1"}, Status: corev1.NodeStatus{Images: []corev1.ContainerImage{{Names: []string{"big"}}}}},
	)
	mlb := mlbfake.NewSimpleClientset(
		&v1beta1.IPAddressPool{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "b"}, Spec: v1beta1.IPAddressPoolSpec{Addresses: []string{"10.0.1.0/24"}}},
		&v1beta1.IPAddressPool{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "a"}, Spec: v1beta1.IPAddressPoolSpec{Addresses: []string{"10.0.0.0/24"}}},
		&v1beta1.IPAddressPool{ObjectMeta: metav1.ObjectMeta{Namespace: "other", Name: "ignored"}, Spec: v1beta1.IPAddressPoolSpec{Addresses: []string{"10.0.2.0/24"}}},
	)
	watch := []Watch{{Resource: Services}, {Resource: Namespaces}, {Resource: Nodes}}
	for _, r := range ConfigResources {
		watch = append(watch, Watch{Resource: r})
	}
	inf, err := New(kube, mlb, Options{Namespace: ns, Watch: watch})
	if err != nil {
		t.Fatal(err)
	}
	sink := &keySink{}
	if err := inf.AddHandler(sink.add); err != nil {
		t.Fatal(err)
	}
	ctx := startSynced(t, inf)

	eventually(t, "initial keys", func() bool {
		return sink.has(Key{Kind: KindService, Namespace: "team-a", Name: "web"}) &&
			sink.has(Key{Kind: KindNamespace, Name: "team-a"}) &&
			sink.has(Key{Kind: KindConfig, Namespace: ns, Name: "a"}) &&
			sink.has(Key{Kind: KindNode, Name: "n1"})
	})
	if inf.Watches(EndpointSlices) || len(inf.EndpointSlices(alloc.ServiceKey{Namespace: "team-a", Name: "web"})) != 0 {
		t.Errorf("EndpointSlices were not asked for")
	}

	s, ok := inf.Service(alloc.ServiceKey{Namespace: "team-a", Name: "web"})
	if !ok || s.Alloc.RequestedPool != "gold" || s.Alloc.NamespaceLabels.Get("team") != "a" {
		t.Fatalf("snapshot %+v", s)
	}
	obj, _ := inf.ServiceObject(s.Key)
	if len(obj.ManagedFields) != 0 {
		t.Errorf("managedFields kept in the cache")
	}
	if _, ok := obj.Annotations[corev1.LastAppliedConfigAnnotation]; ok {
		t.Errorf("last-applied annotation kept in the cache")
	}
	// A copy: changing it must not change the cache.
	obj.Annotations[AnnotationAddressPool] = "changed"
	if again, _ := inf.Service(s.Key); again.Alloc.RequestedPool != "gold" {
		t.Errorf("ServiceObject returned the cached object itself")
	}
	ref, ok := inf.ServiceRef(s.Key)
	if want := (corev1.ObjectReference{APIVersion: "v1", Kind: "Service", Namespace: "team-a", Name: "web", UID: obj.UID, ResourceVersion: obj.ResourceVersion}); !ok || *ref != want {
		t.Errorf("ServiceRef = %+v, %v; want %+v", ref, ok, want)
	}
	if _, ok := inf.ServiceRef(alloc.ServiceKey{Namespace: "team-a", Name: "gone"}); ok {
		t.Errorf("ServiceRef of a Service not in the cache said ok")
	}

	in, err := inf.ConfigInput()
	if err != nil {
		t.Fatal(err)
	}
	if len(in.IPAddressPools) != 2 || in.IPAddressPools[0].Name != "a" || in.IPAddressPools[1].Name != "b" {
		t.Errorf("pools %v: want a, b from %s only, sorted", len(in.IPAddressPools), ns)
	}
	if len(in.Secrets) != 1 || len(in.Secrets[0].Data) != 1 || string(in.Secrets[0].Data["password"]) != "pw" {
		t.Errorf("secrets %+v: want only %s/bgp with only its password", in.Secrets, ns)
	}
	if len(in.Nodes) != 1 || len(in.Nodes[0].Status.Images) != 0 {
		t.Errorf("nodes not slimmed: %+v", in.Nodes)
	}

	// Updates arrive as keys too.
	if _, err := kube.CoreV1().Services("team-a").Create(ctx, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "team-a", Name: "db"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "key of a new Service", func() bool { return sink.has(Key{Kind: KindService, Namespace: "team-a", Name: "db"}) })
	if keys := inf.ServiceKeysIn("team-a"); len(keys) != 2 || keys[0].Name != "db" {
		t.Errorf("ServiceKeysIn = %v", keys)
	}
}

func TestDefaultRelevant(t *testing.T) {
	pool := func(gen int64, assigned int64) *v1beta1.IPAddressPool {
		return &v1beta1.IPAddressPool{ObjectMeta: metav1.ObjectMeta{Name: "p", Generation: gen}, Status: v1beta1.IPAddressPoolStatus{AssignedIPv4: assigned}}
	}
	node := func(l string, rv string, mods ...func(*corev1.Node)) *corev1.Node {
		n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n", Labels: map[string]string{"zone": l}, ResourceVersion: rv}}
		for _, m := range mods {
			m(n)
		}
		return n
	}
	cordoned := func(n *corev1.Node) { n.Spec.Unschedulable = true }
	noNetwork := func(n *corev1.Node) {
		n.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeNetworkUnavailable, Status: corev1.ConditionTrue}}
	}
	heartbeat := func(n *corev1.Node) {
		n.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue, LastHeartbeatTime: metav1.Now()}}
	}
	moved := func(n *corev1.Node) {
		n.Status.Addresses = []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "192.0.2.9"}}
	}
	// slice is a transformed EndpointSlice of Service svc: one endpoint on
	// node (ready or not), then one ready endpoint on each of more.
	slice := func(svc, node string, ready bool, more ...string) *discoveryv1.EndpointSlice {
		es := &discoveryv1.EndpointSlice{ObjectMeta: metav1.ObjectMeta{Name: "s", Labels: map[string]string{discoveryv1.LabelServiceName: svc}},
			Endpoints: []discoveryv1.Endpoint{{NodeName: &node, Conditions: discoveryv1.EndpointConditions{Ready: &ready}}}}
		for _, m := range more {
			t := true
			es.Endpoints = append(es.Endpoints, discoveryv1.Endpoint{NodeName: &m, Conditions: discoveryv1.EndpointConditions{Ready: &t}})
		}
		return es
	}
	ns := func(l string) *corev1.Namespace {
		return &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "n", Labels: map[string]string{"team": l}}}
	}
	tests := []struct {
		name     string
		resource Resource
		old, new any
		want     bool
	}{
		{"pool status only", IPAddressPools, pool(1, 0), pool(1, 5), false},
		{"pool spec", IPAddressPools, pool(1, 0), pool(2, 0), true},
		{"pool without generation", IPAddressPools, pool(0, 0), pool(0, 1), true},
		{"node heartbeat", Nodes, node("a", "1"), node("a", "2", heartbeat), false},
		{"node relabelled", Nodes, node("a", "1"), node("b", "2"), true},
		{"node cordoned", Nodes, node("a", "1"), node("a", "2", cordoned), true},
		{"node network unavailable", Nodes, node("a", "1"), node("a", "2", noNetwork), true},
		{"node address changed", Nodes, node("a", "1"), node("a", "2", moved), true},
		{"namespace same labels", Namespaces, ns("a"), ns("a"), false},
		{"namespace relabelled", Namespaces, ns("a"), ns("b"), true},
		{"service", Services, &corev1.Service{}, &corev1.Service{}, true},
		{"slice rewritten alike", EndpointSlices, slice("web", "n1", true), slice("web", "n1", true), false},
		{"endpoint not ready", EndpointSlices, slice("web", "n1", true), slice("web", "n1", false), true},
		{"endpoint moved", EndpointSlices, slice("web", "n1", true), slice("web", "n2", true), true},
		{"endpoint added", EndpointSlices, slice("web", "n1", true), slice("web", "n1", true, "n2"), true},
		{"slice of another Service", EndpointSlices, slice("web", "n1", true), slice("db", "n1", true), true},
		{"configuration state rewritten", ConfigurationStates, &v1beta1.ConfigurationState{}, &v1beta1.ConfigurationState{}, false},
	}
	for _, tc := range tests {
		if got := DefaultRelevant(tc.resource)(tc.old, tc.new); got != tc.want {
			t.Errorf("%s: relevant = %v, want %v", tc.name, got, tc.want)
		}
	}
	// The controller judges Nodes by their labels alone.
	if LabelsChanged(node("a", "1"), node("a", "2", cordoned)) {
		t.Errorf("a cordon counted as a label change")
	}
}

func TestNewRefusesUnknownAndRepeatedResources(t *testing.T) {
	for _, w := range [][]Watch{{{Resource: 0}}, {{Resource: numResources}}, {{Resource: Nodes}, {Resource: Nodes}}} {
		if _, err := New(kubefake.NewClientset(), mlbfake.NewSimpleClientset(), Options{Watch: w}); err == nil {
			t.Errorf("New(%v) accepted", w)
		}
	}
}

func TestEndpointSlicesBecomeKeysOfTheirService(t *testing.T) {
	kube := kubefake.NewClientset(
		&discoveryv1.EndpointSlice{ObjectMeta: metav1.ObjectMeta{Namespace: "app", Name: "web-abc",
			Labels: map[string]string{discoveryv1.LabelServiceName: "web"}}},
		&discoveryv1.EndpointSlice{ObjectMeta: metav1.ObjectMeta{Namespace: "app", Name: "orphan"}},
		// Read through the index by Service: the other Service of the
		// namespace and the same name in another namespace stay out.
		&discoveryv1.EndpointSlice{ObjectMeta: metav1.ObjectMeta{Namespace: "app", Name: "web-0a",
			Labels: map[string]string{discoveryv1.LabelServiceName: "web"}}},
		&discoveryv1.EndpointSlice{ObjectMeta: metav1.ObjectMeta{Namespace: "app", Name: "web2-abc",
			Labels: map[string]string{discoveryv1.LabelServiceName: "web2"}}},
		&discoveryv1.EndpointSlice{ObjectMeta: metav1.ObjectMeta{Namespace: "other", Name: "web-abc",
			Labels: map[string]string{discoveryv1.LabelServiceName: "web"}}},
	)
	inf, err := New(kube, mlbfake.NewSimpleClientset(), Options{Namespace: "metallb-system",
		Watch: []Watch{{Resource: EndpointSlices}, {Resource: Nodes}}})
	if err != nil {
		t.Fatal(err)
	}
	sink := &keySink{}
	if err := inf.AddHandler(sink.add); err != nil {
		t.Fatal(err)
	}
	ctx := startSynced(t, inf)
	eventually(t, "the Service's key", func() bool { return sink.has(Key{Kind: KindEndpoints, Namespace: "app", Name: "web"}) })
	if sink.has(Key{Kind: KindEndpoints, Namespace: "app", Name: "orphan"}) || sink.has(Key{Kind: KindEndpoints, Namespace: "app", Name: "web-abc"}) {
		t.Errorf("keys name slices, want only the Service: %v", sink.keys)
	}
	sliceNames := func(ns, svc string) string {
		var names []string
		for _, es := range inf.EndpointSlices(alloc.ServiceKey{Namespace: ns, Name: svc}) {
			names = append(names, es.Namespace+"/"+es.Name)
		}
		return strings.Join(names, " ")
	}
	if got := sliceNames("app", "web"); got != "app/web-0a app/web-abc" {
		t.Errorf("EndpointSlices(app/web) = %q, want app/web-0a app/web-abc (sorted)", got)
	}
	if got := sliceNames("app", "orphan"); got != "" {
		t.Errorf("EndpointSlices(app/orphan) = %q, want none (the slice has no Service label)", got)
	}
	// A slice relabelled to another Service moves in the index.
	moved := &discoveryv1.EndpointSlice{ObjectMeta: metav1.ObjectMeta{Namespace: "app", Name: "web-0a",
		Labels: map[string]string{discoveryv1.LabelServiceName: "web2"}}}
	if _, err := kube.DiscoveryV1().EndpointSlices("app").Update(ctx, moved, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the relabelled slice under web2", func() bool {
		return sliceNames("app", "web2") == "app/web-0a app/web2-abc" && sliceNames("app", "web") == "app/web-abc"
	})
	if inf.Watches(Services) {
		t.Errorf("Services watched without being asked for")
	}
	if _, ok := inf.Service(alloc.ServiceKey{Namespace: "app", Name: "web"}); ok {
		t.Errorf("a Service read from an unwatched resource")
	}
}

// Reading one Service's EndpointSlices costs the same whatever the number
// of other Services in its namespace: bytes allocated per read, with 10
// and with 2,000 other Services' slices beside it.
func TestEndpointSlicesCostOneService(t *testing.T) {
	perRead := func(others int) uint64 {
		var objs []runtime.Object
		for i := range others {
			name := fmt.Sprintf("svc-%04d", i)
			objs = append(objs, &discoveryv1.EndpointSlice{ObjectMeta: metav1.ObjectMeta{Namespace: "app", Name: name + "-x",
				Labels: map[string]string{discoveryv1.LabelServiceName: name}}})
		}
		objs = append(objs, &discoveryv1.EndpointSlice{ObjectMeta: metav1.ObjectMeta{Namespace: "app", Name: "web-x",
			Labels: map[string]string{discoveryv1.LabelServiceName: "web"}}})
		inf, err := New(kubefake.NewClientset(objs...), mlbfake.NewSimpleClientset(), Options{Namespace: "metallb-system",
			Watch: []Watch{{Resource: EndpointSlices}}})
		if err != nil {
			t.Fatal(err)
		}
		startSynced(t, inf)
		k := alloc.ServiceKey{Namespace: "app", Name: "web"}
		eventually(t, "all slices cached", func() bool { return len(inf.EndpointSlices(k)) == 1 })
		const reads = 200
		var before, after goruntime.MemStats
		goruntime.ReadMemStats(&before)
		for range reads {
			inf.EndpointSlices(k)
		}
		goruntime.ReadMemStats(&after)
		return (after.TotalAlloc - before.TotalAlloc) / reads
	}
	few, many := perRead(10), perRead(2000)
	if many > 2*few {
		t.Errorf("reading one Service's slices allocates %d bytes beside 2,000 other Services, %d beside 10: it should not grow with them", many, few)
	}
}

// startSynced starts inf for the rest of the test and waits until its
// caches have synced; the context ends with the test.
func startSynced(t *testing.T, inf *Informers) context.Context {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	t.Cleanup(func() { cancel(); inf.Shutdown() })
	inf.Start(ctx)
	if err := inf.WaitForSync(ctx); err != nil {
		t.Fatal(err)
	}
	return ctx
}

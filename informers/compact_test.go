package informers

import (
	"reflect"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/cache"
	"pgregory.net/rapid"

	"github.com/heraldlb/herald/tracing"
)

// slimServiceForSpeaker is the reference for the speaker's compact
// Service, written plainly with the API types: a new Service holding what
// a speaker reads (its identity, labels, type, loadBalancerClass,
// externalTrafficPolicy, the ingress IPs and hostnames, and the
// traceparent annotation). speakerService.object must equal it.
func slimServiceForSpeaker(s *corev1.Service) *corev1.Service {
	out := &corev1.Service{
		ObjectMeta: identity(&s.ObjectMeta),
		Spec: corev1.ServiceSpec{
			Type: s.Spec.Type, ExternalTrafficPolicy: s.Spec.ExternalTrafficPolicy, LoadBalancerClass: s.Spec.LoadBalancerClass,
		},
	}
	out.Labels = s.Labels
	if tp, ok := s.Annotations[tracing.TraceparentAnnotation]; ok {
		out.Annotations = map[string]string{tracing.TraceparentAnnotation: tp}
	}
	for _, in := range s.Status.LoadBalancer.Ingress {
		out.Status.LoadBalancer.Ingress = append(out.Status.LoadBalancer.Ingress, corev1.LoadBalancerIngress{IP: in.IP, Hostname: in.Hostname})
	}
	return out
}

func drawMeta(t *rapid.T) metav1.ObjectMeta {
	m := metav1.ObjectMeta{
		Namespace:         rapid.SampledFrom([]string{"", "default", "shop"}).Draw(t, "namespace"),
		Name:              rapid.StringMatching(`[a-z]{1,8}`).Draw(t, "name"),
		ResourceVersion:   rapid.StringMatching(`[0-9]{0,4}`).Draw(t, "rv"),
		UID:               types.UID(rapid.StringMatching(`[a-f0-9-]{0,8}`).Draw(t, "uid")),
		Generation:        rapid.Int64Range(0, 5).Draw(t, "generation"),
		CreationTimestamp: metav1.Unix(rapid.Int64Range(0, 1<<31).Draw(t, "created"), 0),
		ManagedFields:     []metav1.ManagedFieldsEntry{{Manager: "kubectl"}},
	}
	if rapid.Bool().Draw(t, "deleting") {
		d := metav1.Unix(rapid.Int64Range(0, 1<<31).Draw(t, "deleted"), 0)
		m.DeletionTimestamp = &d
	}
	return m
}

func drawStrings(t *rapid.T, name string, keys ...string) map[string]string {
	if rapid.Bool().Draw(t, name+" nil") {
		return nil
	}
	out := map[string]string{}
	for _, k := range keys {
		if rapid.Bool().Draw(t, name+" "+k) {
			out[k] = rapid.StringMatching(`[a-z0-9-]{0,6}`).Draw(t, name+" "+k+" value")
		}
	}
	return out
}

func drawService(t *rapid.T) *corev1.Service {
	s := &corev1.Service{ObjectMeta: drawMeta(t)}
	s.Labels = drawStrings(t, "labels", "app", "tier")
	s.Annotations = drawStrings(t, "annotations", tracing.TraceparentAnnotation, AnnotationAddressPool, corev1.LastAppliedConfigAnnotation)
	s.Spec.Type = corev1.ServiceType(rapid.SampledFrom([]string{"", "LoadBalancer", "ClusterIP", "NodePort", "Odd"}).Draw(t, "type"))
	s.Spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicy(rapid.SampledFrom([]string{"", "Cluster", "Local", "Odd"}).Draw(t, "etp"))
	if rapid.Bool().Draw(t, "class set") {
		c := rapid.SampledFrom([]string{"", "herald", "other"}).Draw(t, "class")
		s.Spec.LoadBalancerClass = &c
	}
	s.Spec.Ports = []corev1.ServicePort{{Port: 80}}
	s.Spec.Selector = map[string]string{"app": "web"}
	for i := range rapid.IntRange(0, 3).Draw(t, "ingress") {
		in := corev1.LoadBalancerIngress{
			IP:       rapid.SampledFrom([]string{"", "192.0.2.1", "2001:db8::1", "bad"}).Draw(t, "ip"),
			Hostname: rapid.SampledFrom([]string{"", "lb.example"}).Draw(t, "hostname"),
			Ports:    []corev1.PortStatus{{Port: int32(i)}},
		}
		s.Status.LoadBalancer.Ingress = append(s.Status.LoadBalancer.Ingress, in)
	}
	return s
}

func drawSlice(t *rapid.T) *discoveryv1.EndpointSlice {
	es := &discoveryv1.EndpointSlice{ObjectMeta: drawMeta(t)}
	es.Labels = drawStrings(t, "labels", discoveryv1.LabelServiceName, discoveryv1.LabelManagedBy)
	es.AddressType = discoveryv1.AddressType(rapid.SampledFrom([]string{"", "IPv4", "IPv6", "FQDN", "Odd"}).Draw(t, "addressType"))
	cond := func(name string) *bool {
		switch rapid.IntRange(0, 2).Draw(t, name) {
		case 1:
			b := true
			return &b
		case 2:
			b := false
			return &b
		}
		return nil
	}
	for range rapid.IntRange(0, 4).Draw(t, "endpoints") {
		e := discoveryv1.Endpoint{Addresses: []string{"10.0.0.1"}}
		e.Conditions = discoveryv1.EndpointConditions{Ready: cond("ready"), Serving: cond("serving"), Terminating: cond("terminating")}
		if rapid.Bool().Draw(t, "node set") {
			n := rapid.SampledFrom([]string{"", "node1", "node2"}).Draw(t, "node")
			e.NodeName = &n
		}
		es.Endpoints = append(es.Endpoints, e)
	}
	return es
}

// A speaker's cached Service and EndpointSlice read back exactly as the
// slimmed API objects they replace, and client-go sees the identity it
// keys and indexes by.
func TestCompactReadsBackAsSlimmed(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		s := drawService(t)
		want := slimServiceForSpeaker(s.DeepCopy())
		cached, err := SpeakerTransform(s.DeepCopy())
		if err != nil {
			t.Fatal(err)
		}
		cs := cached.(*speakerService)
		if d := cmp.Diff(want, cs.object()); d != "" {
			t.Fatalf("Service: (-slimmed +compact)\n%s", d)
		}
		checkIdentity(t, cached, want)

		es := drawSlice(t)
		wantES, _ := Transform(es.DeepCopy())
		cachedES, err := SpeakerTransform(es.DeepCopy())
		if err != nil {
			t.Fatal(err)
		}
		if d := cmp.Diff(wantES, cachedES.(*speakerSlice).object()); d != "" {
			t.Fatalf("EndpointSlice: (-slimmed +compact)\n%s", d)
		}
		checkIdentity(t, cachedES, wantES)
		gotIdx, _ := sliceService(cachedES)
		wantIdx, _ := sliceService(wantES)
		if d := cmp.Diff(wantIdx, gotIdx); d != "" {
			t.Fatalf("index by Service: (-slimmed +compact)\n%s", d)
		}

		// client-go may hand a transformed object back to the transform.
		if again, _ := SpeakerTransform(cached); again != cached {
			t.Fatal("SpeakerTransform changed an object already cached")
		}

		// A deep copy (client-go's detectors) equals the cached object;
		// neither it nor a rebuilt object shares what a caller may change.
		for _, c := range []any{cached, cachedES} {
			cp := c.(runtime.Object).DeepCopyObject()
			if !reflect.DeepEqual(cp, c) {
				t.Fatalf("DeepCopyObject of %T differs from it", c)
			}
		}
		snapshot := cached.(runtime.Object).DeepCopyObject()
		rebuilt := cs.object()
		if rebuilt.Labels == nil {
			rebuilt.Labels = map[string]string{}
		}
		rebuilt.Labels["changed"] = "yes"
		if len(rebuilt.Status.LoadBalancer.Ingress) > 0 {
			rebuilt.Status.LoadBalancer.Ingress[0].IP = "changed"
		}
		if rebuilt.Spec.LoadBalancerClass != nil {
			*rebuilt.Spec.LoadBalancerClass = "changed"
		}
		if !reflect.DeepEqual(snapshot, cached) {
			t.Fatal("changing a rebuilt Service changed the cache")
		}
	})
}

// checkIdentity compares what client-go and WaitCurrent read through
// meta.Accessor of the cached object with the slimmed one.
func checkIdentity(t *rapid.T, cached, slim any) {
	c, err := meta.Accessor(cached)
	if err != nil {
		t.Fatalf("meta.Accessor of %T: %v", cached, err)
	}
	w, _ := meta.Accessor(slim)
	type id struct {
		NS, Name, RV string
		UID          types.UID
		Gen          int64
		Created      metav1.Time
		Deleting     *metav1.Time
		Labels, Ann  map[string]string
	}
	got := id{c.GetNamespace(), c.GetName(), c.GetResourceVersion(), c.GetUID(), c.GetGeneration(), c.GetCreationTimestamp(), c.GetDeletionTimestamp(), c.GetLabels(), c.GetAnnotations()}
	want := id{w.GetNamespace(), w.GetName(), w.GetResourceVersion(), w.GetUID(), w.GetGeneration(), w.GetCreationTimestamp(), w.GetDeletionTimestamp(), w.GetLabels(), w.GetAnnotations()}
	if d := cmp.Diff(want, got); d != "" {
		t.Fatalf("identity of %T: (-slimmed +compact)\n%s", cached, d)
	}
	gotKey, err1 := cache.DeletionHandlingMetaNamespaceKeyFunc(cached)
	wantKey, err2 := cache.DeletionHandlingMetaNamespaceKeyFunc(slim)
	if err1 != nil || err2 != nil || gotKey != wantKey {
		t.Fatalf("cache key %q (%v), want %q (%v)", gotKey, err1, wantKey, err2)
	}
}

// The cache is read-only: a setter on a cached object panics rather than
// change what every reader shares.
func TestCompactIsReadOnly(t *testing.T) {
	m, err := meta.Accessor(compactService(&corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "web"}}))
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if recover() == nil {
			t.Error("SetLabels on a cached Service did not panic")
		}
	}()
	m.SetLabels(map[string]string{"a": "b"})
}

// An update to a compact slice counts when what the speaker reads of it
// changed, as with the slimmed API object.
func TestEndpointsChangedCompact(t *testing.T) {
	yes, no := true, false
	node := "node1"
	base := &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{Name: "web-1", Namespace: "shop", ResourceVersion: "1", Labels: map[string]string{discoveryv1.LabelServiceName: "web"}},
		Endpoints:  []discoveryv1.Endpoint{{Addresses: []string{"10.0.0.1"}, NodeName: &node, Conditions: discoveryv1.EndpointConditions{Ready: &yes}}},
	}
	for _, tc := range []struct {
		name string
		mod  func(*discoveryv1.EndpointSlice)
		want bool
	}{
		{"only the resourceVersion and an address", func(es *discoveryv1.EndpointSlice) {
			es.ResourceVersion = "2"
			es.Endpoints[0].Addresses = []string{"10.0.0.2"}
		}, false},
		{"ready to not ready", func(es *discoveryv1.EndpointSlice) { es.Endpoints[0].Conditions.Ready = &no }, true},
		{"another node", func(es *discoveryv1.EndpointSlice) { n := "node2"; es.Endpoints[0].NodeName = &n }, true},
		{"another Service", func(es *discoveryv1.EndpointSlice) { es.Labels[discoveryv1.LabelServiceName] = "api" }, true},
		{"an endpoint more", func(es *discoveryv1.EndpointSlice) { es.Endpoints = append(es.Endpoints, es.Endpoints[0]) }, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := base.DeepCopy()
			tc.mod(n)
			if got := endpointsChanged(compactSlice(base), compactSlice(n)); got != tc.want {
				t.Errorf("compact: got %v, want %v", got, tc.want)
			}
			oldSlim, _ := Transform(base.DeepCopy())
			newSlim, _ := Transform(n)
			if got := endpointsChanged(oldSlim, newSlim); got != tc.want {
				t.Errorf("slimmed API objects: got %v, want %v", got, tc.want)
			}
		})
	}
}

package informers

import (
	"net/netip"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/heraldlb/herald/tracing"
)

// Transform keeps what Herald reads and drops the rest; each case says
// both.
func TestTransform(t *testing.T) {
	managed := []metav1.ManagedFieldsEntry{{Manager: "kubectl", Operation: metav1.ManagedFieldsOperationApply}}
	for _, tc := range []struct {
		name     string
		in, want any
	}{
		{
			name: "EndpointSlice: nodes, conditions and the Service label stay",
			in: &discoveryv1.EndpointSlice{
				ObjectMeta: metav1.ObjectMeta{Name: "web-abc", Namespace: "shop", UID: "s1", ResourceVersion: "7", GenerateName: "web-",
					Labels:          map[string]string{discoveryv1.LabelServiceName: "web", discoveryv1.LabelManagedBy: "endpointslice-controller.k8s.io"},
					Annotations:     map[string]string{"endpoints.kubernetes.io/last-change-trigger-time": "2026-12-06T07:00:00Z"},
					OwnerReferences: []metav1.OwnerReference{{Kind: "Service", Name: "web", UID: "u0"}},
					ManagedFields:   managed},
				AddressType: discoveryv1.AddressTypeIPv4,
				Ports:       []discoveryv1.EndpointPort{{Name: ptr.To("http"), Port: ptr.To[int32](8080)}},
				Endpoints: []discoveryv1.Endpoint{{
					Addresses:          []string{"10.244.1.5"},
					Conditions:         discoveryv1.EndpointConditions{Ready: ptr.To(true), Serving: ptr.To(true), Terminating: ptr.To(false)},
					Hostname:           ptr.To("web-0"),
					TargetRef:          &corev1.ObjectReference{Kind: "Pod", Name: "web-0", Namespace: "shop", UID: "u1"},
					DeprecatedTopology: map[string]string{"kubernetes.io/hostname": "n1"},
					NodeName:           ptr.To("n1"),
					Zone:               ptr.To("z1"),
					Hints:              &discoveryv1.EndpointHints{ForZones: []discoveryv1.ForZone{{Name: "z1"}}},
				}},
			},
			want: &discoveryv1.EndpointSlice{
				ObjectMeta:  metav1.ObjectMeta{Name: "web-abc", Namespace: "shop", UID: "s1", ResourceVersion: "7", Labels: map[string]string{discoveryv1.LabelServiceName: "web"}},
				AddressType: discoveryv1.AddressTypeIPv4,
				Endpoints: []discoveryv1.Endpoint{{
					Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true), Serving: ptr.To(true), Terminating: ptr.To(false)},
					NodeName:   ptr.To("n1"),
				}},
			},
		},
		{
			name: "Node: labels, addresses and conditions stay; images and volumes go",
			in: &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1", Labels: map[string]string{"zone": "a"}, ManagedFields: managed},
				Status: corev1.NodeStatus{
					Addresses:       []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "192.0.2.1"}},
					Conditions:      []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}},
					Images:          []corev1.ContainerImage{{Names: []string{"registry/app:1"}, SizeBytes: 1}},
					VolumesInUse:    []corev1.UniqueVolumeName{"v"},
					VolumesAttached: []corev1.AttachedVolume{{Name: "v"}},
				}},
			want: &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1", Labels: map[string]string{"zone": "a"}},
				Status: corev1.NodeStatus{
					Addresses:  []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "192.0.2.1"}},
					Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}},
				}},
		},
		{
			name: "Secret: only the password key stays",
			in: &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "bgp"},
				Data: map[string][]byte{"password": []byte("s3cret"), "tls.key": []byte("k")}, StringData: map[string]string{"other": "x"}},
			want: &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "bgp"},
				Data: map[string][]byte{"password": []byte("s3cret")}, StringData: map[string]string{}},
		},
		{
			name: "Service: the last-applied annotation goes, Herald's annotations stay",
			in: &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "web", ManagedFields: managed,
				Annotations: map[string]string{corev1.LastAppliedConfigAnnotation: "{...}", "metallb.io/address-pool": "blue"}}},
			want: &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "web",
				Annotations: map[string]string{"metallb.io/address-pool": "blue"}}},
		},
	} {
		got, err := Transform(tc.in)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if d := cmp.Diff(tc.want, got); d != "" {
			t.Errorf("%s: (-want +got)\n%s", tc.name, d)
		}
	}
}

// SpeakerTransform keeps of a Service what a speaker reads, and
// ParseService of the result agrees with ParseService of the whole object
// on every field the speaker uses.
func TestSpeakerTransform(t *testing.T) {
	class := "herald"
	full := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "shop", UID: "u1", ResourceVersion: "42", Generation: 3,
			CreationTimestamp: metav1.Date(2026, 12, 6, 7, 0, 0, 0, time.UTC),
			Labels:            map[string]string{"app": "web"},
			Annotations: map[string]string{
				AnnotationAllocatedFromPool:        "blue",
				AnnotationAddressPool:              "blue",
				tracing.TraceparentAnnotation:      "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
				corev1.LastAppliedConfigAnnotation: "{...}",
			},
			ManagedFields: []metav1.ManagedFieldsEntry{{Manager: "kubectl"}},
		},
		Spec: corev1.ServiceSpec{
			Type: corev1.ServiceTypeLoadBalancer, LoadBalancerClass: &class,
			ExternalTrafficPolicy: corev1.ServiceExternalTrafficPolicyLocal,
			Ports:                 []corev1.ServicePort{{Name: "http", Protocol: corev1.ProtocolTCP, Port: 80}},
			Selector:              map[string]string{"app": "web"},
			ClusterIP:             "10.96.0.10", ClusterIPs: []string{"10.96.0.10"},
			IPFamilies: []corev1.IPFamily{corev1.IPv4Protocol},
		},
		Status: corev1.ServiceStatus{LoadBalancer: corev1.LoadBalancerStatus{Ingress: []corev1.LoadBalancerIngress{
			{IP: "192.0.2.10", IPMode: ptr.To(corev1.LoadBalancerIPModeVIP), Ports: []corev1.PortStatus{{Port: 80}}},
			{Hostname: "lb.example"},
		}}},
	}
	got, err := SpeakerTransform(full.DeepCopy())
	if err != nil {
		t.Fatal(err)
	}
	want := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "shop", UID: "u1", ResourceVersion: "42", Generation: 3,
			CreationTimestamp: full.CreationTimestamp, Labels: map[string]string{"app": "web"},
			Annotations: map[string]string{tracing.TraceparentAnnotation: full.Annotations[tracing.TraceparentAnnotation]},
		},
		Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer, LoadBalancerClass: &class,
			ExternalTrafficPolicy: corev1.ServiceExternalTrafficPolicyLocal},
		Status: corev1.ServiceStatus{LoadBalancer: corev1.LoadBalancerStatus{Ingress: []corev1.LoadBalancerIngress{
			{IP: "192.0.2.10"}, {Hostname: "lb.example"},
		}}},
	}
	cached, ok := got.(*speakerService)
	if !ok {
		t.Fatalf("SpeakerTransform cached a %T, want a *speakerService", got)
	}
	slim := cached.object()
	if d := cmp.Diff(want, slim); d != "" {
		t.Fatalf("SpeakerTransform: (-want +got)\n%s", d)
	}

	// What the speaker reads of the snapshot (actors/speaker's
	// plannedService, its planner and status actors) is the same.
	a, b := ParseService(full), ParseService(slim)
	type read struct {
		Key                          any
		UID                          any
		Created                      time.Time
		Ours                         bool
		IPs                          []netip.Addr
		Labels                       map[string]string
		Local                        bool
		Traceparent, ResourceVersion string
	}
	view := func(s Service) read {
		return read{s.Key, s.UID, s.Created, s.Ours(class), s.StatusIPs, s.Alloc.Labels, s.Alloc.LocalTraffic, s.Traceparent, s.ResourceVersion}
	}
	if d := cmp.Diff(view(a), view(b), cmp.Comparer(func(x, y netip.Addr) bool { return x == y })); d != "" {
		t.Errorf("the speaker's reading of a slimmed Service differs: (-whole +slim)\n%s", d)
	}

	// An EndpointSlice is cached compact too, and reads back as
	// Transform slims it.
	es := &discoveryv1.EndpointSlice{ObjectMeta: metav1.ObjectMeta{Name: "web-1", ManagedFields: []metav1.ManagedFieldsEntry{{Manager: "x"}}}}
	gotES, _ := SpeakerTransform(es.DeepCopy())
	if m := gotES.(*speakerSlice).object().ManagedFields; m != nil {
		t.Errorf("SpeakerTransform left an EndpointSlice's managedFields: %v", m)
	}

	// Other kinds get Transform.
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node1", ManagedFields: []metav1.ManagedFieldsEntry{{Manager: "x"}}}}
	gotNode, _ := SpeakerTransform(node)
	if m := gotNode.(*corev1.Node).ManagedFields; m != nil {
		t.Errorf("SpeakerTransform left a Node's managedFields: %v", m)
	}
}

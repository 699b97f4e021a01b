package informers

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
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
				ObjectMeta:  metav1.ObjectMeta{Name: "web-abc", Namespace: "shop", Labels: map[string]string{discoveryv1.LabelServiceName: "web"}, ManagedFields: managed},
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
				ObjectMeta:  metav1.ObjectMeta{Name: "web-abc", Namespace: "shop", Labels: map[string]string{discoveryv1.LabelServiceName: "web"}},
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

package informers

import (
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// passwordKey is the only Secret key Herald reads (BGP MD5 passwords, as
// MetalLB defines the Secret).
const passwordKey = "password"

// Transform slims an object before the informer caches it. client-go hands
// it a freshly decoded object that no one else holds, so changing it in
// place, or replacing it with a smaller copy, is allowed here (and only
// here). It may also hand it an object it has already transformed (a
// watch-list's items pass through a temporary store first, then the
// informer's queue), so a transformed object passes unchanged.
func Transform(obj any) (any, error) {
	switch o := obj.(type) {
	case *speakerService, *speakerSlice:
		return obj, nil
	case *corev1.Node:
		// Images and volumes are most of a Node's bytes and Herald reads
		// neither; labels, addresses and conditions stay.
		o.Status.Images = nil
		o.Status.VolumesInUse = nil
		o.Status.VolumesAttached = nil
	case *discoveryv1.EndpointSlice:
		// The speaker reads where each endpoint is and whether it is ready
		// or serving (actors/speaker's plannedService), nothing else, and a
		// cluster has at least one slice per Service.
		return slimEndpointSlice(o), nil
	case *corev1.Secret:
		// Keep only what a BGP password Secret needs, so unrelated Secrets
		// in the namespace are not held in memory.
		for k := range o.Data {
			if k != passwordKey {
				delete(o.Data, k)
			}
		}
		for k := range o.StringData {
			if k != passwordKey {
				delete(o.StringData, k)
			}
		}
	}
	if m, err := meta.Accessor(obj); err == nil {
		m.SetManagedFields(nil)
		// The last-applied annotation repeats the whole object; Herald
		// never reads it.
		if a := m.GetAnnotations(); a != nil {
			if _, ok := a[corev1.LastAppliedConfigAnnotation]; ok {
				delete(a, corev1.LastAppliedConfigAnnotation)
				m.SetAnnotations(a)
			}
		}
	}
	return obj, nil
}

// SpeakerTransform is Transform for a binary that only announces: it
// caches each Service and EndpointSlice in a compact form of its own
// (speakerService, speakerSlice in compact.go) holding what a speaker
// reads of it: a Service's identity (for Events), labels
// (serviceSelectors), type and loadBalancerClass (whether Herald serves
// it), externalTrafficPolicy, the addresses in its status and the
// traceparent annotation a speaker's trace continues from; a slice's
// Service and its endpoints' nodes and conditions. The allocation inputs
// (ports, selector, families, requested pool and IPs) are the controller's
// business and are left out, so a speaker's ParseService leaves them
// empty. The controller must not use it: it writes whole Services back.
func SpeakerTransform(obj any) (any, error) {
	switch o := obj.(type) {
	case *corev1.Service:
		return compactService(o), nil
	case *discoveryv1.EndpointSlice:
		return compactSlice(o), nil
	}
	// Transform also passes an already compact object unchanged.
	return Transform(obj)
}

// slimEndpointSlice is a new EndpointSlice holding what Herald reads:
// the slice's identity, the Service it belongs to, and each endpoint's
// node and conditions. Addresses, target references, hints, ports and the
// slice controller's own labels, annotations and owner references are
// dropped.
func slimEndpointSlice(es *discoveryv1.EndpointSlice) *discoveryv1.EndpointSlice {
	out := &discoveryv1.EndpointSlice{
		TypeMeta:    es.TypeMeta,
		ObjectMeta:  identity(&es.ObjectMeta),
		AddressType: es.AddressType,
	}
	if svc, ok := es.Labels[discoveryv1.LabelServiceName]; ok {
		out.Labels = map[string]string{discoveryv1.LabelServiceName: svc}
	}
	if len(es.Endpoints) > 0 {
		out.Endpoints = make([]discoveryv1.Endpoint, len(es.Endpoints))
		for i, e := range es.Endpoints {
			// The condition and node name pointers are allocations of
			// their own, not part of the decoded slice, so keeping them
			// keeps nothing else alive.
			out.Endpoints[i] = discoveryv1.Endpoint{Conditions: e.Conditions, NodeName: e.NodeName}
		}
	}
	return out
}

// identity is the part of an object's metadata a slimmed copy keeps: what
// names it, its versions, and when it was made and is going.
func identity(m *metav1.ObjectMeta) metav1.ObjectMeta {
	return metav1.ObjectMeta{Name: m.Name, Namespace: m.Namespace, UID: m.UID, ResourceVersion: m.ResourceVersion,
		Generation: m.Generation, CreationTimestamp: m.CreationTimestamp, DeletionTimestamp: m.DeletionTimestamp}
}

package informers

import (
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/api/meta"
)

// passwordKey is the only Secret key Herald reads (BGP MD5 passwords, as
// MetalLB defines the Secret).
const passwordKey = "password"

// Transform slims an object before the informer caches it. client-go hands
// it a freshly decoded object that no one else holds, so changing it in
// place is allowed here (and only here).
func Transform(obj any) (any, error) {
	switch o := obj.(type) {
	case *corev1.Node:
		// Images and volumes are most of a Node's bytes and Herald reads
		// neither; labels, addresses and conditions stay.
		o.Status.Images = nil
		o.Status.VolumesInUse = nil
		o.Status.VolumesAttached = nil
	case *discoveryv1.EndpointSlice:
		// The speaker reads where each endpoint is and whether it is ready
		// or serving (actors/speaker's plannedService), nothing else.
		// Addresses, target references, hints and ports are most of a
		// slice, and a cluster has at least one slice per Service.
		o.Ports = nil
		for i := range o.Endpoints {
			e := &o.Endpoints[i]
			e.Addresses, e.Hostname, e.TargetRef, e.DeprecatedTopology, e.Zone, e.Hints = nil, nil, nil, nil, nil, nil
		}
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

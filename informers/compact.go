package informers

import (
	"maps"
	"slices"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"

	"github.com/heraldlb/herald/tracing"
)

// A speaker caches its Services and EndpointSlices in the compact forms
// below rather than as API types. The slimmed API objects kept only what a
// speaker reads, but their structs do not shrink with their content (a
// corev1.Service is 592 bytes before anything it points to), and at
// 10,000 Services the two kinds were about 19 MB of a speaker's 52 MB of
// live heap. The readers rebuild the slimmed object on each read
// (speakerService.object, speakerSlice.object), so everything above the
// cache sees what it saw before; the cache itself holds only these.
//
// To client-go they are API objects: both implement metav1.Object, which
// its key functions, indexers, tombstones and update handling read (and
// WaitCurrent and keyHandler after them), and runtime.Object, which its
// optional consistency and mutation detectors need. The setters panic:
// nothing may change a cached object.
var (
	_ metav1.Object  = (*speakerService)(nil)
	_ metav1.Object  = (*speakerSlice)(nil)
	_ runtime.Object = (*speakerService)(nil)
	_ runtime.Object = (*speakerSlice)(nil)
)

// cachedIdentity is the metadata a compact cached object keeps: what
// identity keeps of a slimmed object's, and all of metav1.Object but the
// labels and annotations, which each compact type answers for itself.
type cachedIdentity struct {
	namespace, name, resourceVersion string
	uid                              types.UID
	generation                       int64
	created                          metav1.Time
	deleting                         *metav1.Time
}

func identityOf(m *metav1.ObjectMeta) cachedIdentity {
	return cachedIdentity{namespace: m.Namespace, name: m.Name, resourceVersion: m.ResourceVersion, uid: m.UID,
		generation: m.Generation, created: m.CreationTimestamp, deleting: m.DeletionTimestamp}
}

// meta is the ObjectMeta of the rebuilt object, as identity makes it.
func (c *cachedIdentity) meta() metav1.ObjectMeta {
	m := metav1.ObjectMeta{Namespace: c.namespace, Name: c.name, ResourceVersion: c.resourceVersion, UID: c.uid,
		Generation: c.generation, CreationTimestamp: c.created}
	if c.deleting != nil {
		d := *c.deleting
		m.DeletionTimestamp = &d
	}
	return m
}

func (c *cachedIdentity) copyIdentity() cachedIdentity {
	out := *c
	if c.deleting != nil {
		d := *c.deleting
		out.deleting = &d
	}
	return out
}

const readOnly = "informers: a cached object is read-only"

func (c *cachedIdentity) GetNamespace() string                          { return c.namespace }
func (c *cachedIdentity) GetName() string                               { return c.name }
func (c *cachedIdentity) GetGenerateName() string                       { return "" }
func (c *cachedIdentity) GetUID() types.UID                             { return c.uid }
func (c *cachedIdentity) GetResourceVersion() string                    { return c.resourceVersion }
func (c *cachedIdentity) GetGeneration() int64                          { return c.generation }
func (c *cachedIdentity) GetSelfLink() string                           { return "" }
func (c *cachedIdentity) GetCreationTimestamp() metav1.Time             { return c.created }
func (c *cachedIdentity) GetDeletionTimestamp() *metav1.Time            { return c.deleting }
func (c *cachedIdentity) GetDeletionGracePeriodSeconds() *int64         { return nil }
func (c *cachedIdentity) GetFinalizers() []string                       { return nil }
func (c *cachedIdentity) GetOwnerReferences() []metav1.OwnerReference   { return nil }
func (c *cachedIdentity) GetManagedFields() []metav1.ManagedFieldsEntry { return nil }
func (c *cachedIdentity) SetNamespace(string)                           { panic(readOnly) }
func (c *cachedIdentity) SetName(string)                                { panic(readOnly) }
func (c *cachedIdentity) SetGenerateName(string)                        { panic(readOnly) }
func (c *cachedIdentity) SetUID(types.UID)                              { panic(readOnly) }
func (c *cachedIdentity) SetResourceVersion(string)                     { panic(readOnly) }
func (c *cachedIdentity) SetGeneration(int64)                           { panic(readOnly) }
func (c *cachedIdentity) SetSelfLink(string)                            { panic(readOnly) }
func (c *cachedIdentity) SetCreationTimestamp(metav1.Time)              { panic(readOnly) }
func (c *cachedIdentity) SetDeletionTimestamp(*metav1.Time)             { panic(readOnly) }
func (c *cachedIdentity) SetDeletionGracePeriodSeconds(*int64)          { panic(readOnly) }
func (c *cachedIdentity) SetLabels(map[string]string)                   { panic(readOnly) }
func (c *cachedIdentity) SetAnnotations(map[string]string)              { panic(readOnly) }
func (c *cachedIdentity) SetFinalizers([]string)                        { panic(readOnly) }
func (c *cachedIdentity) SetOwnerReferences([]metav1.OwnerReference)    { panic(readOnly) }
func (c *cachedIdentity) SetManagedFields([]metav1.ManagedFieldsEntry)  { panic(readOnly) }

// speakerService is a speaker's cached Service: what a speaker reads of it
// (the tests' slimServiceForSpeaker is the reference).
type speakerService struct {
	cachedIdentity
	labels      map[string]string
	traceparent string
	// class is spec.loadBalancerClass.
	class   *string
	ingress []ingressAddr
	// serviceType and trafficPolicy hold the API's own constants where the
	// value is one, not the decoded copy of the string.
	serviceType    corev1.ServiceType
	trafficPolicy  corev1.ServiceExternalTrafficPolicy
	hasTraceparent bool
}

// ingressAddr is what a speaker reads of a status.loadBalancer.ingress
// entry: the IP, and the hostname so that StatusIPs can skip it.
type ingressAddr struct{ ip, hostname string }

func compactService(s *corev1.Service) *speakerService {
	out := &speakerService{
		cachedIdentity: identityOf(&s.ObjectMeta),
		labels:         s.Labels,
		class:          s.Spec.LoadBalancerClass,
		serviceType: intern(s.Spec.Type, corev1.ServiceTypeLoadBalancer, corev1.ServiceTypeClusterIP,
			corev1.ServiceTypeNodePort, corev1.ServiceTypeExternalName),
		trafficPolicy: intern(s.Spec.ExternalTrafficPolicy, corev1.ServiceExternalTrafficPolicyCluster,
			corev1.ServiceExternalTrafficPolicyLocal),
	}
	out.traceparent, out.hasTraceparent = s.Annotations[tracing.TraceparentAnnotation]
	if ing := s.Status.LoadBalancer.Ingress; len(ing) > 0 {
		out.ingress = make([]ingressAddr, len(ing))
		for i, in := range ing {
			out.ingress[i] = ingressAddr{ip: in.IP, hostname: in.Hostname}
		}
	}
	return out
}

// object is the Service as slimServiceForSpeaker makes it (without its
// TypeMeta, which no reader reads), new on each call and sharing nothing
// with the cache: the caller may keep or change it.
func (s *speakerService) object() *corev1.Service {
	out := &corev1.Service{
		ObjectMeta: s.meta(),
		Spec:       corev1.ServiceSpec{Type: s.serviceType, ExternalTrafficPolicy: s.trafficPolicy},
	}
	out.Labels = maps.Clone(s.labels)
	out.Annotations = s.GetAnnotations()
	if s.class != nil {
		c := *s.class
		out.Spec.LoadBalancerClass = &c
	}
	if len(s.ingress) > 0 {
		out.Status.LoadBalancer.Ingress = make([]corev1.LoadBalancerIngress, len(s.ingress))
		for i, in := range s.ingress {
			out.Status.LoadBalancer.Ingress[i] = corev1.LoadBalancerIngress{IP: in.ip, Hostname: in.hostname}
		}
	}
	return out
}

// GetLabels returns the cached labels themselves: read them, never change
// them.
func (s *speakerService) GetLabels() map[string]string { return s.labels }

func (s *speakerService) GetObjectKind() schema.ObjectKind { return schema.EmptyObjectKind }

// DeepCopyObject copies everything the cached Service points to but its
// strings, which Go never changes in place.
func (s *speakerService) DeepCopyObject() runtime.Object {
	out := *s
	out.cachedIdentity = s.copyIdentity()
	out.labels = maps.Clone(s.labels)
	if s.class != nil {
		c := *s.class
		out.class = &c
	}
	out.ingress = slices.Clone(s.ingress)
	return &out
}

// GetAnnotations returns a new map of the annotations kept.
func (s *speakerService) GetAnnotations() map[string]string {
	if !s.hasTraceparent {
		return nil
	}
	return map[string]string{tracing.TraceparentAnnotation: s.traceparent}
}

// speakerSlice is a speaker's cached EndpointSlice: what slimEndpointSlice
// keeps.
type speakerSlice struct {
	cachedIdentity
	// service is the kubernetes.io/service-name label.
	service     string
	addressType discoveryv1.AddressType
	endpoints   []speakerEndpoint
	hasService  bool
}

// speakerEndpoint is an endpoint's node and conditions.
type speakerEndpoint struct {
	node string
	// flags holds the three conditions, two bits each (condUnset,
	// condTrue, condFalse), and hasNode.
	flags uint8
}

const (
	condUnset = 0
	condTrue  = 1
	condFalse = 2

	readyShift       = 0
	servingShift     = 2
	terminatingShift = 4
	hasNode          = 1 << 6
)

func compactSlice(es *discoveryv1.EndpointSlice) *speakerSlice {
	out := &speakerSlice{cachedIdentity: identityOf(&es.ObjectMeta),
		addressType: intern(es.AddressType, discoveryv1.AddressTypeIPv4, discoveryv1.AddressTypeIPv6, discoveryv1.AddressTypeFQDN)}
	out.service, out.hasService = es.Labels[discoveryv1.LabelServiceName]
	if len(es.Endpoints) > 0 {
		out.endpoints = make([]speakerEndpoint, len(es.Endpoints))
		for i, e := range es.Endpoints {
			f := packCondition(e.Conditions.Ready)<<readyShift | packCondition(e.Conditions.Serving)<<servingShift |
				packCondition(e.Conditions.Terminating)<<terminatingShift
			if e.NodeName != nil {
				out.endpoints[i].node = *e.NodeName
				f |= hasNode
			}
			out.endpoints[i].flags = f
		}
	}
	return out
}

// object is the EndpointSlice as slimEndpointSlice makes it (without its
// TypeMeta), new on each call and sharing nothing with the cache: the
// caller may keep or change it.
func (s *speakerSlice) object() *discoveryv1.EndpointSlice {
	out := &discoveryv1.EndpointSlice{ObjectMeta: s.meta(), AddressType: s.addressType}
	out.Labels = s.GetLabels()
	if len(s.endpoints) > 0 {
		out.Endpoints = make([]discoveryv1.Endpoint, len(s.endpoints))
		for i, e := range s.endpoints {
			c := &out.Endpoints[i].Conditions
			c.Ready = unpackCondition(e.flags >> readyShift)
			c.Serving = unpackCondition(e.flags >> servingShift)
			c.Terminating = unpackCondition(e.flags >> terminatingShift)
			if e.flags&hasNode != 0 {
				n := e.node
				out.Endpoints[i].NodeName = &n
			}
		}
	}
	return out
}

// GetLabels returns a new map holding the one label kept.
func (s *speakerSlice) GetLabels() map[string]string {
	if !s.hasService {
		return nil
	}
	return map[string]string{discoveryv1.LabelServiceName: s.service}
}

// GetAnnotations returns nil: a slimmed slice keeps none.
func (s *speakerSlice) GetAnnotations() map[string]string { return nil }

func (s *speakerSlice) GetObjectKind() schema.ObjectKind { return schema.EmptyObjectKind }

// DeepCopyObject copies the cached slice and its endpoints.
func (s *speakerSlice) DeepCopyObject() runtime.Object {
	out := *s
	out.cachedIdentity = s.copyIdentity()
	out.endpoints = slices.Clone(s.endpoints)
	return &out
}

func packCondition(b *bool) uint8 {
	switch {
	case b == nil:
		return condUnset
	case *b:
		return condTrue
	}
	return condFalse
}

func unpackCondition(f uint8) *bool {
	var b bool
	switch f & 3 {
	case condTrue:
		b = true
	case condFalse:
	default:
		return nil
	}
	return &b
}

// intern returns the constant among known that equals v, or v: a cached
// object then points at the API's constant instead of keeping the decoded
// copy of one of a few common strings.
func intern[T ~string](v T, known ...T) T {
	for _, c := range known {
		if v == c {
			return c
		}
	}
	return v
}

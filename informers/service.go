package informers

import (
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"

	"github.com/heraldlb/herald/alloc"
	"github.com/heraldlb/herald/tracing"
)

// The Service annotations Herald reads and writes. Each metallb.io name has a
// deprecated metallb.universe.tf twin that keeps working (MetalLB users have
// both in the wild) but draws a warning Event.
const (
	AnnotationLoadBalancerIPs   = "metallb.io/loadBalancerIPs"
	AnnotationAddressPool       = "metallb.io/address-pool"
	AnnotationAllowSharedIP     = "metallb.io/allow-shared-ip"
	AnnotationAllocatedFromPool = "metallb.io/ip-allocated-from-pool"

	deprecatedPrefix = "metallb.universe.tf/"
	currentPrefix    = "metallb.io/"
)

// ErrInvalidService wraps every reason a Service's allocation inputs cannot
// be read; its text is published as an AllocationFailed Event.
var ErrInvalidService = errors.New("invalid service")

// Service is the immutable snapshot of one Service that the controller's
// actors work from. Nothing in it aliases the informer cache.
type Service struct {
	Key             alloc.ServiceKey
	UID             types.UID
	ResourceVersion string
	Created         time.Time
	// LoadBalancer is spec.type == LoadBalancer.
	LoadBalancer bool
	// Class is spec.loadBalancerClass ("" when unset).
	Class string
	// Alloc is what allocation depends on. NamespaceLabels are filled by
	// the reader (Informers.Service), not by ParseService.
	Alloc alloc.Service
	// StatusIPs are the addresses in status.loadBalancer.ingress, in order;
	// entries that are not IPs (hostnames) are skipped.
	StatusIPs []netip.Addr
	// AllocatedFromPool is the metallb.io/ip-allocated-from-pool annotation.
	AllocatedFromPool string
	// Traceparent is the W3C traceparent the controller recorded with the
	// last status change (tracing.TraceparentAnnotation), unparsed; empty
	// when tracing is off. A speaker continues that trace.
	Traceparent string
	// Deprecated lists the metallb.universe.tf/* annotations in use, sorted.
	Deprecated []string
	// Invalid is set when an input cannot be read (an unparsable IP, both
	// spec.loadBalancerIP and the annotation); allocation must then fail
	// with this error rather than guess.
	Invalid error
}

// Ours reports whether the controller serving loadBalancerClass class
// (empty: Services without a class) is responsible for this Service.
func (s Service) Ours(class string) bool {
	return s.LoadBalancer && s.Class == class
}

// StatusIPs returns the addresses in status.loadBalancer.ingress, in
// order; entries that are not IPs (hostnames) are skipped.
func StatusIPs(svc *corev1.Service) []netip.Addr {
	if svc == nil {
		return nil
	}
	var out []netip.Addr
	for _, ing := range svc.Status.LoadBalancer.Ingress {
		if ip, err := netip.ParseAddr(ing.IP); err == nil {
			out = append(out, ip.Unmap())
		}
	}
	return out
}

// ParseService reads a Service's allocation inputs. It never fails: an
// unreadable input is reported in Service.Invalid so the caller can say why
// the Service gets no IP.
func ParseService(svc *corev1.Service) Service {
	out := Service{
		Key:             alloc.ServiceKey{Namespace: svc.Namespace, Name: svc.Name},
		UID:             svc.UID,
		ResourceVersion: svc.ResourceVersion,
		Created:         svc.CreationTimestamp.Time,
		LoadBalancer:    svc.Spec.Type == corev1.ServiceTypeLoadBalancer,
	}
	if svc.Spec.LoadBalancerClass != nil {
		out.Class = *svc.Spec.LoadBalancerClass
	}
	out.AllocatedFromPool = svc.Annotations[AnnotationAllocatedFromPool]
	out.Traceparent = svc.Annotations[tracing.TraceparentAnnotation]
	out.StatusIPs = StatusIPs(svc)

	a := alloc.Service{Key: out.Key}
	if len(svc.Labels) > 0 {
		// A copy: the snapshot outlives this read of the cache.
		a.Labels = labels.Set(maps.Clone(svc.Labels))
	}
	var deprecated []string
	get := func(name string) string {
		if v, ok := svc.Annotations[name]; ok {
			return v
		}
		old := deprecatedPrefix + strings.TrimPrefix(name, currentPrefix)
		if v, ok := svc.Annotations[old]; ok {
			deprecated = append(deprecated, old)
			return v
		}
		return ""
	}
	a.RequestedPool = strings.TrimSpace(get(AnnotationAddressPool))
	a.SharingKey = strings.TrimSpace(get(AnnotationAllowSharedIP))
	ips, err := requestedIPs(get(AnnotationLoadBalancerIPs), svc.Spec.LoadBalancerIP)
	if err != nil {
		out.Invalid = err
	}
	a.RequestedIPs = ips
	for _, p := range svc.Spec.Ports {
		a.Ports = append(a.Ports, alloc.Port{Protocol: string(p.Protocol), Port: p.Port})
	}
	if svc.Spec.ExternalTrafficPolicy == corev1.ServiceExternalTrafficPolicyLocal {
		a.LocalTraffic = true
	}
	// The selector in canonical form names the pods behind the Service:
	// two Local Services may share an IP only if they reach the same pods.
	a.Backend = labels.Set(svc.Spec.Selector).String()
	for _, f := range svc.Spec.IPFamilies {
		switch f {
		case corev1.IPv4Protocol:
			a.Families = append(a.Families, alloc.IPv4)
		case corev1.IPv6Protocol:
			a.Families = append(a.Families, alloc.IPv6)
		}
	}
	if p := svc.Spec.IPFamilyPolicy; p != nil {
		switch *p {
		case corev1.IPFamilyPolicyPreferDualStack:
			a.Policy = alloc.PreferDualStack
		case corev1.IPFamilyPolicyRequireDualStack:
			a.Policy = alloc.RequireDualStack
		}
	}
	out.Alloc = a
	sort.Strings(deprecated)
	out.Deprecated = deprecated
	return out
}

// requestedIPs reads the loadBalancerIPs annotation (comma-separated, at most
// one per family; alloc checks that) or the deprecated spec.loadBalancerIP.
// Setting both is refused, as MetalLB refuses it: which one wins would be a
// guess.
func requestedIPs(annotation, specIP string) ([]netip.Addr, error) {
	annotation = strings.TrimSpace(annotation)
	specIP = strings.TrimSpace(specIP)
	if annotation != "" && specIP != "" {
		return nil, fmt.Errorf("%w: both spec.loadBalancerIP (%s) and the %s annotation (%s) are set; use only the annotation",
			ErrInvalidService, specIP, AnnotationLoadBalancerIPs, annotation)
	}
	if specIP != "" {
		ip, err := netip.ParseAddr(specIP)
		if err != nil {
			return nil, fmt.Errorf("%w: spec.loadBalancerIP %q is not an IP address", ErrInvalidService, specIP)
		}
		return []netip.Addr{ip.Unmap()}, nil
	}
	if annotation == "" {
		return nil, nil
	}
	var ips []netip.Addr
	for _, s := range strings.Split(annotation, ",") {
		s = strings.TrimSpace(s)
		ip, err := netip.ParseAddr(s)
		if err != nil {
			return nil, fmt.Errorf("%w: %s annotation entry %q is not an IP address", ErrInvalidService, AnnotationLoadBalancerIPs, s)
		}
		ips = append(ips, ip.Unmap())
	}
	return ips, nil
}

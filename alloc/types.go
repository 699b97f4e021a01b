package alloc

import (
	"cmp"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/labels"
)

// Family is an IP family.
type Family uint8

// The two IP families. The zero Family is not valid.
const (
	IPv4 Family = 1
	IPv6 Family = 2
)

func (f Family) String() string {
	switch f {
	case IPv4:
		return "IPv4"
	case IPv6:
		return "IPv6"
	}
	return fmt.Sprintf("Family(%d)", uint8(f))
}

func (f Family) other() Family {
	if f == IPv4 {
		return IPv6
	}
	return IPv4
}

// index maps a family to 0 (IPv4) or 1 (IPv6) for per-family arrays.
func (f Family) index() int { return int(f) - 1 }

// FamilyOf returns the family of a (IPv4-mapped IPv6 addresses count as IPv4,
// as net.ParseIP and MetalLB treat them).
func FamilyOf(a netip.Addr) Family {
	if a.Unmap().Is4() {
		return IPv4
	}
	return IPv6
}

// FamilyPolicy is a Service's spec.ipFamilyPolicy.
type FamilyPolicy uint8

// The zero value is SingleStack, the Kubernetes default.
const (
	SingleStack FamilyPolicy = iota
	PreferDualStack
	RequireDualStack
)

func (p FamilyPolicy) String() string {
	switch p {
	case SingleStack:
		return "SingleStack"
	case PreferDualStack:
		return "PreferDualStack"
	case RequireDualStack:
		return "RequireDualStack"
	}
	return fmt.Sprintf("FamilyPolicy(%d)", uint8(p))
}

// Port is one (protocol, port) a Service listens on. An empty Protocol means
// TCP, the Kubernetes default.
type Port struct {
	Protocol string
	Port     int32
}

func (p Port) normal() Port {
	if p.Protocol == "" {
		p.Protocol = "TCP"
	}
	p.Protocol = strings.ToUpper(p.Protocol)
	return p
}

func (p Port) String() string { n := p.normal(); return fmt.Sprintf("%s/%d", n.Protocol, n.Port) }

// ServiceKey names a Service.
type ServiceKey struct{ Namespace, Name string }

func (k ServiceKey) String() string { return k.Namespace + "/" + k.Name }

// Compare orders keys by namespace, then name: -1, 0 or +1, for
// slices.SortFunc and binary searches. It is the one order of Services in
// Herald.
func (k ServiceKey) Compare(o ServiceKey) int {
	return cmp.Or(strings.Compare(k.Namespace, o.Namespace), strings.Compare(k.Name, o.Name))
}

// Service is everything about a Kubernetes Service that allocation depends on.
// The controller fills it from the Service, its Namespace and the annotations
// (metallb.io/* and the deprecated metallb.universe.tf/* forms).
type Service struct {
	Key ServiceKey
	// NamespaceLabels are the labels of the Service's Namespace, matched
	// against serviceAllocation.namespaceSelectors.
	NamespaceLabels labels.Set
	// Labels are the Service's labels, matched against
	// serviceAllocation.serviceSelectors.
	Labels labels.Set
	// RequestedIPs come from metallb.io/loadBalancerIPs or
	// spec.loadBalancerIP: at most one per family.
	RequestedIPs []netip.Addr
	// RequestedPool comes from metallb.io/address-pool.
	RequestedPool string
	// SharingKey comes from metallb.io/allow-shared-ip; empty means the
	// Service shares its IP with no one.
	SharingKey string
	Ports      []Port
	// LocalTraffic is true for externalTrafficPolicy: Local. Services
	// sharing an IP where either is Local must have equal Backends.
	LocalTraffic bool
	// Backend identifies the pods behind the Service (its selector in
	// canonical form, e.g. labels.Set(spec.selector).String()); it is only
	// compared when LocalTraffic is set on either side.
	Backend string
	// Families is spec.ipFamilies, primary first. Empty means the families
	// of RequestedIPs, or IPv4 when nothing is requested.
	Families []Family
	Policy   FamilyPolicy
}

// Range is a closed interval of addresses of one family: a CIDR or an a-b
// range from an IPAddressPool. Build one from a prefix with PrefixRange or
// from text with ParseRange.
type Range struct{ First, Last netip.Addr }

// PrefixRange returns the addresses of p (host bits are ignored).
func PrefixRange(p netip.Prefix) Range {
	if a := p.Addr(); a.Is4In6() && p.Bits() >= 96 {
		p = netip.PrefixFrom(a.Unmap(), p.Bits()-96)
	}
	p = p.Masked()
	first := p.Addr()
	last := addrToU128(first)
	hostBits := first.BitLen() - p.Bits()
	if hostBits >= 64 {
		last.lo = ^uint64(0)
		last.hi |= ^uint64(0) >> (128 - hostBits)
	} else if hostBits > 0 {
		last.lo |= ^uint64(0) >> (64 - hostBits)
	}
	fam := IPv6
	if first.Is4() {
		fam = IPv4
	}
	return Range{First: first, Last: u128ToAddr(fam, last)}
}

// ServiceAllocation is an IPAddressPool's spec.serviceAllocation. Namespaces
// and NamespaceSelectors together decide the namespace (either may match);
// ServiceSelectors decide the Service (any may match). A criterion left empty
// matches everything; both must match.
type ServiceAllocation struct {
	// Priority orders the pools that select a Service: lower first; 0
	// (unset) after every set priority.
	Priority           int
	Namespaces         []string
	NamespaceSelectors []labels.Selector
	ServiceSelectors   []labels.Selector
}

// pins reports whether the allocation names any criterion. A pool pins a
// Service (puts it ahead of the by-name pools) only through a criterion, as
// in MetalLB; a serviceAllocation with only a priority pins nothing.
func (sa *ServiceAllocation) pins() bool {
	return sa != nil && (len(sa.Namespaces) > 0 || len(sa.NamespaceSelectors) > 0 || len(sa.ServiceSelectors) > 0)
}

// Pool is an IPAddressPool as allocation sees it.
type Pool struct {
	Name   string
	Ranges []Range
	// AutoAssign false: the pool serves only Services that request it or
	// one of its IPs. (The CRD defaults it to true; Go's zero value is false.)
	AutoAssign bool
	// AvoidBuggyIPs excludes every IPv4 address whose last octet is 0 or 255
	// (in every /24 the ranges touch, whatever the prefix length); it does
	// not affect IPv6.
	AvoidBuggyIPs bool
	// Allocation is spec.serviceAllocation; nil admits every Service.
	Allocation *ServiceAllocation
}

// Assignment is the IPs a Service holds and the pool they come from.
// IPs are ordered as the Service's families (primary first).
type Assignment struct {
	Pool string
	IPs  []netip.Addr
}

// Claim asserts that a Service already holds IPs (from its
// status.loadBalancer.ingress). Created orders conflicting claims: the
// oldest wins, then namespace/name.
type Claim struct {
	Service Service
	IPs     []netip.Addr
	Created time.Time
}

// Rejected is a claim or an assignment that could not be kept, and why.
type Rejected struct {
	Service ServiceKey
	IPs     []netip.Addr
	Err     error
}

// FamilyStats counts one family of a pool. Assigned counts distinct IPs in
// use (a shared IP counts once); Capacity and Available are exact except
// for the saturation documented on Count.
type FamilyStats struct {
	Capacity  Count
	Assigned  int
	Available Count
}

// PoolStats is a pool's usage.
type PoolStats struct {
	Pool     string
	IPv4     FamilyStats
	IPv6     FamilyStats
	Services int
}

// addrFamily is the family of an address as the allocator stores it: inputs
// are unmapped on entry, so an IPv4-mapped form seen inside is an IPv6
// address of an IPv6 range.
func addrFamily(a netip.Addr) Family {
	if a.Is4() {
		return IPv4
	}
	return IPv6
}

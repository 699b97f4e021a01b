package alloc

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
)

// normalize returns a copy of svc with unmapped addresses, upper-case
// protocols and deduplicated families, so comparisons and stored copies do
// not depend on how the caller spelled them.
func normalize(svc Service) Service {
	out := svc
	out.RequestedIPs = make([]netip.Addr, len(svc.RequestedIPs))
	for i, ip := range svc.RequestedIPs {
		out.RequestedIPs[i] = ip.Unmap()
	}
	out.Ports = make([]Port, len(svc.Ports))
	for i, p := range svc.Ports {
		out.Ports[i] = p.normal()
	}
	out.Families = nil
	for _, f := range svc.Families {
		if !slices.Contains(out.Families, f) {
			out.Families = append(out.Families, f)
		}
	}
	return out
}

// familyPlans returns the family combinations the Service accepts, best
// first. PreferDualStack falls back to the primary family alone, then to the
// secondary alone; Kubernetes gives a single-stack cluster's Services one
// family, so only a Service that lists two families can get two IPs.
func familyPlans(svc *Service) ([][]Family, error) {
	fams := svc.Families
	for _, f := range fams {
		if f != IPv4 && f != IPv6 {
			return nil, fmt.Errorf("%v: %w: unknown IP family %v", svc.Key, ErrInvalidRequest, f)
		}
	}
	if len(fams) == 0 {
		for _, ip := range svc.RequestedIPs {
			if f := addrFamily(ip); !slices.Contains(fams, f) {
				fams = append(fams, f)
			}
		}
	}
	if len(fams) == 0 {
		fams = []Family{IPv4}
	}
	switch svc.Policy {
	case SingleStack:
		return [][]Family{{fams[0]}}, nil
	case RequireDualStack:
		return [][]Family{{fams[0], fams[0].other()}}, nil
	case PreferDualStack:
		if len(fams) == 2 {
			return [][]Family{{fams[0], fams[1]}, {fams[0]}, {fams[1]}}, nil
		}
		return [][]Family{{fams[0]}}, nil
	}
	return nil, fmt.Errorf("%v: %w: unknown ipFamilyPolicy %v", svc.Key, ErrInvalidRequest, svc.Policy)
}

// orderByPlan checks that ips (requested or claimed) fit one of the plans
// and returns them in that plan's family order.
func orderByPlan(svc *Service, plans [][]Family, ips []netip.Addr, what string) ([]netip.Addr, error) {
	var fams []Family
	for _, ip := range ips {
		if !ip.IsValid() || ip.Zone() != "" {
			return nil, fmt.Errorf("%w: %s IP %q is not a plain IP address", ErrInvalidRequest, what, ip)
		}
		f := addrFamily(ip)
		if j := slices.Index(fams, f); j >= 0 {
			return nil, fmt.Errorf("%w: %s IPs %v and %v are both %v; a service has at most one IP per family",
				ErrInvalidRequest, what, ips[j], ip, f)
		}
		fams = append(fams, f)
	}
	for _, plan := range plans {
		if len(plan) != len(fams) {
			continue
		}
		out := make([]netip.Addr, 0, len(ips))
		for _, f := range plan {
			j := slices.Index(fams, f)
			if j < 0 {
				break
			}
			out = append(out, ips[j])
		}
		if len(out) == len(plan) {
			return out, nil
		}
	}
	return nil, fmt.Errorf("%w: %s IPs %v (%v) do not fit ipFamilies %v with ipFamilyPolicy %v, which accepts %v",
		ErrInvalidRequest, what, ips, fams, svc.Families, svc.Policy, plans)
}

// admits reports why pool p's serviceAllocation does not select svc, or nil.
func admits(p *poolState, svc *Service) error {
	sa := p.Allocation
	if sa == nil {
		return nil
	}
	if len(sa.Namespaces) > 0 || len(sa.NamespaceSelectors) > 0 {
		ok := slices.Contains(sa.Namespaces, svc.Key.Namespace)
		for _, sel := range sa.NamespaceSelectors {
			ok = ok || (sel != nil && sel.Matches(svc.NamespaceLabels))
		}
		if !ok {
			return fmt.Errorf("pool %q: %w: namespace %q is not among its namespaces %v and its labels {%v} match none of its namespaceSelectors %v",
				p.Name, ErrNotAdmitted, svc.Key.Namespace, sa.Namespaces, svc.NamespaceLabels, sa.NamespaceSelectors)
		}
	}
	if len(sa.ServiceSelectors) > 0 {
		ok := false
		for _, sel := range sa.ServiceSelectors {
			ok = ok || (sel != nil && sel.Matches(svc.Labels))
		}
		if !ok {
			return fmt.Errorf("pool %q: %w: service labels {%v} match none of its serviceSelectors %v",
				p.Name, ErrNotAdmitted, svc.Labels, sa.ServiceSelectors)
		}
	}
	return nil
}

// candidates returns the pools an automatic allocation tries, in order:
// the autoAssign pools whose serviceAllocation pins the Service (priority
// ascending, unset last, then name), then the other autoAssign pools that
// admit it, by name. If there are none, the error says why each pool was
// passed over.
func (a *Allocator) candidates(svc *Service) ([]*poolState, []string, error) {
	var out []*poolState
	for _, p := range a.pinned {
		if p.AutoAssign && admits(p, svc) == nil {
			out = append(out, p)
		}
	}
	var manual []string
	var refused []string
	for _, p := range a.byName {
		switch err := admits(p, svc); {
		case !p.AutoAssign:
			manual = append(manual, fmt.Sprintf("%q", p.Name))
		case err != nil:
			refused = append(refused, err.Error())
		case !p.Allocation.pins():
			out = append(out, p)
		}
	}
	var why []string
	if len(a.byName) == 0 {
		why = append(why, "no address pools are configured")
	}
	switch {
	case len(manual) == 1:
		why = append(why, fmt.Sprintf("pool %s has autoAssign: false (request it with metallb.io/address-pool or one of its IPs)", manual[0]))
	case len(manual) > 1:
		why = append(why, fmt.Sprintf("pools %s have autoAssign: false (request one with metallb.io/address-pool or one of its IPs)",
			strings.Join(manual, ", ")))
	}
	why = append(why, refused...)
	if len(out) > 0 {
		return out, why, nil
	}
	return nil, nil, fmt.Errorf("%v: %w: %s", svc.Key, ErrNoPool, strings.Join(why, "; "))
}

// shareError says why svc cannot use the IP that use describes, or nil.
// MetalLB's rule: every Service on an IP carries the same allow-shared-ip
// key, no two use the same (protocol, port), and if any is
// externalTrafficPolicy: Local they all have the same backend.
func shareError(use *ipUse, svc *Service) error {
	// Ghosts (Services whose status still shows the IP) keep newcomers
	// out: with no user at all, the IP is reserved for them; with users, a
	// newcomer must also be able to share with each of them. A Service
	// already holding the IP is no newcomer: a ghost never evicts.
	holds := slices.ContainsFunc(use.users, func(h *held) bool { return h.svc.Key == svc.Key })
	for _, g := range use.ghosts {
		if g.Key == svc.Key || holds {
			continue
		}
		if len(use.users) == 0 {
			return fmt.Errorf("%v: %w: it is reserved until the status of %v, which held it, no longer shows it", use.addr, ErrIPInUse, g.Key)
		}
		if err := pairError(g, svc); err != nil {
			return fmt.Errorf("%v: %w: the status of %v, which held it, still shows it, and %w", use.addr, ErrIPInUse, g.Key, err)
		}
	}
	var others []*held
	for _, u := range use.users {
		if u.svc.Key != svc.Key {
			others = append(others, u)
		}
	}
	if len(others) == 0 {
		return nil
	}
	names := make([]string, len(others))
	for i, u := range others {
		names[i] = u.svc.Key.String()
	}
	by := strings.Join(names, ", ")
	switch {
	case use.sharingKey == "":
		return fmt.Errorf("%v: %w by %s, which does not allow sharing (no allow-shared-ip key)", use.addr, ErrIPInUse, by)
	case svc.SharingKey == "":
		return fmt.Errorf("%v: %w by %s, and this service has no allow-shared-ip key (set %q to share it)",
			use.addr, ErrIPInUse, by, use.sharingKey)
	case svc.SharingKey != use.sharingKey:
		return fmt.Errorf("%v: %w by %s: %w: allow-shared-ip key %q differs from their key %q",
			use.addr, ErrIPInUse, by, ErrSharingIncompatible, svc.SharingKey, use.sharingKey)
	case (svc.LocalTraffic || use.local) && (svc.LocalTraffic != use.local || svc.Backend != use.backend):
		return fmt.Errorf("%v: %w by %s: %w: with externalTrafficPolicy Local every service on an IP needs the same backend, but this service has %s and they have %s",
			use.addr, ErrIPInUse, by, ErrSharingIncompatible, backendText(svc.LocalTraffic, svc.Backend), backendText(use.local, use.backend))
	}
	var clashes []string
	for _, u := range others {
		var ports []string
		for _, p := range svc.Ports {
			if slices.Contains(u.svc.Ports, p) {
				ports = append(ports, p.String())
			}
		}
		if len(ports) > 0 {
			clashes = append(clashes, fmt.Sprintf("%s also used by %v", strings.Join(ports, ", "), u.svc.Key))
		}
	}
	if len(clashes) > 0 {
		return fmt.Errorf("%v: %w by %s: %w: port %s", use.addr, ErrIPInUse, by, ErrSharingIncompatible, strings.Join(clashes, "; "))
	}
	return nil
}

// pairError says why svc cannot share an IP with other, by the same rule
// as shareError, or nil.
func pairError(other, svc *Service) error {
	switch {
	case other.SharingKey == "" || svc.SharingKey == "":
		return fmt.Errorf("%w: not both have an allow-shared-ip key", ErrSharingIncompatible)
	case other.SharingKey != svc.SharingKey:
		return fmt.Errorf("%w: allow-shared-ip key %q differs from %q", ErrSharingIncompatible, svc.SharingKey, other.SharingKey)
	case (svc.LocalTraffic || other.LocalTraffic) && (svc.LocalTraffic != other.LocalTraffic || svc.Backend != other.Backend):
		return fmt.Errorf("%w: with externalTrafficPolicy Local both need the same backend", ErrSharingIncompatible)
	}
	for _, p := range svc.Ports {
		if slices.Contains(other.Ports, p) {
			return fmt.Errorf("%w: both use port %s", ErrSharingIncompatible, p)
		}
	}
	return nil
}

func backendText(local bool, backend string) string {
	if !local {
		return "externalTrafficPolicy Cluster"
	}
	return fmt.Sprintf("Local with backend %q", backend)
}

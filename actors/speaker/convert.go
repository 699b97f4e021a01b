package speaker

import (
	"net/netip"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"

	"github.com/heraldlb/herald/announce"
	"github.com/heraldlb/herald/bgpwire"
	"github.com/heraldlb/herald/bgpwire/peer"
	"github.com/heraldlb/herald/informers"
)

// plannedNode is what the planner needs of a Node.
func plannedNode(n *corev1.Node) announce.Node {
	out := announce.Node{Name: n.Name, Labels: n.Labels, Unschedulable: n.Spec.Unschedulable}
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeNetworkUnavailable && c.Status == corev1.ConditionTrue {
			out.NetworkUnavailable = true
		}
	}
	return out
}

// plannedService is what the planner needs of a Service: its status IPs
// (what the controller gave it), labels, traffic policy and the endpoints
// of all its EndpointSlices.
func plannedService(s informers.Service, slices []*discoveryv1.EndpointSlice) announce.Service {
	out := announce.Service{
		Key:    announce.ServiceKey{Namespace: s.Key.Namespace, Name: s.Key.Name},
		Labels: s.Alloc.Labels,
		IPs:    s.StatusIPs,
	}
	if s.Alloc.LocalTraffic {
		out.TrafficPolicy = announce.Local
	}
	for _, sl := range slices {
		for _, ep := range sl.Endpoints {
			e := announce.Endpoint{Ready: condition(ep.Conditions.Ready), Serving: condition(ep.Conditions.Serving)}
			if ep.NodeName != nil {
				e.Node = *ep.NodeName
			}
			out.Endpoints = append(out.Endpoints, e)
		}
	}
	return out
}

func condition(b *bool) announce.Condition {
	switch {
	case b == nil:
		return announce.Unset
	case *b:
		return announce.True
	}
	return announce.False
}

// peerRoute is a planned route as the BGP Peer takes it.
func peerRoute(r announce.Route) peer.Route {
	out := peer.Route{Prefix: r.Prefix, Attrs: peer.Attrs{LocalPref: r.Attrs.LocalPref, HasLocalPref: r.Attrs.HasLocalPref}}
	for _, c := range r.Attrs.Communities {
		out.Attrs.Communities = append(out.Attrs.Communities, bgpwire.Community(c))
	}
	for _, c := range r.Attrs.LargeCommunities {
		out.Attrs.LargeCommunities = append(out.Attrs.LargeCommunities,
			bgpwire.LargeCommunity{GlobalAdmin: c.GlobalAdmin, LocalData1: c.LocalData1, LocalData2: c.LocalData2})
	}
	return out
}

// nodeAddresses are a Node's InternalIP addresses, IPv4 first.
func nodeAddresses(n *corev1.Node) (v4, v6 netip.Addr) {
	for _, a := range n.Status.Addresses {
		if a.Type != corev1.NodeInternalIP {
			continue
		}
		ip, err := netip.ParseAddr(a.Address)
		if err != nil {
			continue
		}
		ip = ip.Unmap()
		if ip.Is4() && !v4.IsValid() {
			v4 = ip
		}
		if ip.Is6() && !v6.IsValid() {
			v6 = ip
		}
	}
	return v4, v6
}

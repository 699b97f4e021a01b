package announce

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"
	"strings"
)

// ExcludeLabel is the node label that keeps a node from announcing, whatever
// its value (the Kubernetes well-known label MetalLB also honours).
const ExcludeLabel = "node.kubernetes.io/exclude-from-external-load-balancers"

// ServiceKey names a Service.
type ServiceKey struct {
	Namespace, Name string
}

func (k ServiceKey) String() string { return k.Namespace + "/" + k.Name }

// Compare orders keys by namespace, then name.
func (k ServiceKey) Compare(o ServiceKey) int {
	return cmp.Or(cmp.Compare(k.Namespace, o.Namespace), cmp.Compare(k.Name, o.Name))
}

// TrafficPolicy is a Service's spec.externalTrafficPolicy.
type TrafficPolicy uint8

const (
	// Cluster announces from every selected node while any endpoint of the
	// Service serves.
	Cluster TrafficPolicy = iota
	// Local announces only from nodes with a serving endpoint of their own.
	Local
)

func (p TrafficPolicy) String() string {
	if p == Local {
		return "Local"
	}
	return "Cluster"
}

// Condition is an EndpointSlice condition, whose API type is *bool: Unset
// stands for nil.
type Condition uint8

// Condition values.
const (
	Unset Condition = iota
	True
	False
)

// Endpoint is what the planner needs of one EndpointSlice endpoint.
type Endpoint struct {
	// Node is the endpoint's nodeName; empty when the slice does not say.
	Node    string
	Ready   Condition
	Serving Condition
}

// Serves reports whether the endpoint can take traffic. The serving
// condition says so when it is set: it stays true while a ready endpoint
// terminates (ready turns false), and kube-proxy falls back to such
// endpoints when there are no others. When it is unset the EndpointSlice
// API says to defer to ready, and an unset ready means ready. This is
// MetalLB's rule.
func (e Endpoint) Serves() bool {
	if e.Serving != Unset {
		return e.Serving == True
	}
	return e.Ready != False
}

// Service is one Service of type LoadBalancer as the planner sees it.
type Service struct {
	Key ServiceKey
	// Labels select the Service for advertisements' serviceSelectors. The
	// planner keeps the map: do not modify it afterwards.
	Labels map[string]string
	// IPs are the addresses in status.loadBalancer.ingress. Invalid ones
	// are ignored, IPv4-mapped IPv6 ones are read as IPv4 and repeats
	// count once.
	IPs           []netip.Addr
	TrafficPolicy TrafficPolicy
	// Endpoints are the endpoints of all of the Service's EndpointSlices.
	Endpoints []Endpoint
}

// Node is what the planner needs of one Node.
type Node struct {
	Name string
	// Labels are matched by node selectors. The planner keeps the map: do
	// not modify it afterwards.
	Labels map[string]string
	// Unschedulable is spec.unschedulable (a cordoned node).
	Unschedulable bool
	// NetworkUnavailable is the condition NetworkUnavailable=True.
	NetworkUnavailable bool
}

// Announces reports whether the node may announce anything: it is not
// labelled ExcludeLabel, not cordoned, and its network is not unavailable.
func (n Node) Announces() bool {
	_, excluded := n.Labels[ExcludeLabel]
	return !excluded && !n.Unschedulable && !n.NetworkUnavailable
}

// Speaker is one live speaker of the alive set.
type Speaker struct {
	Node string
	// Interfaces are the node's interfaces that are up and can answer ARP
	// and NDP. A speaker without one is never an L2 candidate, and one
	// whose interfaces are all outside an advertisement's interfaces list
	// is not a candidate for that advertisement.
	Interfaces []string
}

// LargeCommunity is a BGP large community (RFC 8092).
type LargeCommunity struct {
	GlobalAdmin, LocalData1, LocalData2 uint32
}

func (c LargeCommunity) String() string {
	return fmt.Sprintf("large:%d:%d:%d", c.GlobalAdmin, c.LocalData1, c.LocalData2)
}

// Attrs are the path attributes the planner decides for a route. The next
// hop is not among them: a node announces itself, with the local address of
// each session, which only the session knows.
type Attrs struct {
	// HasLocalPref is set when LocalPref is to be sent: towards iBGP peers,
	// and only when an advertisement sets localPref. Otherwise the session
	// sends its default.
	HasLocalPref bool
	LocalPref    uint32
	// Communities are standard communities (RFC 1997), high<<16|low,
	// ascending, without repeats.
	Communities []uint32
	// LargeCommunities are ascending, without repeats.
	LargeCommunities []LargeCommunity
}

// Equal reports whether a and b are the same attributes.
func (a Attrs) Equal(b Attrs) bool {
	return a.HasLocalPref == b.HasLocalPref && a.LocalPref == b.LocalPref &&
		slices.Equal(a.Communities, b.Communities) && slices.Equal(a.LargeCommunities, b.LargeCommunities)
}

// String prints the attributes the way `kubectl herald` shows them, e.g.
// "localPref=100 communities=65535:65282".
func (a Attrs) String() string {
	var parts []string
	if a.HasLocalPref {
		parts = append(parts, fmt.Sprintf("localPref=%d", a.LocalPref))
	}
	if len(a.Communities) > 0 {
		cs := make([]string, len(a.Communities))
		for i, c := range a.Communities {
			cs[i] = fmt.Sprintf("%d:%d", c>>16, c&0xffff)
		}
		parts = append(parts, "communities="+strings.Join(cs, ","))
	}
	if len(a.LargeCommunities) > 0 {
		cs := make([]string, len(a.LargeCommunities))
		for i, c := range a.LargeCommunities {
			cs[i] = fmt.Sprintf("%d:%d:%d", c.GlobalAdmin, c.LocalData1, c.LocalData2)
		}
		parts = append(parts, "largeCommunities="+strings.Join(cs, ","))
	}
	return strings.Join(parts, " ")
}

// Route is one prefix a node sends to a peer, with its attributes.
type Route struct {
	Prefix netip.Prefix
	Attrs  Attrs
}

func (r Route) String() string {
	if s := r.Attrs.String(); s != "" {
		return r.Prefix.String() + " " + s
	}
	return r.Prefix.String()
}

// AdvertisementPref is one BGPAdvertisement's localPref in a conflict; 0
// means the advertisement sets none.
type AdvertisementPref struct {
	Advertisement string
	LocalPref     uint32
}

// LocalPrefConflict reports advertisements that give one prefix different
// localPrefs towards one iBGP peer from one node. The route is sent with
// Chosen: the highest of them (an advertisement without localPref loses to
// any that sets one).
type LocalPrefConflict struct {
	Node, Peer string
	Prefix     netip.Prefix
	// Advertisements are sorted by name.
	Advertisements []AdvertisementPref
	Chosen         uint32
}

func (c LocalPrefConflict) String() string {
	ads := make([]string, len(c.Advertisements))
	for i, a := range c.Advertisements {
		ads[i] = fmt.Sprintf("%s=%d", a.Advertisement, a.LocalPref)
	}
	return fmt.Sprintf("node %s peer %s prefix %s: localPref conflict (%s), sending %d",
		c.Node, c.Peer, c.Prefix, strings.Join(ads, " "), c.Chosen)
}

func (c *LocalPrefConflict) equal(o *LocalPrefConflict) bool {
	if c == nil || o == nil {
		return c == o
	}
	return c.Node == o.Node && c.Peer == o.Peer && c.Prefix == o.Prefix && c.Chosen == o.Chosen &&
		slices.Equal(c.Advertisements, o.Advertisements)
}

// L2Owner is the node that answers ARP/NDP for an IP.
type L2Owner struct {
	// Node is empty when no node can announce the IP.
	Node string
	// Interfaces are the interfaces of Node that may answer, sorted; nil
	// means any interface.
	Interfaces []string
}

func (o L2Owner) equal(b L2Owner) bool {
	return o.Node == b.Node && slices.Equal(o.Interfaces, b.Interfaces) && (o.Interfaces == nil) == (b.Interfaces == nil)
}

// L2Assignment is the election result for one L2 IP.
type L2Assignment struct {
	IP    netip.Addr
	Owner L2Owner
	// Candidates are every eligible node, best first; the first is the
	// owner, the second takes over if the owner goes.
	Candidates []string
}

// SessionChange says a node now opens (Open) or no longer opens a BGP
// session to a peer.
type SessionChange struct {
	Node, Peer string
	Open       bool
}

// RouteChanges is the difference of one session's routes: what the peer's
// Adj-RIB-Out must add, replace and withdraw. Each list is sorted by prefix.
// A session that opens lists all its routes as Added; one that closes lists
// all of them as Removed.
type RouteChanges struct {
	Node, Peer string
	Added      []Route
	Changed    []Route
	Removed    []netip.Prefix
}

// L2Change is an IP whose owner or interfaces changed.
type L2Change struct {
	IP       netip.Addr
	Old, New L2Owner
}

// Changes is what one planner step changed. Every list is sorted: sessions
// and routes by node then peer, conflicts by node, peer and prefix, L2 by IP.
type Changes struct {
	Sessions []SessionChange
	Routes   []RouteChanges
	// Conflicts are the local preference conflicts that appeared or
	// changed in this step; Planner.Conflicts lists all current ones.
	Conflicts []LocalPrefConflict
	L2        []L2Change
}

// Empty reports whether nothing changed.
func (c Changes) Empty() bool {
	return len(c.Sessions) == 0 && len(c.Routes) == 0 && len(c.Conflicts) == 0 && len(c.L2) == 0
}

// PeerPlan is one session of one node and every route it carries.
type PeerPlan struct {
	Node, Peer string
	// Routes are sorted by prefix.
	Routes []Route
}

// Plan is everything the planner decided, as one value: for `kubectl herald`
// and for tests.
type Plan struct {
	// BGP lists every session of the nodes planned, by node then peer,
	// including sessions that carry no route.
	BGP []PeerPlan
	// Conflicts are sorted by node, peer and prefix.
	Conflicts []LocalPrefConflict
	// L2 lists, by IP, every IP that an L2Advertisement covers for at least
	// one of its Services, with or without an owner.
	L2 []L2Assignment
}

func comparePrefix(a, b netip.Prefix) int {
	return cmp.Or(a.Addr().Compare(b.Addr()), cmp.Compare(a.Bits(), b.Bits()))
}

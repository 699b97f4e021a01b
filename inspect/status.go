package inspect

import (
	"cmp"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/heraldlb/herald/api/v1beta1"
	"github.com/heraldlb/herald/informers"
)

// StatusFacts is everything status reads.
type StatusFacts struct {
	Pools    []v1beta1.IPAddressPool
	Sessions []v1beta1.BGPSessionState
	BGP      []v1beta1.ServiceBGPStatus
	L2       []v1beta1.ServiceL2Status
	States   []v1beta1.ConfigurationState
	// Services are read for the IPs of the announced ones.
	Services []corev1.Service
}

// Status is status's answer.
type Status struct {
	Configuration []ConfigState  `json:"configuration"`
	Pools         []PoolUsage    `json:"pools"`
	Sessions      []Session      `json:"sessions"`
	Announcements []Announcement `json:"announcements"`
	// NotReported lists what Herald does not publish, so status cannot
	// show it.
	NotReported []string `json:"notReported,omitempty"`
}

// ConfigState is one component's ConfigurationState.
type ConfigState struct {
	Name     string `json:"name"`
	Result   string `json:"result"`
	Errors   string `json:"errors,omitempty"`
	Warnings string `json:"warnings,omitempty"`
}

// PoolUsage is one IPAddressPool with the usage its status reports.
type PoolUsage struct {
	Name          string   `json:"name"`
	Addresses     []string `json:"addresses"`
	AutoAssign    bool     `json:"autoAssign"`
	AssignedIPv4  int64    `json:"assignedIPv4"`
	AvailableIPv4 int64    `json:"availableIPv4"`
	AssignedIPv6  int64    `json:"assignedIPv6"`
	AvailableIPv6 int64    `json:"availableIPv6"`
}

// Session is one node's BGP session with one BGPPeer.
type Session struct {
	Node         string `json:"node"`
	Peer         string `json:"peer"`
	Address      string `json:"address,omitempty"`
	BGPState     string `json:"bgpState,omitempty"`
	BFDState     string `json:"bfdState,omitempty"`
	PrefixesIPv4 int64  `json:"prefixesIPv4"`
	PrefixesIPv6 int64  `json:"prefixesIPv6"`
	LastError    string `json:"lastError,omitempty"`
}

// Announcement is one node announcing one Service: to BGP peers, or by
// answering ARP/NDP on interfaces.
type Announcement struct {
	Service    string   `json:"service"`
	IPs        []string `json:"ips,omitempty"`
	Mode       string   `json:"mode"`
	Node       string   `json:"node"`
	Peers      []string `json:"peers,omitempty"`
	Interfaces []string `json:"interfaces,omitempty"`
}

// Announcement modes.
const (
	ModeBGP = "BGP"
	ModeL2  = "L2"
)

// notReported is what Herald keeps to itself: said in the output so an
// empty column is not mistaken for "none".
var notReported = []string{
	"the liveness mesh (which speakers are alive) is not published as an object; see the speakers' metrics and logs",
}

// BuildStatus assembles status's answer from what was read.
func BuildStatus(f StatusFacts) Status {
	s := Status{NotReported: notReported, Configuration: []ConfigState{}, Pools: []PoolUsage{},
		Sessions: []Session{}, Announcements: []Announcement{}}
	for _, c := range f.States {
		s.Configuration = append(s.Configuration, ConfigState{Name: c.Name, Result: string(c.Status.Result),
			Errors: strings.TrimSpace(c.Status.ErrorSummary), Warnings: strings.TrimSpace(c.Status.WarningSummary)})
	}
	slices.SortFunc(s.Configuration, func(a, b ConfigState) int { return cmp.Compare(a.Name, b.Name) })
	for _, p := range f.Pools {
		s.Pools = append(s.Pools, PoolUsage{Name: p.Name, Addresses: p.Spec.Addresses,
			AutoAssign:   p.Spec.AutoAssign == nil || *p.Spec.AutoAssign,
			AssignedIPv4: p.Status.AssignedIPv4, AvailableIPv4: p.Status.AvailableIPv4,
			AssignedIPv6: p.Status.AssignedIPv6, AvailableIPv6: p.Status.AvailableIPv6})
	}
	slices.SortFunc(s.Pools, func(a, b PoolUsage) int { return cmp.Compare(a.Name, b.Name) })
	for _, o := range f.Sessions {
		st := o.Status
		s.Sessions = append(s.Sessions, Session{Node: st.Node, Peer: st.Peer, Address: st.PeerAddress,
			BGPState: st.BGPState, BFDState: st.BFDState, PrefixesIPv4: st.PrefixesIPv4, PrefixesIPv6: st.PrefixesIPv6,
			LastError: st.LastError})
	}
	slices.SortFunc(s.Sessions, func(a, b Session) int { return cmp.Or(cmp.Compare(a.Node, b.Node), cmp.Compare(a.Peer, b.Peer)) })

	ips := map[string][]string{}
	for i := range f.Services {
		svc := &f.Services[i]
		for _, ip := range informers.StatusIPs(svc) {
			key := svc.Namespace + "/" + svc.Name
			ips[key] = append(ips[key], ip.String())
		}
	}
	for _, o := range f.BGP {
		st := o.Status
		if len(st.Peers) == 0 {
			continue
		}
		key := st.ServiceNamespace + "/" + st.ServiceName
		s.Announcements = append(s.Announcements, Announcement{Service: key, IPs: ips[key], Mode: ModeBGP, Node: st.Node,
			Peers: slices.Sorted(slices.Values(st.Peers))})
	}
	for _, o := range f.L2 {
		st := o.Status
		key := st.ServiceNamespace + "/" + st.ServiceName
		a := Announcement{Service: key, IPs: ips[key], Mode: ModeL2, Node: st.Node}
		for _, i := range st.Interfaces {
			a.Interfaces = append(a.Interfaces, i.Name)
		}
		s.Announcements = append(s.Announcements, a)
	}
	slices.SortFunc(s.Announcements, func(a, b Announcement) int {
		return cmp.Or(cmp.Compare(a.Service, b.Service), cmp.Compare(a.Mode, b.Mode), cmp.Compare(a.Node, b.Node))
	})
	return s
}

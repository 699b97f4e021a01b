package l2

import (
	"fmt"
	"net/netip"
	"path"
	"slices"
)

// Link is what interface discovery knows about one network interface.
type Link struct {
	Index int
	Name  string
	// Kind is the netlink link type: "device" for a physical NIC, "veth",
	// "bridge", "bond", "vlan", "macvlan", "dummy", ...
	Kind        string
	MAC         MAC
	Ethernet    bool // the link has a 6-byte Ethernet address (ARP and NDP over Ethernet work)
	AdminUp     bool // IFF_UP: configured up
	OperUp      bool // IFF_RUNNING: operationally up (carrier, lower layers up)
	Loopback    bool
	NoARP       bool
	MasterIndex int            // the bond, bridge or VRF the link is enslaved to; 0 for none
	Addrs       []netip.Prefix // in order; a copy per Event
}

// Up is whether frames can flow: configured up and operationally up.
func (l Link) Up() bool { return l.AdminUp && l.OperUp }

func (l Link) clone() Link {
	l.Addrs = slices.Clone(l.Addrs)
	return l
}

// Reason says why a link cannot announce service IPs; ReasonUsable when
// it can.
type Reason string

// Reasons, in the order Filter checks them.
const (
	ReasonUsable      Reason = ""
	ReasonLoopback    Reason = "loopback"
	ReasonExcluded    Reason = "excluded by name"
	ReasonNotEthernet Reason = "no Ethernet address"
	ReasonNoARP       Reason = "NOARP"
	ReasonEnslaved    Reason = "enslaved to a bond, bridge or VRF"
	ReasonAdminDown   Reason = "administratively down"
	ReasonNoCarrier   Reason = "operationally down"
)

// DefaultExclude are name patterns of interfaces that container runtimes,
// CNI plugins and kube-proxy create; a service IP answered on one of them
// would be answered inside the node, not on the network. The list joins
// the defaults of MetalLB (announcedInterfacesToExclude) and of Calico's
// address autodetection with the devices of Cilium, Antrea, OVN-Kubernetes,
// kube-router and Weave.
var DefaultExclude = []string{
	"lo", "docker*", "cbr*", "dummy*", "virbr*", "lxcbr*", "lxc*", "veth*",
	"cali*", "tunl*", "vxlan*", "flannel*", "cni*", "kube-ipvs*", "nodelocaldns*",
	"cilium_*", "genev_sys_*", "antrea-*", "ovs-system", "br-int", "ovn-k8s-mp*",
	"kube-bridge", "kube-dummy-if", "weave", "datapath", "wireguard.cali", "wg-v6.cali",
}

// Filter decides which links may announce service IPs. It is a pure value.
type Filter struct {
	exclude []string
}

// NewFilter builds a filter excluding interfaces whose name matches one of
// the glob patterns (path.Match syntax: *, ?, [a-z]). Pass DefaultExclude,
// possibly extended, for the usual cluster; nil excludes no name.
func NewFilter(exclude []string) (Filter, error) {
	for _, p := range exclude {
		if _, err := path.Match(p, ""); err != nil {
			return Filter{}, fmt.Errorf("%w: interface exclusion pattern %q: %w", ErrConfig, p, err)
		}
	}
	return Filter{exclude: slices.Clone(exclude)}, nil
}

// Excluded reports the first pattern name matches, if any.
func (f Filter) Excluded(name string) (pattern string, excluded bool) {
	for _, p := range f.exclude {
		if ok, _ := path.Match(p, name); ok {
			return p, true
		}
	}
	return "", false
}

// Usable says whether l may announce service IPs, and if not, why. A link
// is usable when it is not loopback, not excluded by name, has an Ethernet
// address, does ARP, is not a bond or bridge port (the master answers for
// it: answering on a port too would give two answers), and is up.
func (f Filter) Usable(l Link) Reason {
	switch {
	case l.Loopback:
		return ReasonLoopback
	case f.isExcluded(l.Name):
		return ReasonExcluded
	case !l.Ethernet:
		return ReasonNotEthernet
	case l.NoARP:
		return ReasonNoARP
	case l.MasterIndex != 0:
		return ReasonEnslaved
	case !l.AdminUp:
		return ReasonAdminDown
	case !l.OperUp:
		return ReasonNoCarrier
	}
	return ReasonUsable
}

func (f Filter) isExcluded(name string) bool {
	_, ok := f.Excluded(name)
	return ok
}

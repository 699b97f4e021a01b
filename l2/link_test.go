package l2

import (
	"errors"
	"net/netip"
	"slices"
	"testing"
)

func usableLink(name string) Link {
	return Link{Index: 2, Name: name, Kind: "device", MAC: selfMAC, Ethernet: true, AdminUp: true, OperUp: true}
}

func TestFilterUsable(t *testing.T) {
	f, err := NewFilter(DefaultExclude)
	if err != nil {
		t.Fatal(err)
	}
	with := func(name string, change func(*Link)) Link {
		l := usableLink(name)
		change(&l)
		return l
	}
	tests := []struct {
		name string
		link Link
		want Reason
	}{
		{"physical NIC, up", usableLink("eth0"), ReasonUsable},
		{"predictable name", usableLink("enp3s0f1"), ReasonUsable},
		{"bond", with("bond0", func(l *Link) { l.Kind = "bond" }), ReasonUsable},
		{"bridge holding the node IP", with("br0", func(l *Link) { l.Kind = "bridge" }), ReasonUsable},
		{"OVN-Kubernetes external bridge", with("br-ex", func(l *Link) { l.Kind = "openvswitch" }), ReasonUsable},
		{"VLAN", with("eth0.100", func(l *Link) { l.Kind = "vlan" }), ReasonUsable},
		{"macvlan", with("macvlan0", func(l *Link) { l.Kind = "macvlan" }), ReasonUsable},
		{"loopback", with("lo", func(l *Link) { l.Loopback = true }), ReasonLoopback},
		{"loopback under another name", with("lo2", func(l *Link) { l.Loopback = true }), ReasonLoopback},
		{"bond slave", with("eth1", func(l *Link) { l.MasterIndex = 7 }), ReasonEnslaved},
		{"bridge port", with("eth2", func(l *Link) { l.MasterIndex = 8 }), ReasonEnslaved},
		{"NOARP", with("eth3", func(l *Link) { l.NoARP = true }), ReasonNoARP},
		{"no Ethernet address (wireguard, tun)", with("wg0", func(l *Link) { l.Ethernet, l.MAC = false, MAC{} }), ReasonNotEthernet},
		{"administratively down", with("eth0", func(l *Link) { l.AdminUp = false }), ReasonAdminDown},
		{"no carrier", with("eth0", func(l *Link) { l.OperUp = false }), ReasonNoCarrier},
		{"pod veth", usableLink("veth1a2b3c"), ReasonExcluded},
		{"Calico workload", usableLink("cali12345abcdef"), ReasonExcluded},
		{"Calico VXLAN", usableLink("vxlan.calico"), ReasonExcluded},
		{"Calico IPIP", usableLink("tunl0"), ReasonExcluded},
		{"Cilium host", usableLink("cilium_host"), ReasonExcluded},
		{"Cilium health", usableLink("lxc_health"), ReasonExcluded},
		{"Cilium endpoint", usableLink("lxc9f8e7d6c5b4a"), ReasonExcluded},
		{"Flannel", usableLink("flannel.1"), ReasonExcluded},
		{"CNI bridge", usableLink("cni0"), ReasonExcluded},
		{"docker", usableLink("docker0"), ReasonExcluded},
		{"kube-proxy IPVS dummy", usableLink("kube-ipvs0"), ReasonExcluded},
		{"NodeLocal DNSCache", usableLink("nodelocaldns"), ReasonExcluded},
		{"Antrea gateway", usableLink("antrea-gw0"), ReasonExcluded},
		{"OVN integration bridge", usableLink("br-int"), ReasonExcluded},
		{"OVN management port", usableLink("ovn-k8s-mp0"), ReasonExcluded},
		{"kube-router bridge", usableLink("kube-bridge"), ReasonExcluded},
		{"excluded and down: excluded is reported", with("veth9", func(l *Link) { l.AdminUp = false }), ReasonExcluded},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := f.Usable(tt.link); got != tt.want {
				t.Fatalf("Usable(%+v) = %q, want %q", tt.link, got, tt.want)
			}
		})
	}
}

func TestFilterCustomExclusions(t *testing.T) {
	f, err := NewFilter([]string{"eth1", "ens[4-5]*"})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		pattern string
	}{
		{"eth1", "eth1"},
		{"eth10", ""},
		{"ens4f0", "ens[4-5]*"},
		{"ens3", ""},
		{"veth0", ""}, // the defaults are not implied
	}
	for _, tt := range tests {
		p, ok := f.Excluded(tt.name)
		if p != tt.pattern || ok != (tt.pattern != "") {
			t.Errorf("Excluded(%q) = %q, %v; want %q", tt.name, p, ok, tt.pattern)
		}
	}
	if _, err := NewFilter([]string{"eth[0"}); !errors.Is(err, ErrConfig) {
		t.Fatalf("bad pattern: %v, want ErrConfig", err)
	}
}

// tableStep feeds one notification to a linkTable and states the events.
type tableStep struct {
	name   string
	link   *Link // setLink
	remove int   // removeLink(index)
	addr   *addrNote
	list   []Link // replace
	want   []string
}

type addrNote struct {
	index int
	p     string
	added bool
}

func eventString(e Event) string {
	s := e.Kind.String() + " " + e.Link.Name
	if e.Addr.IsValid() {
		s += " " + e.Addr.String()
	}
	if e.Reason != ReasonUsable {
		s += " (" + string(e.Reason) + ")"
	}
	return s
}

func TestLinkTable(t *testing.T) {
	f, _ := NewFilter(DefaultExclude)
	eth0 := usableLink("eth0")
	down := eth0
	down.OperUp = false
	renamed := eth0
	renamed.Name = "uplink"
	veth := usableLink("veth1")
	veth.Index = 5
	p := func(s string) netip.Prefix { return netip.MustParsePrefix(s) }
	withAddrs := func(l Link, ps ...string) Link {
		for _, s := range ps {
			l.Addrs = append(l.Addrs, p(s))
		}
		return l
	}
	steps := []tableStep{
		{name: "first listing", list: []Link{withAddrs(eth0, "192.0.2.5/24"), veth},
			want: []string{"LinkAdded eth0", "AddrAdded eth0 192.0.2.5/24", "LinkAdded veth1 (excluded by name)"}},
		{name: "same state again", link: &eth0},
		{name: "carrier lost", link: &down, want: []string{"LinkDown eth0 (operationally down)"}},
		{name: "still down", link: &down},
		{name: "carrier back", link: &eth0, want: []string{"LinkUp eth0"}},
		{name: "renamed", link: &renamed, want: []string{"LinkChanged uplink"}},
		{name: "IPv6 address", addr: &addrNote{2, "2001:db8::5/64", true}, want: []string{"AddrAdded uplink 2001:db8::5/64"}},
		{name: "same address again", addr: &addrNote{2, "2001:db8::5/64", true}},
		{name: "address removed", addr: &addrNote{2, "192.0.2.5/24", false}, want: []string{"AddrRemoved uplink 192.0.2.5/24"}},
		{name: "removing an unknown address", addr: &addrNote{2, "192.0.2.5/24", false}},
		{name: "address for a link not seen yet", addr: &addrNote{9, "198.51.100.1/24", true}},
		{name: "that link appears with it", link: &Link{Index: 9, Name: "eth9", MAC: otherMAC, Ethernet: true, AdminUp: true, OperUp: true},
			want: []string{"LinkAdded eth9"}},
		{name: "veth deleted", remove: 5, want: []string{"LinkRemoved veth1 (excluded by name)"}},
		{name: "deleting it again", remove: 5},
		{name: "relisting after a lost subscription: eth9 vanished, uplink lost an address",
			list: []Link{renamed},
			want: []string{"LinkRemoved eth9", "AddrRemoved uplink 2001:db8::5/64"}},
	}
	tb := newLinkTable(f)
	for _, st := range steps {
		var evs []Event
		switch {
		case st.link != nil:
			evs = tb.setLink(*st.link)
		case st.remove != 0:
			evs = tb.removeLink(st.remove)
		case st.addr != nil:
			evs = tb.setAddr(st.addr.index, p(st.addr.p), st.addr.added)
		default:
			evs = tb.replace(st.list)
		}
		var got []string
		for _, e := range evs {
			got = append(got, eventString(e))
		}
		if !slices.Equal(got, st.want) {
			t.Fatalf("%s: events %q, want %q", st.name, got, st.want)
		}
	}
	l := tb.links[9]
	if l != nil {
		t.Fatalf("eth9 still known after relisting: %+v", l)
	}
}

// TestLinkTableEventsCarryCopies: an event's Link is a snapshot the
// receiver may keep; later changes do not show through it.
func TestLinkTableEventsCarryCopies(t *testing.T) {
	tb := newLinkTable(Filter{})
	tb.setLink(usableLink("eth0"))
	ev := tb.setAddr(2, netip.MustParsePrefix("192.0.2.5/24"), true)[0]
	tb.setAddr(2, netip.MustParsePrefix("192.0.2.6/24"), true)
	if len(ev.Link.Addrs) != 1 {
		t.Fatalf("earlier event's Addrs changed to %v", ev.Link.Addrs)
	}
	if got := tb.links[2].Addrs; len(got) != 2 || !slices.IsSortedFunc(got, comparePrefix) {
		t.Fatalf("table addresses %v, want two, sorted", got)
	}
}

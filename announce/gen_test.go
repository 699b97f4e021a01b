package announce

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/heraldlb/herald/api/v1beta1"
	"github.com/heraldlb/herald/api/v1beta2"
	"github.com/heraldlb/herald/config"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"pgregory.net/rapid"
)

// Generators for the property tests: small worlds where everything meets
// everything. Pools take /28 (IPv4) and /124 (IPv6) slots; Services take
// addresses from those slots and from one slot no pool has, and share them
// often.

var (
	genNodeNames = []string{"n1", "n2", "n3", "n4"}
	// genSpeakerNames include n5, which never has a Node.
	genSpeakerNames = []string{"n1", "n2", "n3", "n4", "n5"}
	genPoolNames    = []string{"pa", "pb", "pc"}
	genIfaces       = []string{"eth0", "eth1"}
	genCommunities  = []string{"65535:65282", "no-export", "tag", "8000:800", "large:1:2:3", "large:1:2:4", "7:7"}
	// Four IPv4 and two IPv6 slots; the last of each belongs to no pool.
	genV4Slots = 4
	genV6Slots = 2
)

func v4Slot(i int) netip.Prefix {
	return netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 0, byte(i), 0}), 28)
}
func v6Slot(i int) netip.Prefix {
	return netip.PrefixFrom(netip.AddrFrom16([16]byte{0: 0xfd, 13: byte(i)}), 124)
}

func sel(kv ...string) metav1.LabelSelector {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return metav1.LabelSelector{MatchLabels: m}
}

// genSelectors draws no selector (every object) or one or two of a few
// that overlap on some nodes.
func genNodeSelectors(t *rapid.T, label string) []metav1.LabelSelector {
	all := []metav1.LabelSelector{sel("rack", "a"), sel("rack", "b"), sel("zone", "x"), sel("disk", "ssd")}
	var out []metav1.LabelSelector
	for i, s := range all {
		if rapid.IntRange(0, 5).Draw(t, fmt.Sprintf("%s%d", label, i)) == 0 {
			out = append(out, s)
		}
	}
	return out
}

// oneIn is true about once in n draws. rapid draws small integers more
// often than large ones, so it tests a value from the middle of the range.
func oneIn(t *rapid.T, label string, n int) bool {
	return rapid.IntRange(0, n-1).Draw(t, label) == n/2
}

func genPoolChoice(t *rapid.T, label string, pools []v1beta1.IPAddressPool) ([]string, []metav1.LabelSelector) {
	switch rapid.IntRange(0, 2).Draw(t, label+"mode") {
	case 1:
		var names []string
		for _, p := range pools {
			if rapid.Bool().Draw(t, label+p.Name) {
				names = append(names, p.Name)
			}
		}
		if len(names) > 0 {
			return names, nil
		}
	case 2:
		p := rapid.SampledFrom(pools).Draw(t, label+"by")
		return nil, []metav1.LabelSelector{sel("zone", p.Labels["zone"])}
	}
	return nil, nil
}

func genConfig(t *rapid.T) *config.Config {
	var in config.Input
	in.Communities = []v1beta1.Community{{ObjectMeta: metav1.ObjectMeta{Name: "aliases"},
		Spec: v1beta1.CommunitySpec{Communities: []v1beta1.CommunityAlias{{Name: "tag", Value: "8000:800"}}}}}
	addrs := map[string][]string{}
	for i := range genV4Slots - 1 {
		if owner := rapid.SampledFrom([]int{0, 1, 2, 0, 1, 2, -1}).Draw(t, fmt.Sprint("v4slot", i)); owner >= 0 {
			addrs[genPoolNames[owner]] = append(addrs[genPoolNames[owner]], v4Slot(i).String())
		}
	}
	for i := range genV6Slots - 1 {
		if owner := rapid.SampledFrom([]int{0, 1, 2, 0, 1, 2, -1}).Draw(t, fmt.Sprint("v6slot", i)); owner >= 0 {
			addrs[genPoolNames[owner]] = append(addrs[genPoolNames[owner]], v6Slot(i).String())
		}
	}
	for _, name := range genPoolNames {
		if len(addrs[name]) == 0 {
			continue
		}
		in.IPAddressPools = append(in.IPAddressPools, v1beta1.IPAddressPool{
			ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"zone": rapid.SampledFrom([]string{"east", "west"}).Draw(t, name+"zone")}},
			Spec:       v1beta1.IPAddressPoolSpec{Addresses: addrs[name]},
		})
	}
	var peers []string
	for i := range rapid.SampledFrom([]int{0, 1, 2, 2, 3}).Draw(t, "peers") {
		name := fmt.Sprint("p", i+1)
		peers = append(peers, name)
		in.BGPPeers = append(in.BGPPeers, v1beta2.BGPPeer{ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec: v1beta2.BGPPeerSpec{MyASN: 64512, ASN: rapid.SampledFrom([]uint32{64512, 64513}).Draw(t, name+"asn"),
				// localASN, when drawn, is what the session presents: it
				// decides iBGP, not myASN.
				LocalASN: rapid.SampledFrom([]uint32{0, 0, 64512, 64513}).Draw(t, name+"localasn"),
				Address:  fmt.Sprint("192.0.2.", i+1), Port: 179, NodeSelectors: genNodeSelectors(t, name+"nodes")}})
	}
	if len(in.IPAddressPools) == 0 {
		return compileGen(t, in)
	}
	// Advertisements without serviceSelectors share one localPref, so
	// config never refuses them; those with selectors may differ, and
	// conflict in the plan.
	commonPref := rapid.SampledFrom([]uint32{0, 100}).Draw(t, "commonPref")
	for i := range rapid.SampledFrom([]int{0, 1, 2, 2, 3, 3}).Draw(t, "bgpAds") {
		name := fmt.Sprint("b", i+1)
		pools, poolSels := genPoolChoice(t, name+"pools", in.IPAddressPools)
		spec := v1beta1.BGPAdvertisementSpec{IPAddressPools: pools, IPAddressPoolSelectors: poolSels,
			NodeSelectors: genNodeSelectors(t, name+"nodes"), LocalPref: commonPref}
		// serviceSelectors need aggregation lengths 32 and 128.
		agg, agg6 := int32(32), int32(128)
		if rapid.Bool().Draw(t, name+"bySvc") {
			spec.ServiceSelectors = []metav1.LabelSelector{sel("app", rapid.SampledFrom([]string{"x", "y"}).Draw(t, name+"app"))}
			spec.LocalPref = rapid.SampledFrom([]uint32{0, 100, 200}).Draw(t, name+"pref")
		} else {
			agg = rapid.SampledFrom([]int32{32, 30, 28}).Draw(t, name+"agg")
			agg6 = rapid.SampledFrom([]int32{128, 126, 124}).Draw(t, name+"agg6")
		}
		spec.AggregationLength, spec.AggregationLengthV6 = &agg, &agg6
		for _, p := range peers {
			if rapid.IntRange(0, 2).Draw(t, name+p) == 0 {
				spec.Peers = append(spec.Peers, p)
			}
		}
		for _, c := range genCommunities {
			if rapid.IntRange(0, 3).Draw(t, name+c) == 0 {
				spec.Communities = append(spec.Communities, c)
			}
		}
		in.BGPAdvertisements = append(in.BGPAdvertisements, v1beta1.BGPAdvertisement{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: spec})
	}
	for i := range rapid.IntRange(0, 2).Draw(t, "l2Ads") {
		name := fmt.Sprint("l", i+1)
		pools, poolSels := genPoolChoice(t, name+"pools", in.IPAddressPools)
		spec := v1beta1.L2AdvertisementSpec{IPAddressPools: pools, IPAddressPoolSelectors: poolSels, NodeSelectors: genNodeSelectors(t, name+"nodes")}
		for _, ifc := range genIfaces {
			if rapid.IntRange(0, 3).Draw(t, name+ifc) == 0 {
				spec.Interfaces = append(spec.Interfaces, ifc)
			}
		}
		if rapid.Bool().Draw(t, name+"bySvc") {
			spec.ServiceSelectors = []metav1.LabelSelector{sel("app", rapid.SampledFrom([]string{"x", "y"}).Draw(t, name+"app"))}
		}
		for j, s := range []metav1.LabelSelector{sel("rack", "a"), sel("disk", "ssd")} {
			if rapid.Bool().Draw(t, fmt.Sprint(name, "pref", j)) {
				spec.PreferredNodeSelectors = append(spec.PreferredNodeSelectors, v1beta1.PreferredNodeSelector{
					Weight: rapid.SampledFrom([]int32{1, 10, 50}).Draw(t, fmt.Sprint(name, "weight", j)), Preference: s})
			}
		}
		in.L2Advertisements = append(in.L2Advertisements, v1beta1.L2Advertisement{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: spec})
	}
	return compileGen(t, in)
}

func compileGen(t *rapid.T, in config.Input) *config.Config {
	cfg, err := config.Compile(in)
	if err != nil {
		t.Fatalf("the generator made an invalid configuration: %v", err)
	}
	return cfg
}

func genNode(t *rapid.T, name string) Node {
	n := Node{Name: name, Labels: map[string]string{}}
	if r := rapid.SampledFrom([]string{"a", "b", ""}).Draw(t, name+"rack"); r != "" {
		n.Labels["rack"] = r
	}
	for _, l := range []string{"zone=x", "disk=ssd"} {
		if rapid.Bool().Draw(t, name+l) {
			k, v, _ := strings.Cut(l, "=")
			n.Labels[k] = v
		}
	}
	if oneIn(t, name+"excluded", 12) {
		n.Labels[ExcludeLabel] = ""
	}
	n.Unschedulable = oneIn(t, name+"cordoned", 12)
	n.NetworkUnavailable = oneIn(t, name+"netDown", 12)
	return n
}

func genSpeaker(t *rapid.T, name string) Speaker {
	sp := Speaker{Node: name}
	for _, ifc := range genIfaces {
		if rapid.IntRange(0, 3).Draw(t, name+ifc) > 0 {
			sp.Interfaces = append(sp.Interfaces, ifc)
		}
	}
	return sp
}

func genSpeakers(t *rapid.T) []Speaker {
	var out []Speaker
	for _, name := range genSpeakerNames {
		if rapid.IntRange(0, 4).Draw(t, name+"alive") > 0 {
			out = append(out, genSpeaker(t, name))
		}
	}
	return out
}

// genAddr draws an address from a slot, mostly one that pools may hold.
func genAddr(t *rapid.T, label string) netip.Addr {
	host := rapid.SampledFrom([]byte{1, 2}).Draw(t, label+"host")
	if rapid.IntRange(0, 3).Draw(t, label+"fam") == 0 {
		a := v6Slot(rapid.IntRange(0, genV6Slots-1).Draw(t, label+"slot")).Addr().As16()
		a[15] = host
		return netip.AddrFrom16(a)
	}
	a := v4Slot(rapid.IntRange(0, genV4Slots-1).Draw(t, label+"slot")).Addr().As4()
	a[3] = host
	return netip.AddrFrom4(a)
}

var genServiceNames = []string{"s0", "s1", "s2", "s3", "s4", "s5"}

func genService(t *rapid.T, name string) Service {
	s := Service{Key: ServiceKey{"ns", name}}
	for i := range rapid.IntRange(1, 2).Draw(t, name+"ips") {
		s.IPs = append(s.IPs, genAddr(t, fmt.Sprint(name, "ip", i)))
	}
	if app := rapid.SampledFrom([]string{"x", "y", ""}).Draw(t, name+"app"); app != "" {
		s.Labels = map[string]string{"app": app}
	}
	if rapid.IntRange(0, 2).Draw(t, name+"local") == 0 {
		s.TrafficPolicy = Local
	}
	conds := []Condition{Unset, True, True, False}
	for i := range rapid.IntRange(0, 4).Draw(t, name+"eps") {
		l := fmt.Sprint(name, "ep", i)
		s.Endpoints = append(s.Endpoints, Endpoint{
			Node:    rapid.SampledFrom(append(slices.Clone(genNodeNames), genNodeNames[0], genNodeNames[1], "n5", "")).Draw(t, l+"node"),
			Ready:   rapid.SampledFrom(conds).Draw(t, l+"ready"),
			Serving: rapid.SampledFrom(conds).Draw(t, l+"serving"),
		})
	}
	return s
}

// genInput draws a whole world.
func genInput(t *rapid.T) Input {
	in := Input{Config: genConfig(t), Speakers: genSpeakers(t)}
	for _, name := range genNodeNames {
		if rapid.IntRange(0, 5).Draw(t, name+"known") > 0 {
			in.Nodes = append(in.Nodes, genNode(t, name))
		}
	}
	for _, name := range genServiceNames {
		if rapid.IntRange(0, 5).Draw(t, name+"exists") > 0 {
			in.Services = append(in.Services, genService(t, name))
		}
	}
	return in
}

package speaker

import (
	"slices"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/labels"

	"github.com/heraldlb/herald/config"
)

// TestInterfaceCheckSaysOncePerSituation walks one node through a sequence
// of configurations and interface lists and checks, at each step, which
// L2Advertisements get an InterfaceNotFound warning.
func TestInterfaceCheckSaysOncePerSituation(t *testing.T) {
	rackA := config.NodeSelection{Selectors: []labels.Selector{labels.SelectorFromSet(labels.Set{"rack": "a"})}}
	adv := func(name string, nodes config.NodeSelection, ifaces ...string) *config.L2Advertisement {
		return &config.L2Advertisement{Namespace: "metallb-system", Name: name, Nodes: nodes, Interfaces: ifaces}
	}
	cfg := func(advs ...*config.L2Advertisement) *config.Config { return &config.Config{L2Advertisements: advs} }
	inRackA := labels.Set{"rack": "a"}

	c := newInterfaceCheck()
	for _, step := range []struct {
		name   string
		cfg    *config.Config
		labels labels.Set
		usable []string
		// want are the advertisements warned about (names), and a
		// fragment each message must hold.
		want     []string
		contains string
	}{
		{"no interfaces named: nothing to check", cfg(adv("all", config.NodeSelection{})), nil, []string{"eth0"}, nil, ""},
		{"the named interface exists", cfg(adv("eth0", config.NodeSelection{}, "eth0")), nil, []string{"eth0", "eth1"}, nil, ""},
		{"one of several names exists: a list for several kinds of node", cfg(adv("mixed", config.NodeSelection{}, "bond0", "eth1")), nil, []string{"eth0", "eth1"}, nil, ""},
		{"none exists", cfg(adv("bond", config.NodeSelection{}, "bond0")), nil, []string{"eth0", "eth1"},
			[]string{"bond"}, "node n1 has none of the interfaces bond0"},
		{"the same again is not said twice", cfg(adv("bond", config.NodeSelection{}, "bond0")), nil, []string{"eth0", "eth1"}, nil, ""},
		{"this node's interfaces change, still none matches: said anew", cfg(adv("bond", config.NodeSelection{}, "bond0")), nil, []string{"eth0"},
			[]string{"bond"}, "usable interfaces there: eth0)"},
		{"no usable interface at all", cfg(adv("bond", config.NodeSelection{}, "bond0")), nil, nil,
			[]string{"bond"}, "usable interfaces there: none)"},
		{"fixed: bond0 came up", cfg(adv("bond", config.NodeSelection{}, "bond0")), nil, []string{"bond0"}, nil, ""},
		{"broken again after the fix is said again", cfg(adv("bond", config.NodeSelection{}, "bond0")), nil, []string{"eth0"},
			[]string{"bond"}, "none of the interfaces bond0"},
		{"an advertisement not selecting this node is not this node's business", cfg(adv("rack-a", rackA, "bond0")), labels.Set{"rack": "b"}, []string{"eth0"}, nil, ""},
		{"one that selects it is", cfg(adv("rack-a", rackA, "bond0")), inRackA, []string{"eth0"},
			[]string{"rack-a"}, "bond0"},
		{"two broken ones at once, each said once",
			cfg(adv("rack-a", rackA, "bond0"), adv("vlan", config.NodeSelection{}, "eth0.100", "eth0.200")), inRackA, []string{"eth0"},
			[]string{"vlan"}, "eth0.100, eth0.200"},
		{"rack-a deleted, vlan unchanged: nothing new", cfg(adv("vlan", config.NodeSelection{}, "eth0.100", "eth0.200")), inRackA, []string{"eth0"}, nil, ""},
		{"rack-a back after its deletion", cfg(adv("rack-a", rackA, "bond0")), inRackA, []string{"eth0"},
			[]string{"rack-a"}, "bond0"},
	} {
		got := c.check(step.cfg, "n1", step.labels, step.usable)
		var names []string
		for _, w := range got {
			names = append(names, w.name)
			if w.namespace != "metallb-system" {
				t.Errorf("%s: warning on %s/%s, want namespace metallb-system", step.name, w.namespace, w.name)
			}
			if !strings.Contains(w.message, step.contains) {
				t.Errorf("%s: message %q lacks %q", step.name, w.message, step.contains)
			}
		}
		if !slices.Equal(names, step.want) {
			t.Errorf("%s: warned about %v, want %v", step.name, names, step.want)
		}
	}
}

func TestL2AdvertisementRefNamesTheObject(t *testing.T) {
	ref := l2AdvertisementRef("metallb-system", "l2", "uid-1")
	if ref.Kind != "L2Advertisement" || ref.APIVersion != "metallb.io/v1beta1" || ref.Namespace != "metallb-system" || ref.Name != "l2" || ref.UID != "uid-1" {
		t.Errorf("reference %+v: want metallb.io/v1beta1 L2Advertisement metallb-system/l2 uid-1", ref)
	}
}

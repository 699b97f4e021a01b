package speaker

import (
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"

	"github.com/heraldlb/herald/api/v1beta1"
	"github.com/heraldlb/herald/config"
)

// ReasonInterfaceNotFound is the reason of the Warning Event a speaker
// puts on an L2Advertisement that selects its node but lists only
// interfaces the node cannot answer on (none exists, or none is usable:
// down, enslaved, excluded). The node is then never elected for that
// advertisement's IPs, and without the Event nothing would say why.
const ReasonInterfaceNotFound = "InterfaceNotFound"

// interfaceCheck decides when to say that an L2Advertisement's interfaces
// are missing on this node. It does no I/O; the planner actor owns it and
// publishes what check returns.
//
// It says it once per situation: again only when the advertisement's
// interfaces or this node's usable interfaces change while still none
// matches, or after the advertisement was fixed (or deleted) and broke
// again. A list in which some interfaces exist here is not reported: a
// list naming the interfaces of several kinds of node (eth0 on these,
// bond0 on those) is normal.
type interfaceCheck struct {
	// said is what was last said per advertisement (namespace/name).
	said map[string]string
}

// interfaceWarning is one Event to publish on an L2Advertisement.
type interfaceWarning struct {
	namespace, name string
	message         string
}

func newInterfaceCheck() *interfaceCheck { return &interfaceCheck{said: map[string]string{}} }

// check returns the warnings to publish now, for node (with nodeLabels)
// whose usable interfaces are usable, under cfg.
func (c *interfaceCheck) check(cfg *config.Config, node string, nodeLabels labels.Set, usable []string) []interfaceWarning {
	var out []interfaceWarning
	broken := map[string]bool{}
	for _, adv := range cfg.L2Advertisements {
		if len(adv.Interfaces) == 0 || !adv.Nodes.Matches(nodeLabels) {
			continue
		}
		if slices.ContainsFunc(adv.Interfaces, func(name string) bool { return slices.Contains(usable, name) }) {
			continue
		}
		key := adv.Namespace + "/" + adv.Name
		broken[key] = true
		here := "none"
		if len(usable) > 0 {
			here = strings.Join(usable, ", ")
		}
		msg := fmt.Sprintf("node %s has none of the interfaces %s, so it answers ARP/NDP for none of this advertisement's IPs (usable interfaces there: %s)",
			node, strings.Join(adv.Interfaces, ", "), here)
		if c.said[key] == msg {
			continue
		}
		c.said[key] = msg
		out = append(out, interfaceWarning{namespace: adv.Namespace, name: adv.Name, message: msg})
	}
	for key := range c.said {
		if !broken[key] {
			delete(c.said, key)
		}
	}
	return out
}

// l2AdvertisementRef is the object an Event about an L2Advertisement
// names. The UID, when known, lets `kubectl describe l2advertisement`
// find the Event.
func l2AdvertisementRef(namespace, name string, uid types.UID) *corev1.ObjectReference {
	return &corev1.ObjectReference{APIVersion: v1beta1.SchemeGroupVersion.String(), Kind: "L2Advertisement",
		Namespace: namespace, Name: name, UID: uid}
}

package config_test

import (
	"errors"
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/heraldlb/herald/api/v1beta1"
	"github.com/heraldlb/herald/api/v1beta2"
	"github.com/heraldlb/herald/config"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

func TestAdmits(t *testing.T) {
	res := compileYAML(t, docs(`
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: by-namespace}
spec:
  addresses: [10.0.0.0/24]
  serviceAllocation:
    namespaces: [shop]
    namespaceSelectors: [{matchLabels: {team: red}}]
---
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: by-service}
spec:
  addresses: [10.0.1.0/24]
  serviceAllocation:
    priority: 1
    serviceSelectors: [{matchLabels: {app: web}}]
---
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: open}
spec:
  addresses: [10.0.2.0/24]
`, l2All))
	c := res.Config
	byNS, _ := c.Pool("by-namespace")
	bySvc, _ := c.Pool("by-service")
	open, _ := c.Pool("open")
	_, missing := c.Pool("nope")
	red, web := labels.Set{"team": "red"}, labels.Set{"app": "web"}
	got := []bool{
		byNS.Allocation.Admits("shop", nil, nil), byNS.Allocation.Admits("x", red, nil), byNS.Allocation.Admits("x", nil, web),
		bySvc.Allocation.Admits("any", nil, web), bySvc.Allocation.Admits("any", nil, red),
		open.Allocation.Admits("any", nil, nil), missing,
		open.Contains(netip.MustParseAddr("10.0.2.9")), open.Contains(netip.MustParseAddr("10.0.1.9")),
		open.HasIPv4(), open.HasIPv6(),
	}
	want := []bool{true, true, false, true, false, true, false, true, false, true, false}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

// TestCompileGoInput exercises the API as the controller uses it: typed
// objects, no manifests, no namespace.
func TestCompileGoInput(t *testing.T) {
	in := config.Input{
		IPAddressPools:    []v1beta1.IPAddressPool{{ObjectMeta: metav1.ObjectMeta{Name: "p"}, Spec: v1beta1.IPAddressPoolSpec{Addresses: []string{"fd00::/120"}}}},
		BGPAdvertisements: []v1beta1.BGPAdvertisement{{ObjectMeta: metav1.ObjectMeta{Name: "a"}}},
		BGPPeers: []v1beta2.BGPPeer{
			{ObjectMeta: metav1.ObjectMeta{Name: "x"}, Spec: v1beta2.BGPPeerSpec{MyASN: 1, DynamicASN: v1beta2.InternalASNMode, Interface: "eth0", Port: 179}},
			{ObjectMeta: metav1.ObjectMeta{Name: "y"}, Spec: v1beta2.BGPPeerSpec{MyASN: 1, ASN: 2, Interface: "eth0", Port: 179}},
		},
	}
	_, err := config.Compile(in)
	want := `BGPPeer y: spec.peerAddress: same BGP session as another BGPPeer: BGPPeer x (same address, port and VRF on the same nodes)`
	if err == nil || err.Error() != want {
		t.Fatalf("got %v, want %s", err, want)
	}
	in.BGPPeers[1].Spec.Interface = "eth1"
	c, err := config.Compile(in)
	if err != nil {
		t.Fatal(err)
	}
	x, ok := c.Peer("x")
	if !ok || !x.IBGP() || c.Peers[1].IBGP() {
		t.Errorf("peers: %+v", c.Peers)
	}
	in.IPAddressPools = append(in.IPAddressPools, v1beta1.IPAddressPool{Spec: v1beta1.IPAddressPoolSpec{Addresses: []string{"10.0.0.0/8"}}})
	_, err = config.Compile(in)
	var errs config.Errors
	if !errors.As(err, &errs) || len(errs) != 1 || errs[0].Error() != "IPAddressPool <unnamed>: metadata.name: required" {
		t.Errorf("nameless pool: %v", err)
	}
}

func TestNodeOverlapWithoutNodes(t *testing.T) {
	// Without Node objects, peers whose selectors share one selector are
	// taken to meet on a node; peers with different selectors are not.
	res := compileYAML(t, docs(`
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: a}
spec: {myASN: 1, peerASN: 9, peerAddress: 10.0.0.1, nodeSelectors: [{matchLabels: {rack: a}}]}
---
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: b}
spec: {myASN: 2, peerASN: 9, peerAddress: 10.0.0.2, nodeSelectors: [{matchLabels: {rack: b}}]}
---
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: c}
spec: {myASN: 3, peerASN: 9, peerAddress: 10.0.0.3, nodeSelectors: [{matchLabels: {rack: c}}, {matchLabels: {rack: a}}]}
`))
	want := `BGPPeer metallb-system/c: spec.myASN: 3: conflicting myASN on shared nodes: BGPPeer metallb-system/a uses 1 in VRF "" on the same nodes; a node speaks as one AS per VRF (use localASN)`
	if diff := cmp.Diff(want, res.Errors.Error()); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

// TestPeerIBGP: the kind of session is decided by the AS this end
// presents in its OPEN (localASN when set), as bgpwire/peer decides it on
// the wire; LOCAL_PREF, BFD's hop mode and GTSM all follow it.
func TestPeerIBGP(t *testing.T) {
	for _, tc := range []struct {
		name string
		p    config.Peer
		want bool
	}{
		{"same AS", config.Peer{MyASN: 64512, ASN: 64512}, true},
		{"different AS", config.Peer{MyASN: 64512, ASN: 64513}, false},
		{"localASN equals the peer's", config.Peer{MyASN: 64512, LocalASN: 64513, ASN: 64513}, true},
		{"localASN hides an equal myASN", config.Peer{MyASN: 64512, LocalASN: 64513, ASN: 64512}, false},
		{"dynamic internal", config.Peer{MyASN: 64512, LocalASN: 64513, DynamicASN: v1beta2.InternalASNMode}, true},
		{"dynamic external", config.Peer{MyASN: 64512, DynamicASN: v1beta2.ExternalASNMode}, false},
	} {
		if got := tc.p.IBGP(); got != tc.want {
			t.Errorf("%s: IBGP() = %v, want %v", tc.name, got, tc.want)
		}
	}
}

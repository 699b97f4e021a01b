package config_test

import (
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/heraldlb/herald/config"
	"github.com/heraldlb/herald/config/manifest"
	"k8s.io/apimachinery/pkg/labels"
)

var cmpOpts = cmp.Options{
	cmp.Comparer(func(a, b netip.Addr) bool { return a == b }),
	cmp.Comparer(func(a, b netip.Prefix) bool { return a == b }),
	cmp.Transformer("selector", func(s labels.Selector) string { return s.String() }),
	cmpopts.IgnoreUnexported(config.Config{}),
	cmpopts.EquateEmpty(),
}

// compileYAML compiles a manifest written in the test.
func compileYAML(t *testing.T, doc string) config.Result {
	t.Helper()
	set := &manifest.Set{DefaultNamespace: "metallb-system"}
	set.Add("test.yaml", []byte(doc))
	for _, e := range set.Errors {
		t.Fatalf("decoding: %v", e)
	}
	return config.Analyze(set.Input)
}

const poolA = `
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: a, labels: {zone: east}}
spec:
  addresses: [10.0.0.0/30, 10.0.1.1-10.0.1.5, "fc00::/126"]
`

const poolB = `
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: b}
spec:
  addresses: [10.1.0.0/24]
  autoAssign: false
  avoidBuggyIPs: true
`

const l2All = `
apiVersion: metallb.io/v1beta1
kind: L2Advertisement
metadata: {name: l2-all}
`

const ibgpPeer = `
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: ibgp}
spec: {myASN: 64512, peerASN: 64512, peerAddress: 10.9.0.1}
`

const ebgpPeer = `
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: ebgp}
spec: {myASN: 64512, peerASN: 65000, peerAddress: 10.9.0.2}
`

func docs(parts ...string) string { return strings.Join(parts, "\n---\n") }

func addr(s string) netip.Addr { return netip.MustParseAddr(s) }

var l2AllCompiled = &config.L2Advertisement{Name: "l2-all", Namespace: "metallb-system", Pools: []string{"a", "b"}}

func TestCompileTable(t *testing.T) {
	tests := []struct {
		name     string
		yaml     string
		get      func(*config.Config) any
		want     any
		warnings []string
	}{{
		name: "pool ranges, defaults and families",
		yaml: docs(poolA, poolB, l2All),
		get:  func(c *config.Config) any { return c.Pools },
		want: []*config.Pool{{
			Name: "a", Namespace: "metallb-system", Labels: map[string]string{"zone": "east"}, AutoAssign: true,
			L2Advertisements: []*config.L2Advertisement{l2AllCompiled},
			Ranges: []config.AddrRange{
				{First: addr("10.0.0.0"), Last: addr("10.0.0.3"), Prefix: netip.MustParsePrefix("10.0.0.0/30")},
				{First: addr("10.0.1.1"), Last: addr("10.0.1.5")},
				{First: addr("fc00::"), Last: addr("fc00::3"), Prefix: netip.MustParsePrefix("fc00::/126")},
			},
		}, {
			Name: "b", Namespace: "metallb-system", AvoidBuggyIPs: true,
			L2Advertisements: []*config.L2Advertisement{l2AllCompiled},
			Ranges:           []config.AddrRange{{First: addr("10.1.0.0"), Last: addr("10.1.0.255"), Prefix: netip.MustParsePrefix("10.1.0.0/24")}},
		}},
	}, {
		name: "service allocation resolves namespace selectors against known namespaces",
		yaml: docs(`
apiVersion: v1
kind: Namespace
metadata: {name: shop, labels: {app: myapp}}
---
apiVersion: v1
kind: Namespace
metadata: {name: other}
---
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: a}
spec:
  addresses: [10.0.0.0/24]
  serviceAllocation:
    priority: 5
    namespaces: [listed]
    namespaceSelectors: [{matchLabels: {app: myapp}}]
    serviceSelectors: [{matchLabels: {tier: web}}]
`, l2All),
		get: func(c *config.Config) any { return c.Pools[0].Allocation },
		want: &config.ServiceAllocation{
			Priority:           5,
			Namespaces:         []string{"listed", "shop"},
			NamedNamespaces:    []string{"listed"},
			NamespaceSelectors: []labels.Selector{labels.SelectorFromSet(labels.Set{"app": "myapp"})},
			ServiceSelectors:   []labels.Selector{labels.SelectorFromSet(labels.Set{"tier": "web"})},
		},
	}, {
		name: "empty advertisements select every pool and every peer",
		yaml: docs(poolA, poolB, ibgpPeer, ebgpPeer, `
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: {name: all}
---
apiVersion: metallb.io/v1beta1
kind: L2Advertisement
metadata: {name: all}
`),
		get: func(c *config.Config) any {
			return []any{c.BGPAdvertisements[0].Pools, c.BGPAdvertisements[0].Peers, c.BGPAdvertisements[0].AllPeers,
				c.L2Advertisements[0].Pools, c.L2Advertisements[0].Nodes.All(), len(c.Pools[1].BGPAdvertisements)}
		},
		want: []any{[]string{"a", "b"}, []string{"ebgp", "ibgp"}, true, []string{"a", "b"}, true, 1},
	}, {
		name: "pools by name and by label, merged and sorted",
		yaml: docs(poolA, poolB, `
apiVersion: metallb.io/v1beta1
kind: L2Advertisement
metadata: {name: some}
spec:
  ipAddressPools: [b]
  ipAddressPoolSelectors: [{matchLabels: {zone: east}}]
  interfaces: [eth0]
  nodeSelectors: [{matchLabels: {l2: "yes"}}]
---
apiVersion: v1
kind: Node
metadata: {name: n1, labels: {l2: "yes"}}
---
apiVersion: v1
kind: Node
metadata: {name: n2}
`),
		get: func(c *config.Config) any {
			a := c.L2Advertisements[0]
			return []any{a.Pools, a.Interfaces, a.Nodes.Nodes, a.Nodes.Matches(labels.Set{"l2": "yes"}), a.Nodes.Matches(nil)}
		},
		want: []any{[]string{"a", "b"}, []string{"eth0"}, []string{"n1"}, true, false},
	}, {
		name: "BGP advertisement: communities resolved and deduplicated, aggregation, nodeSelector alias",
		yaml: docs(poolA, ibgpPeer, `
apiVersion: metallb.io/v1beta1
kind: Community
metadata: {name: c}
spec:
  communities:
  - {name: noadv, value: "65535:65282"}
  - {name: big, value: "large:1:2:3"}
---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: {name: adv}
spec:
  aggregationLength: 31
  aggregationLengthV6: 126
  localPref: 100
  communities: [noadv, no-advertise, big, "8000:800", NO_EXPORT]
  peers: [ibgp]
  nodeSelector: [{matchLabels: {rack: a}}]
`),
		get: func(c *config.Config) any {
			a := c.BGPAdvertisements[0]
			return []any{a.AggregationLength, a.AggregationLengthV6, a.LocalPref, a.Communities, a.Peers, a.AllPeers, a.Nodes.Selectors}
		},
		want: []any{31, 126, uint32(100), []config.Community{
			config.NoAdvertise,
			{Large: true, GlobalAdmin: 1, LocalData1: 2, LocalData2: 3},
			{Standard: 8000<<16 | 800},
			config.NoExport,
		}, []string{"ibgp"}, false, []labels.Selector{labels.SelectorFromSet(labels.Set{"rack": "a"})}},
		warnings: []string{"BGPAdvertisement metallb-system/adv: spec.nodeSelector: read as spec.nodeSelectors (the documented name), merged with it"},
	}, {
		name: "localPref toward eBGP peers only is a warning",
		yaml: docs(poolA, ebgpPeer, `
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: {name: adv}
spec: {localPref: 50}
`),
		get:      func(c *config.Config) any { return c.BGPAdvertisements[0].LocalPref },
		want:     uint32(50),
		warnings: []string{"BGPAdvertisement metallb-system/adv: spec.localPref: has no effect: LOCAL_PREF is sent to iBGP peers only, and every peer of this advertisement is eBGP"},
	}, {
		name: "peer defaults",
		yaml: ibgpPeer,
		get:  func(c *config.Config) any { return c.Peers[0] },
		want: &config.Peer{Name: "ibgp", Namespace: "metallb-system", MyASN: 64512, ASN: 64512, Address: addr("10.9.0.1"),
			Port: 179, HoldTime: 90 * time.Second, KeepaliveTime: 30 * time.Second, ConnectTime: 120 * time.Second},
	}, {
		name: "peer with everything resolved",
		yaml: docs(`
apiVersion: v1
kind: Secret
metadata: {name: pw}
type: kubernetes.io/basic-auth
data: {password: aHVudGVyMg==}
---
apiVersion: metallb.io/v1beta1
kind: BFDProfile
metadata: {name: bfd}
spec: {receiveInterval: 50, echoMode: true}
---
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: full}
spec:
  myASN: 64512
  dynamicASN: external
  localASN: 64999
  peerAddress: "fd00::1"
  sourceAddress: "fd00::2"
  peerPort: 1179
  holdTime: 30s
  keepaliveTime: 10s
  connectTime: 7s
  routerID: 192.0.2.9
  passwordSecret: {name: pw}
  bfdProfile: bfd
  enableGracefulRestart: true
  ebgpMultiHop: true
  vrf: red
  disableMP: true
  dualStackAddressFamily: true
  nodeSelectors: [{matchLabels: {rack: a}}]
`),
		get: func(c *config.Config) any { return c.Peers[0] },
		want: &config.Peer{Name: "full", Namespace: "metallb-system", MyASN: 64512, DynamicASN: "external", LocalASN: 64999,
			Address: addr("fd00::1"), SourceAddress: addr("fd00::2"), Port: 1179,
			HoldTime: 30 * time.Second, KeepaliveTime: 10 * time.Second, ConnectTime: 7 * time.Second,
			RouterID: addr("192.0.2.9"), Password: "hunter2",
			Nodes: config.NodeSelection{Selectors: []labels.Selector{labels.SelectorFromSet(labels.Set{"rack": "a"})}},
			BFD: &config.BFDProfile{Name: "bfd", ReceiveInterval: 50, TransmitInterval: 300, DetectMultiplier: 3,
				EchoInterval: 50, EchoMode: true, MinimumTTL: 254},
			EnableGracefulRestart: true, EBGPMultiHop: true, VRF: "red", DisableMP: true, DualStackAddressFamily: true},
	}, {
		name: "BFD authentication resolves its key and reaches the peer beside the profile",
		yaml: docs(`
apiVersion: v1
kind: Secret
metadata: {name: bfd-key}
type: kubernetes.io/basic-auth
stringData: {password: twenty-bytes-of-key!}
---
apiVersion: metallb.io/v1beta1
kind: BFDProfile
metadata: {name: signed}
spec:
  authentication: {type: meticulous-keyed-sha1, keyID: 7, secretRef: {name: bfd-key}}
---
apiVersion: metallb.io/v1beta1
kind: BFDProfile
metadata: {name: plain}
---
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: a}
spec: {myASN: 1, peerASN: 2, peerAddress: 10.0.0.1, bfdProfile: signed}
---
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: b}
spec: {myASN: 1, peerASN: 2, peerAddress: 10.0.0.2, bfdProfile: plain}
`),
		get: func(c *config.Config) any {
			return []any{c.Peers[0].BFD.Name, c.Peers[0].BFDAuth, c.Peers[1].BFD.Name, c.Peers[1].BFDAuth, c.BFDAuth}
		},
		want: []any{"signed", &config.BFDAuth{Type: "meticulous-keyed-sha1", KeyID: 7, Key: "twenty-bytes-of-key!", Secret: "bfd-key"},
			"plain", (*config.BFDAuth)(nil),
			map[string]*config.BFDAuth{"signed": {Type: "meticulous-keyed-sha1", KeyID: 7, Key: "twenty-bytes-of-key!", Secret: "bfd-key"}}},
	}, {
		name: "hold time 0 turns keepalives off; password in clear and from stringData",
		yaml: docs(`
apiVersion: v1
kind: Secret
metadata: {name: pw}
type: kubernetes.io/basic-auth
stringData: {password: from-string-data}
---
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: a}
spec: {myASN: 1, peerASN: 2, peerAddress: 10.0.0.1, holdTime: 0s, keepaliveTime: 5s, password: clear}
---
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: b}
spec: {myASN: 1, peerASN: 2, peerAddress: 10.0.0.2, holdTime: 6s, passwordSecret: {name: pw}}
`),
		get: func(c *config.Config) any {
			return []any{c.Peers[0].HoldTime, c.Peers[0].KeepaliveTime, c.Peers[0].Password,
				c.Peers[1].HoldTime, c.Peers[1].KeepaliveTime, c.Peers[1].Password}
		},
		want:     []any{time.Duration(0), time.Duration(0), "clear", 6 * time.Second, 2 * time.Second, "from-string-data"},
		warnings: []string{"BGPPeer metallb-system/a: spec.keepaliveTime: ignored: holdTime 0s turns keepalives off"},
	}, {
		name: "v1beta1 peer is converted, with a warning",
		yaml: `
apiVersion: metallb.io/v1beta1
kind: BGPPeer
metadata: {name: old}
spec:
  myASN: 64512
  peerASN: 64513
  peerAddress: 10.0.0.1
  holdTime: 30s
  keepaliveTime: 5s
  nodeSelectors:
  - matchLabels: {rack: a}
    matchExpressions: [{key: role, operator: In, values: [edge]}]
`,
		get: func(c *config.Config) any {
			p := c.Peers[0]
			return []any{p.HoldTime, p.KeepaliveTime, p.Port, p.Nodes.Matches(labels.Set{"rack": "a", "role": "edge"}), p.Nodes.Matches(labels.Set{"rack": "a"})}
		},
		want:     []any{30 * time.Second, 5 * time.Second, uint16(179), true, false},
		warnings: []string{"BGPPeer metallb-system/old: apiVersion: metallb.io/v1beta1 BGPPeer is deprecated; it is read as metallb.io/v1beta2, write it so"},
	}, {
		name: "different myASN is fine in different VRFs or on disjoint known nodes",
		yaml: docs(`
apiVersion: v1
kind: Node
metadata: {name: n1, labels: {rack: a}}
---
apiVersion: v1
kind: Node
metadata: {name: n2, labels: {rack: b}}
---
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: a}
spec: {myASN: 1, peerASN: 2, peerAddress: 10.0.0.1, nodeSelectors: [{matchLabels: {rack: a}}]}
---
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: b}
spec: {myASN: 3, peerASN: 2, peerAddress: 10.0.0.1, nodeSelectors: [{matchExpressions: [{key: rack, operator: NotIn, values: [a]}]}]}
---
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: c}
spec: {myASN: 5, peerASN: 2, peerAddress: 10.0.0.1, vrf: blue}
`),
		get: func(c *config.Config) any {
			return []any{c.Peers[0].Nodes.Nodes, c.Peers[1].Nodes.Nodes, c.Peers[2].Nodes.Nodes}
		},
		want: []any{[]string{"n1"}, []string{"n2"}, []string{"n1", "n2"}},
	}, {
		name: "different localPref is fine for different prefixes, peers or service selectors",
		yaml: docs(poolB, ibgpPeer, `
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: ibgp2}
spec: {myASN: 64512, peerASN: 64512, peerAddress: 10.9.0.9}
---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: {name: host-routes}
spec: {localPref: 100, peers: [ibgp]}
---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: {name: aggregate}
spec: {localPref: 200, aggregationLength: 24, peers: [ibgp]}
---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: {name: other-peer}
spec: {localPref: 300, peers: [ibgp2]}
---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: {name: some-services}
spec: {localPref: 400, serviceSelectors: [{matchLabels: {app: x}}]}
`),
		get:  func(c *config.Config) any { return len(c.Pools[0].BGPAdvertisements) },
		want: 4,
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := compileYAML(t, tt.yaml)
			for _, e := range res.Errors {
				t.Fatalf("unexpected error: %v", e)
			}
			if diff := cmp.Diff(tt.want, tt.get(res.Config), cmpOpts); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
			var warnings []string
			for _, w := range res.Warnings {
				warnings = append(warnings, w.String())
			}
			if diff := cmp.Diff(tt.warnings, warnings, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("warnings (-want +got):\n%s", diff)
			}
		})
	}
}

func TestCompileReportsEveryError(t *testing.T) {
	_, err := config.Compile(config.Input{})
	if err != nil {
		t.Fatalf("empty input: %v", err)
	}
	res := compileYAML(t, docs(`
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: z}
spec: {addresses: ["10.0.0.9-10.0.0.1", 10.0.0.0/33]}
`, `
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: p}
spec: {myASN: 0, peerASN: 1, peerAddress: 10.0.0.1, holdTime: 2s}
`))
	want := []string{
		`IPAddressPool metallb-system/z: spec.addresses[0]: "10.0.0.9-10.0.0.1": range end is before its start`,
		`IPAddressPool metallb-system/z: spec.addresses[1]: "10.0.0.0/33": not a CIDR or an address range: prefix length out of range`,
		`BGPPeer metallb-system/p: spec.myASN: required: 0 is reserved`,
		`BGPPeer metallb-system/p: spec.holdTime: "2s": invalid hold time: must be 0s or 3s to 65535s`,
	}
	if diff := cmp.Diff(strings.Join(want, "\n"), res.Errors.Error()); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if res.Config != nil {
		t.Error("Config returned with errors")
	}
	var err2 error = res.Errors
	for _, s := range []error{config.ErrRangeReversed, config.ErrInvalidAddress, config.ErrRequired, config.ErrHoldTime} {
		if !errors.Is(err2, s) {
			t.Errorf("errors.Is(%v) = false", s)
		}
	}
	if errors.Is(err2, config.ErrOverlap) {
		t.Error("errors.Is(ErrOverlap) = true")
	}
	var one *config.Error
	if !errors.As(err2, &one) || one.Kind != "IPAddressPool" || one.Object() != "metallb-system/z" {
		t.Errorf("errors.As: %#v", one)
	}
}

func TestWarnings(t *testing.T) {
	res := compileYAML(t, docs(`
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: a}
spec: {addresses: [10.0.0.7/24]}
---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: {name: b}
`))
	var got []string
	for _, w := range res.Warnings {
		got = append(got, w.String())
	}
	want := []string{
		`IPAddressPool metallb-system/a: spec.addresses[0]: "10.0.0.7/24" has host bits set; read as 10.0.0.0/24`,
		`BGPAdvertisement metallb-system/b: there is no BGPPeer: nothing is announced over BGP`,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	res = compileYAML(t, docs(`
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: lonely}
spec: {addresses: [10.0.0.0/24]}
`))
	if len(res.Warnings) != 1 || res.Warnings[0].Object() != "metallb-system/lonely" || res.Warnings[0].Field != "" {
		t.Errorf("unannounced pool: %v", res.Warnings)
	}
}

package crdcheck

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"sigs.k8s.io/yaml"
)

// crdDir is where hack/generate.sh writes the CRDs.
const crdDir = "../../charts/herald/crds"

var (
	loadOnce sync.Once
	loaded   *Set
	loadErr  error
)

func crds(t *testing.T) *Set {
	t.Helper()
	loadOnce.Do(func() { loaded, loadErr = Load(crdDir) })
	if loadErr != nil {
		t.Fatal(loadErr)
	}
	return loaded
}

// TestCRDsAreValid runs the API server's validation of the CRD objects
// themselves: a CEL rule that does not compile, exceeds the cost limits or
// a default that fails its own schema would make `kubectl apply` of the
// chart fail.
func TestCRDsAreValid(t *testing.T) {
	s := crds(t)
	if len(s.Files) != 10 {
		t.Errorf("got %d CRDs, want 10 (one per kind)", len(s.Files))
	}
	for name, errs := range s.ValidateCRDs() {
		for _, e := range errs {
			t.Errorf("%s: %v", name, e)
		}
	}
}

// A case is one object (and, for an update, the object it replaces) and the
// one error it must produce, or none.
type checkCase struct {
	name string
	old  string // for updates: the stored object
	obj  string
	// field and msg are the expected error's path and detail, compared
	// exactly; both empty means the object must be accepted.
	field, msg string
}

func run(t *testing.T, cases []checkCase) {
	t.Helper()
	s := crds(t)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			v, obj, err := s.Decode([]byte(c.obj))
			if err != nil {
				t.Fatal(err)
			}
			var errs field.ErrorList
			if c.old != "" {
				_, old, err := s.Decode([]byte(c.old))
				if err != nil {
					t.Fatal(err)
				}
				errs = v.Update(old, obj)
			} else {
				errs = v.Create(obj)
			}
			if c.msg == "" {
				for _, e := range errs {
					t.Errorf("unexpected error: %v", e)
				}
				return
			}
			if len(errs) != 1 || errs[0].Field != c.field || detail(errs[0]) != c.msg {
				t.Errorf("want exactly one error\n  %s: %s\ngot %d:", c.field, c.msg, len(errs))
				for _, e := range errs {
					t.Errorf("  %s: %s", e.Field, detail(e))
				}
			}
		})
	}
}

// detail is what a test compares: the message, or for errors that have
// none (Required, Duplicate) their type.
func detail(e *field.Error) string {
	if e.Detail != "" {
		return e.Detail
	}
	return e.Type.String()
}

// header builds an object of kind at version with the given spec (YAML
// indented by two spaces under "spec:").
func obj(version, kind, body string) string {
	return "apiVersion: metallb.io/" + version + "\nkind: " + kind + "\nmetadata:\n  name: x\n  namespace: herald-system\n" + body
}

func pool(addresses ...string) string {
	b := "spec:\n  addresses:\n"
	for _, a := range addresses {
		b += "  - " + quote(a) + "\n"
	}
	return obj("v1beta1", "IPAddressPool", b)
}

func quote(s string) string {
	b, _ := yaml.Marshal(s)
	return strings.TrimSpace(string(b))
}

const poolMsg = ` must be a CIDR such as 192.168.10.0/24 or a range of two addresses of one family such as 192.168.9.1-192.168.9.5`

func poolCases() []checkCase {
	return []checkCase{
		{name: "cidr v4", obj: pool("192.168.10.0/24")},
		{name: "cidr v6", obj: pool("fc00:f853:ccd:e799::/124")},
		{name: "cidr with host bits, as MetalLB's net.ParseCIDR accepts", obj: pool("192.168.10.7/24")},
		{name: "single address as /32", obj: pool("192.168.10.7/32")},
		{name: "range v4", obj: pool("192.168.9.1-192.168.9.5")},
		{name: "range with spaces, as MetalLB trims them", obj: pool("192.168.9.1 - 192.168.9.5")},
		{name: "range v6", obj: pool("fc00::1-fc00::ff")},
		{name: "mixed entries", obj: pool("10.0.0.0/8", "192.168.9.1-192.168.9.5", "fc00::/64")},
		{name: "bare address", obj: pool("192.168.10.7"),
			field: "spec.addresses[0]", msg: `addresses entry "192.168.10.7"` + poolMsg},
		{name: "bad octet", obj: pool("10.0.0.0/8", "192.168.10.300/24"),
			field: "spec.addresses[1]", msg: `addresses entry "192.168.10.300/24"` + poolMsg},
		{name: "prefix too long", obj: pool("10.0.0.0/33"),
			field: "spec.addresses[0]", msg: `addresses entry "10.0.0.0/33"` + poolMsg},
		{name: "range of two families", obj: pool("10.0.0.1-fc00::1"),
			field: "spec.addresses[0]", msg: `addresses entry "10.0.0.1-fc00::1"` + poolMsg},
		{name: "range of three", obj: pool("10.0.0.1-10.0.0.2-10.0.0.3"),
			field: "spec.addresses[0]", msg: `addresses entry "10.0.0.1-10.0.0.2-10.0.0.3"` + poolMsg},
		{name: "range of CIDRs", obj: pool("10.0.0.0/24-10.0.1.0/24"),
			field: "spec.addresses[0]", msg: `addresses entry "10.0.0.0/24-10.0.1.0/24"` + poolMsg},
		{name: "no addresses", obj: obj("v1beta1", "IPAddressPool", "spec:\n  addresses: []\n"),
			field: "spec.addresses", msg: "spec.addresses in body should have at least 1 items"},
		{name: "addresses required", obj: obj("v1beta1", "IPAddressPool", "spec:\n  autoAssign: false\n"),
			field: "spec.addresses", msg: "Required value"},
		{name: "unknown field", obj: obj("v1beta1", "IPAddressPool", "spec:\n  addresses: [10.0.0.0/8]\n  autoassign: false\n"),
			field: "spec.autoassign", msg: ErrUnknownField.Error()},
		{name: "service allocation", obj: obj("v1beta1", "IPAddressPool", `spec:
  addresses: [10.0.0.0/8]
  serviceAllocation:
    priority: 50
    namespaces: [a, b]
    namespaceSelectors:
    - matchLabels: {team: x}
    serviceSelectors:
    - matchExpressions:
      - {key: tier, operator: In, values: [web]}
`)},
		{name: "duplicate namespaces", obj: obj("v1beta1", "IPAddressPool", "spec:\n  addresses: [10.0.0.0/8]\n  serviceAllocation:\n    namespaces: [a, a]\n"),
			field: "spec.serviceAllocation.namespaces[1]", msg: "Duplicate value"},
	}
}

func TestIPAddressPool(t *testing.T) {
	run(t, poolCases())
}

func TestIPAddressPoolDefaults(t *testing.T) {
	v, o, err := crds(t).Decode([]byte(pool("10.0.0.0/8")))
	if err != nil {
		t.Fatal(err)
	}
	v.Default(o)
	spec := o["spec"].(map[string]any)
	if spec["autoAssign"] != true || spec["avoidBuggyIPs"] != false {
		t.Errorf("defaults: autoAssign=%v avoidBuggyIPs=%v, want true and false", spec["autoAssign"], spec["avoidBuggyIPs"])
	}
}

func adv(body string) string { return obj("v1beta1", "BGPAdvertisement", "spec:\n"+body) }

func communities(c ...string) string {
	b := "  communities:\n"
	for _, x := range c {
		b += "  - " + quote(x) + "\n"
	}
	return adv(b)
}

const (
	stdMsg   = ` is a standard community, so A and B in A:B must be from 0 to 65535`
	largeMsg = ` is a large community, so it must be large:A:B:C with parts from 0 to 4294967295`
)

func bgpAdvertisementCases() []checkCase {
	return []checkCase{
		{name: "empty spec", obj: adv("  {}\n")},
		{name: "documentation example", obj: adv(`  ipAddressPools: [pool]
  aggregationLength: 30
  aggregationLengthV6: 124
  localPref: 100
  communities: [NO_ADVERTISE, "8000:800", "large:64512:1:2", no-export]
  peers: [r1, r2]
  nodeSelectors:
  - matchLabels: {kubernetes.io/hostname: n1}
  nodeSelector:
  - matchLabels: {kubernetes.io/hostname: n2}
  serviceSelectors:
  - matchLabels: {app: web}
  ipAddressPoolSelectors:
  - matchExpressions:
    - {key: zone, operator: Exists}
`)},
		{name: "standard community", obj: communities("65535:65282", "0:0")},
		{name: "standard community out of range", obj: communities("65535:65282", "70000:1"),
			field: "spec.communities[1]", msg: `communities entry "70000:1"` + stdMsg},
		{name: "standard community too many digits", obj: communities("1:0000001"),
			field: "spec.communities[0]", msg: `communities entry "1:0000001"` + stdMsg},
		{name: "large community", obj: communities("large:4294967295:0:1")},
		{name: "large community, capitals", obj: communities("LARGE:1:2:3")},
		{name: "large community missing a part", obj: communities("large:1:2"),
			field: "spec.communities[0]", msg: `communities entry "large:1:2"` + largeMsg},
		{name: "large community out of range", obj: communities("large:4294967296:1:1"),
			field: "spec.communities[0]", msg: `communities entry "large:4294967296:1:1"` + largeMsg},
		{name: "alias names are resolved by the compiler", obj: communities("my-alias", "NO_ADVERTISE")},
		{name: "aggregationLength 1", obj: adv("  aggregationLength: 1\n")},
		{name: "aggregationLength 0", obj: adv("  aggregationLength: 0\n"),
			field: "spec.aggregationLength", msg: "spec.aggregationLength in body should be greater than or equal to 1"},
		{name: "aggregationLength 33", obj: adv("  aggregationLength: 33\n"),
			field: "spec.aggregationLength", msg: "spec.aggregationLength in body should be less than or equal to 32"},
		{name: "aggregationLengthV6 128", obj: adv("  aggregationLengthV6: 128\n")},
		{name: "aggregationLengthV6 129", obj: adv("  aggregationLengthV6: 129\n"),
			field: "spec.aggregationLengthV6", msg: "spec.aggregationLengthV6 in body should be less than or equal to 128"},
		{name: "localPref negative", obj: adv("  localPref: -1\n"),
			field: "spec.localPref", msg: "spec.localPref in body should be greater than or equal to 0"},
		{name: "duplicate peers", obj: adv("  peers: [a, a]\n"),
			field: "spec.peers[1]", msg: "Duplicate value"},
	}
}

func TestBGPAdvertisement(t *testing.T) {
	run(t, bgpAdvertisementCases())
}

func TestBGPAdvertisementDefaults(t *testing.T) {
	v, o, err := crds(t).Decode([]byte(adv("  {}\n")))
	if err != nil {
		t.Fatal(err)
	}
	v.Default(o)
	spec := o["spec"].(map[string]any)
	if fmt.Sprint(spec["aggregationLength"], spec["aggregationLengthV6"]) != "32 128" {
		t.Errorf("defaults: aggregationLength=%v aggregationLengthV6=%v, want 32 and 128", spec["aggregationLength"], spec["aggregationLengthV6"])
	}
}

func community(name, value string) string {
	return obj("v1beta1", "Community", "spec:\n  communities:\n  - name: "+quote(name)+"\n    value: "+quote(value)+"\n")
}

const communityMsg = ` must be A:B with A and B from 0 to 65535, large:A:B:C with parts from 0 to 4294967295, or a well-known community name`

func communityCases() []checkCase {
	return []checkCase{
		{name: "standard", obj: community("NO_ADVERTISE", "65535:65282")},
		{name: "large", obj: community("big", "large:64512:1:4294967295")},
		{name: "well-known name", obj: community("ne", "NO_EXPORT")},
		{name: "standard out of range", obj: community("x", "65536:1"),
			field: "spec.communities[0].value", msg: `value "65536:1"` + communityMsg},
		{name: "large out of range", obj: community("x", "large:1:2:4294967296"),
			field: "spec.communities[0].value", msg: `value "large:1:2:4294967296"` + communityMsg},
		{name: "not a community", obj: community("x", "another-alias"),
			field: "spec.communities[0].value", msg: `value "another-alias"` + communityMsg},
		{name: "empty value", obj: community("x", ""),
			field: "spec.communities[0].value", msg: `value ""` + communityMsg},
		{name: "duplicate alias", obj: obj("v1beta1", "Community", "spec:\n  communities:\n  - {name: a, value: '1:1'}\n  - {name: a, value: '2:2'}\n"),
			field: "spec.communities[1]", msg: "Duplicate value"},
	}
}

func TestCommunity(t *testing.T) {
	run(t, communityCases())
}

// peer2 is a valid v1beta2 BGPPeer with extra spec lines.
func peer2(extra string) string {
	return obj("v1beta2", "BGPPeer", "spec:\n  myASN: 64512\n"+extra)
}

func peerV1beta2Cases() []checkCase {
	const addr = "  peerASN: 64513\n  peerAddress: 10.0.0.1\n"
	return []checkCase{
		{name: "minimal", obj: peer2(addr)},
		{name: "every field", obj: peer2(`  dynamicASN: external
  localASN: 65000
  interface: eth1
  sourceAddress: fc00::2
  peerPort: 1179
  holdTime: 9s
  keepaliveTime: 3s
  connectTime: 5s
  routerID: 10.0.0.9
  nodeSelectors:
  - matchExpressions:
    - {key: kubernetes.io/hostname, operator: In, values: [a, b]}
  passwordSecret: {name: bgp, namespace: herald-system}
  bfdProfile: fast
  enableGracefulRestart: true
  ebgpMultiHop: true
  vrf: red
  disableMP: false
  dualStackAddressFamily: true
`)},
		// exactly one of peerASN and dynamicASN
		{name: "dynamicASN", obj: peer2("  dynamicASN: internal\n  peerAddress: 10.0.0.1\n")},
		{name: "peerASN and dynamicASN", obj: peer2(addr + "  dynamicASN: internal\n"),
			field: "spec", msg: "exactly one of peerASN and dynamicASN must be set"},
		{name: "neither peerASN nor dynamicASN", obj: peer2("  peerAddress: 10.0.0.1\n"),
			field: "spec", msg: "exactly one of peerASN and dynamicASN must be set"},
		{name: "dynamicASN value", obj: peer2("  dynamicASN: both\n  peerAddress: 10.0.0.1\n"),
			field: "spec.dynamicASN", msg: `supported values: "internal", "external"`},
		// exactly one of peerAddress and interface
		{name: "interface", obj: peer2("  peerASN: 1\n  interface: eth0\n")},
		{name: "peerAddress and interface", obj: peer2(addr + "  interface: eth0\n"),
			field: "spec", msg: "exactly one of peerAddress and interface must be set"},
		{name: "neither peerAddress nor interface", obj: peer2("  peerASN: 1\n"),
			field: "spec", msg: "exactly one of peerAddress and interface must be set"},
		{name: "peerAddress IPv6", obj: peer2("  peerASN: 1\n  peerAddress: fc00::1\n")},
		{name: "peerAddress not an IP", obj: peer2("  peerASN: 1\n  peerAddress: router.example\n"),
			field: "spec.peerAddress", msg: "peerAddress must be an IPv4 or IPv6 address"},
		{name: "sourceAddress not an IP", obj: peer2(addr + "  sourceAddress: 10.0.0.256\n"),
			field: "spec.sourceAddress", msg: "sourceAddress must be an IPv4 or IPv6 address"},
		{name: "routerID IPv6", obj: peer2(addr + "  routerID: fc00::1\n"),
			field: "spec.routerID", msg: "routerID must be an IPv4 address"},
		// password xor passwordSecret
		{name: "password", obj: peer2(addr + "  password: s3cret\n")},
		{name: "password and empty passwordSecret (what Go clients write)", obj: peer2(addr + "  password: s3cret\n  passwordSecret: {}\n")},
		{name: "password and passwordSecret", obj: peer2(addr + "  password: s3cret\n  passwordSecret: {name: bgp}\n"),
			field: "spec.passwordSecret", msg: "password and passwordSecret are mutually exclusive: set at most one"},
		// holdTime
		{name: "holdTime 0s", obj: peer2(addr + "  holdTime: 0s\n  keepaliveTime: 0s\n")},
		{name: "holdTime 3s", obj: peer2(addr + "  holdTime: 3s\n")},
		{name: "holdTime 65535s", obj: peer2(addr + "  holdTime: 65535s\n")},
		{name: "holdTime 1s", obj: peer2(addr + "  holdTime: 1s\n"),
			field: "spec.holdTime", msg: "holdTime must be 0s or between 3s and 65535s"},
		{name: "holdTime 65536s", obj: peer2(addr + "  holdTime: 65536s\n"),
			field: "spec.holdTime", msg: "holdTime must be 0s or between 3s and 65535s"},
		{name: "holdTime 3.5s", obj: peer2(addr + "  holdTime: 3500ms\n"),
			field: "spec.holdTime", msg: "holdTime must be a whole number of seconds"},
		// keepaliveTime
		{name: "keepaliveTime alone", obj: peer2(addr + "  keepaliveTime: 30s\n")},
		{name: "keepaliveTime negative", obj: peer2(addr + "  keepaliveTime: -1s\n"),
			field: "spec.keepaliveTime", msg: "keepaliveTime must be between 0s and 65535s"},
		{name: "keepaliveTime 1.5s", obj: peer2(addr + "  keepaliveTime: 1500ms\n"),
			field: "spec.keepaliveTime", msg: "keepaliveTime must be a whole number of seconds"},
		{name: "keepaliveTime below holdTime", obj: peer2(addr + "  holdTime: 90s\n  keepaliveTime: 30s\n")},
		{name: "keepaliveTime with holdTime 0s is ignored", obj: peer2(addr + "  holdTime: 0s\n  keepaliveTime: 30s\n")},
		{name: "keepaliveTime equal to holdTime", obj: peer2(addr + "  holdTime: 90s\n  keepaliveTime: 90s\n"),
			field: "spec.keepaliveTime", msg: "keepaliveTime must be more than 0s and less than holdTime"},
		{name: "keepaliveTime 0s with holdTime", obj: peer2(addr + "  holdTime: 90s\n  keepaliveTime: 0s\n"),
			field: "spec.keepaliveTime", msg: "keepaliveTime must be more than 0s and less than holdTime"},
		// connectTime
		{name: "connectTime 1s", obj: peer2(addr + "  connectTime: 1s\n")},
		{name: "connectTime 65535s", obj: peer2(addr + "  connectTime: 65535s\n")},
		{name: "connectTime 0s", obj: peer2(addr + "  connectTime: 0s\n"),
			field: "spec.connectTime", msg: "connectTime must be between 1s and 65535s"},
		{name: "connectTime 18h13m", obj: peer2(addr + "  connectTime: 18h13m\n"),
			field: "spec.connectTime", msg: "connectTime must be between 1s and 65535s"},
		{name: "connectTime 1.5s", obj: peer2(addr + "  connectTime: 1500ms\n"),
			field: "spec.connectTime", msg: "connectTime must be a whole number of seconds"},
		// ranges
		{name: "peerPort 0", obj: peer2(addr + "  peerPort: 0\n"),
			field: "spec.peerPort", msg: "spec.peerPort in body should be greater than or equal to 1"},
		{name: "peerPort 16385", obj: peer2(addr + "  peerPort: 16385\n"),
			field: "spec.peerPort", msg: "spec.peerPort in body should be less than or equal to 16384"},
		{name: "myASN 4294967296", obj: obj("v1beta2", "BGPPeer", "spec:\n  myASN: 4294967296\n"+addr),
			field: "spec.myASN", msg: "spec.myASN in body should be less than or equal to 4294967295"},
		{name: "localASN 0", obj: peer2(addr + "  localASN: 0\n"),
			field: "spec.localASN", msg: "spec.localASN in body should be greater than or equal to 1"},
		{name: "myASN required", obj: obj("v1beta2", "BGPPeer", "spec:\n"+addr),
			field: "spec.myASN", msg: "Required value"},
	}
}

func TestBGPPeerV1beta2(t *testing.T) {
	run(t, peerV1beta2Cases())
}

func gracefulRestartCases() []checkCase {
	const addr = "  peerASN: 64513\n  peerAddress: 10.0.0.1\n"
	const msg = "enableGracefulRestart cannot be changed after creation: delete and recreate the BGPPeer"
	on, off := peer2(addr+"  enableGracefulRestart: true\n"), peer2(addr+"  enableGracefulRestart: false\n")
	unset := peer2(addr)
	return []checkCase{
		{name: "unchanged on", old: on, obj: on},
		{name: "unset to false is no change", old: unset, obj: off},
		{name: "other fields change", old: on, obj: peer2(addr + "  enableGracefulRestart: true\n  holdTime: 30s\n")},
		{name: "off to on", old: off, obj: on, field: "spec.enableGracefulRestart", msg: msg},
		{name: "unset to on", old: unset, obj: on, field: "spec.enableGracefulRestart", msg: msg},
		{name: "on to unset", old: on, obj: unset, field: "spec.enableGracefulRestart", msg: msg},
	}
}

func TestBGPPeerGracefulRestartImmutable(t *testing.T) {
	run(t, gracefulRestartCases())
}

func TestBGPPeerV1beta2Defaults(t *testing.T) {
	v, o, err := crds(t).Decode([]byte(peer2("  peerASN: 1\n  peerAddress: 10.0.0.1\n")))
	if err != nil {
		t.Fatal(err)
	}
	v.Default(o)
	spec := o["spec"].(map[string]any)
	if got := fmt.Sprint(spec["peerPort"], spec["disableMP"], spec["dualStackAddressFamily"]); got != "179 false false" {
		t.Errorf("defaults peerPort, disableMP, dualStackAddressFamily = %s, want 179 false false", got)
	}
}

func peer1(extra string) string {
	return obj("v1beta1", "BGPPeer", "spec:\n  myASN: 64512\n  peerASN: 64513\n  peerAddress: 10.0.0.1\n"+extra)
}

func peerV1beta1Cases() []checkCase {
	return []checkCase{
		{name: "minimal", obj: peer1("")},
		{name: "every field", obj: peer1(`  sourceAddress: 10.0.0.2
  peerPort: 179
  holdTime: 90s
  keepaliveTime: 30s
  routerID: 10.0.0.9
  nodeSelectors:
  - matchLabels: {rack: a}
    matchExpressions:
    - {key: zone, operator: NotIn, values: [b]}
    - {key: spine, operator: Exists}
  password: s3cret
  bfdProfile: fast
  ebgpMultiHop: true
`)},
		// What a Go client writes for unset timers and port.
		{name: "zero timers and port", obj: peer1("  holdTime: 0s\n  keepaliveTime: 0s\n  peerPort: 0\n")},
		{name: "peerASN required", obj: obj("v1beta1", "BGPPeer", "spec:\n  myASN: 1\n  peerAddress: 10.0.0.1\n"),
			field: "spec.peerASN", msg: "Required value"},
		{name: "peerAddress not an IP", obj: obj("v1beta1", "BGPPeer", "spec:\n  myASN: 1\n  peerASN: 2\n  peerAddress: x\n"),
			field: "spec.peerAddress", msg: "peerAddress must be an IPv4 or IPv6 address"},
		{name: "sourceAddress not an IP", obj: peer1("  sourceAddress: x\n"),
			field: "spec.sourceAddress", msg: "sourceAddress must be an IPv4 or IPv6 address"},
		{name: "routerID IPv6", obj: peer1("  routerID: fc00::1\n"),
			field: "spec.routerID", msg: "routerID must be an IPv4 address"},
		{name: "holdTime 2s", obj: peer1("  holdTime: 2s\n"),
			field: "spec.holdTime", msg: "holdTime must be 0s or between 3s and 65535s"},
		{name: "holdTime 3.5s", obj: peer1("  holdTime: 3500ms\n"),
			field: "spec.holdTime", msg: "holdTime must be a whole number of seconds"},
		{name: "keepaliveTime negative", obj: peer1("  keepaliveTime: -3s\n"),
			field: "spec.keepaliveTime", msg: "keepaliveTime must be between 0s and 65535s"},
		{name: "keepaliveTime 1.5s", obj: peer1("  keepaliveTime: 1500ms\n"),
			field: "spec.keepaliveTime", msg: "keepaliveTime must be a whole number of seconds"},
		{name: "keepaliveTime equal to holdTime", obj: peer1("  holdTime: 30s\n  keepaliveTime: 30s\n"),
			field: "spec.keepaliveTime", msg: "keepaliveTime must be less than holdTime"},
		{name: "peerPort 16385", obj: peer1("  peerPort: 16385\n"),
			field: "spec.peerPort", msg: "spec.peerPort in body should be less than or equal to 16384"},
		{name: "In without values", obj: peer1("  nodeSelectors:\n  - matchExpressions:\n    - {key: a, operator: In}\n"),
			field: "spec.nodeSelectors[0].matchExpressions[0]", msg: "values must be non-empty for operators In and NotIn and empty for Exists and DoesNotExist"},
		{name: "Exists with values", obj: peer1("  nodeSelectors:\n  - matchExpressions:\n    - {key: a, operator: Exists, values: [x]}\n"),
			field: "spec.nodeSelectors[0].matchExpressions[0]", msg: "values must be non-empty for operators In and NotIn and empty for Exists and DoesNotExist"},
		{name: "unknown operator", obj: peer1("  nodeSelectors:\n  - matchExpressions:\n    - {key: a, operator: Gt, values: ['1']}\n"),
			field: "spec.nodeSelectors[0].matchExpressions[0].operator", msg: `supported values: "In", "NotIn", "Exists", "DoesNotExist"`},
	}
}

func TestBGPPeerV1beta1(t *testing.T) {
	run(t, peerV1beta1Cases())
}

func l2Cases() []checkCase {
	l2 := func(body string) string { return obj("v1beta1", "L2Advertisement", "spec:\n"+body) }
	return []checkCase{
		{name: "empty spec", obj: l2("  {}\n")},
		{name: "every field", obj: l2(`  ipAddressPools: [a]
  ipAddressPoolSelectors:
  - matchLabels: {l2: "yes"}
  nodeSelectors:
  - matchLabels: {kubernetes.io/hostname: n1}
  interfaces: [eth0, eth1]
  serviceSelectors:
  - matchLabels: {app: web}
  preferredNodeSelectors:
  - weight: 100
    preference:
      matchLabels: {rack: a}
  - weight: 1
    preference:
      matchLabels: {rack: b}
`)},
		{name: "weight 0", obj: l2("  preferredNodeSelectors:\n  - weight: 0\n    preference: {}\n"),
			field: "spec.preferredNodeSelectors[0].weight", msg: "spec.preferredNodeSelectors[0].weight in body should be greater than or equal to 1"},
		{name: "weight 101", obj: l2("  preferredNodeSelectors:\n  - weight: 101\n    preference: {}\n"),
			field: "spec.preferredNodeSelectors[0].weight", msg: "spec.preferredNodeSelectors[0].weight in body should be less than or equal to 100"},
		{name: "duplicate interfaces", obj: l2("  interfaces: [eth0, eth0]\n"),
			field: "spec.interfaces[1]", msg: "Duplicate value"},
	}
}

func TestL2Advertisement(t *testing.T) {
	run(t, l2Cases())
}

func bfd(body string) string { return obj("v1beta1", "BFDProfile", "spec:\n"+body) }

func bfdProfileCases() []checkCase {
	return []checkCase{
		{name: "empty spec", obj: bfd("  {}\n")},
		{name: "every field at its limits", obj: bfd(`  receiveInterval: 10
  transmitInterval: 60000
  detectMultiplier: 255
  echoInterval: 10
  echoMode: true
  passiveMode: true
  minimumTtl: 254
`)},
		{name: "receiveInterval 9", obj: bfd("  receiveInterval: 9\n"),
			field: "spec.receiveInterval", msg: "spec.receiveInterval in body should be greater than or equal to 10"},
		{name: "transmitInterval 60001", obj: bfd("  transmitInterval: 60001\n"),
			field: "spec.transmitInterval", msg: "spec.transmitInterval in body should be less than or equal to 60000"},
		{name: "detectMultiplier 1", obj: bfd("  detectMultiplier: 1\n"),
			field: "spec.detectMultiplier", msg: "spec.detectMultiplier in body should be greater than or equal to 2"},
		{name: "echoInterval 9", obj: bfd("  echoInterval: 9\n"),
			field: "spec.echoInterval", msg: "spec.echoInterval in body should be greater than or equal to 10"},
		{name: "minimumTtl 0", obj: bfd("  minimumTtl: 0\n"),
			field: "spec.minimumTtl", msg: "spec.minimumTtl in body should be greater than or equal to 1"},
		{name: "minimumTtl 255", obj: bfd("  minimumTtl: 255\n"),
			field: "spec.minimumTtl", msg: "spec.minimumTtl in body should be less than or equal to 254"},
	}
}

func TestBFDProfile(t *testing.T) {
	run(t, bfdProfileCases())
	v, o, err := crds(t).Decode([]byte(bfd("  {}\n")))
	if err != nil {
		t.Fatal(err)
	}
	v.Default(o)
	spec := o["spec"].(map[string]any)
	if got := fmt.Sprint(spec["receiveInterval"], spec["transmitInterval"], spec["detectMultiplier"], spec["echoInterval"]); got != "300 300 3 50" {
		t.Errorf("defaults receive, transmit, multiplier, echo = %s, want 300 300 3 50", got)
	}
}

func statusCases() []checkCase {
	l2 := func(node, svc, ns string) string {
		return obj("v1beta1", "ServiceL2Status", "status:\n  node: "+node+"\n  serviceName: "+svc+"\n  serviceNamespace: "+ns+"\n  interfaces:\n  - name: eth0\n")
	}
	bgp := func(node, svc, ns string) string {
		return obj("v1beta1", "ServiceBGPStatus", "status:\n  node: "+node+"\n  serviceName: "+svc+"\n  serviceNamespace: "+ns+"\n  peers: [r1]\n")
	}
	cs := func(result string) string {
		return obj("v1beta1", "ConfigurationState", "status:\n  result: "+result+"\n  errorSummary: \"\"\n")
	}
	return []checkCase{
		{name: "l2 create", obj: l2("n1", "web", "default")},
		{name: "l2 update interfaces", old: l2("n1", "web", "default"), obj: strings.Replace(l2("n1", "web", "default"), "eth0", "eth1", 1)},
		{name: "l2 node changes", old: l2("n1", "web", "default"), obj: l2("n2", "web", "default"),
			field: "status.node", msg: "status.node is immutable"},
		{name: "l2 serviceName changes", old: l2("n1", "web", "default"), obj: l2("n1", "db", "default"),
			field: "status.serviceName", msg: "status.serviceName is immutable"},
		{name: "l2 serviceNamespace changes", old: l2("n1", "web", "default"), obj: l2("n1", "web", "other"),
			field: "status.serviceNamespace", msg: "status.serviceNamespace is immutable"},
		{name: "bgp create", obj: bgp("n1", "web", "default")},
		{name: "bgp node changes", old: bgp("n1", "web", "default"), obj: bgp("n2", "web", "default"),
			field: "status.node", msg: "status.node is immutable"},
		{name: "bgp serviceName changes", old: bgp("n1", "web", "default"), obj: bgp("n1", "db", "default"),
			field: "status.serviceName", msg: "status.serviceName is immutable"},
		{name: "bgp serviceNamespace changes", old: bgp("n1", "web", "default"), obj: bgp("n1", "web", "other"),
			field: "status.serviceNamespace", msg: "status.serviceNamespace is immutable"},
		{name: "configuration state", obj: cs("Valid")},
		{name: "configuration state result", obj: cs("Fine"),
			field: "status.result", msg: `supported values: "Valid", "Invalid", "Unknown"`},
	}
}

func TestStatusKinds(t *testing.T) {
	run(t, statusCases())
}

// allCases is every table above, for the coverage check below.
func allCases() []checkCase {
	var all []checkCase
	for _, f := range []func() []checkCase{poolCases, bgpAdvertisementCases, communityCases, peerV1beta2Cases, gracefulRestartCases, peerV1beta1Cases, l2Cases, bfdProfileCases, statusCases} {
		all = append(all, f()...)
	}
	return all
}

// rule is one x-kubernetes-validations entry and where it sits.
type rule struct {
	where string
	apiextensionsv1.ValidationRule
}

func collectRules(where string, s *apiextensionsv1.JSONSchemaProps, out *[]rule) {
	if s == nil {
		return
	}
	for _, r := range s.XValidations {
		*out = append(*out, rule{where, r})
	}
	for name, p := range s.Properties {
		collectRules(where+"."+name, &p, out)
	}
	if s.Items != nil {
		collectRules(where+"[]", s.Items.Schema, out)
	}
	if s.AdditionalProperties != nil {
		collectRules(where+"{}", s.AdditionalProperties.Schema, out)
	}
}

// literalPart is the constant text of a messageExpression after its first
// interpolation, e.g. ` must be a CIDR ...` in 'x "' + self + '" must be a
// CIDR ...': enough to recognise the message it produces.
var literalPart = regexp.MustCompile(`\+ '([^']{12,})'`)

// TestEveryRuleHasCases checks that each CEL rule in every CRD has a case
// it rejects (its message is some case's expected error) and that every
// table also has accepting cases: a new rule without tests fails here.
func TestEveryRuleHasCases(t *testing.T) {
	var rejected []string
	accepted := 0
	for _, c := range allCases() {
		if c.msg == "" {
			accepted++
		} else {
			rejected = append(rejected, c.msg)
		}
	}
	if accepted == 0 {
		t.Fatal("no accepting cases")
	}
	n := 0
	for _, crd := range crds(t).CRDs {
		for _, v := range crd.Spec.Versions {
			var rules []rule
			collectRules(crd.Spec.Names.Kind+"."+v.Name, v.Schema.OpenAPIV3Schema, &rules)
			for _, r := range rules {
				n++
				want := r.Message
				if r.MessageExpression != "" {
					m := literalPart.FindStringSubmatch(r.MessageExpression)
					if m == nil {
						t.Errorf("%s: cannot find the constant part of messageExpression %s", r.where, r.MessageExpression)
						continue
					}
					want = m[1]
				}
				if want == "" {
					t.Errorf("%s: rule %q has no message: every rule must say which field is wrong and how", r.where, r.Rule)
					continue
				}
				found := false
				for _, msg := range rejected {
					if msg == want || (r.MessageExpression != "" && strings.Contains(msg, want)) {
						found = true
						break
					}
				}
				if !found {
					t.Errorf("%s: no case is rejected by rule %q (message %q)", r.where, r.Rule, want)
				}
			}
		}
	}
	if n == 0 {
		t.Fatal("found no CEL rules in the CRDs")
	}
	t.Logf("%d CEL rules, %d rejecting and %d accepting cases", n, len(rejected), accepted)
}

// examplesDir holds the example configurations; every metallb.io object in
// them must pass the CRDs' schema and CEL rules as the API server would.
const examplesDir = "../../examples"

func TestExamples(t *testing.T) {
	s := crds(t)
	var files []string
	err := filepath.WalkDir(examplesDir, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && (strings.HasSuffix(path, ".yaml") || strings.HasSuffix(path, ".yml")) {
			files = append(files, path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Skip("no examples yet")
	}
	checked := 0
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for i, doc := range splitYAML(b) {
			probe := struct {
				APIVersion string `json:"apiVersion"`
			}{}
			if err := yaml.Unmarshal(doc, &probe); err != nil {
				t.Errorf("%s document %d: %v", f, i+1, err)
				continue
			}
			if !strings.HasPrefix(probe.APIVersion, "metallb.io/") {
				continue
			}
			v, o, err := s.Decode(doc)
			if err != nil {
				t.Errorf("%s document %d: %v", f, i+1, err)
				continue
			}
			for _, e := range v.Create(o) {
				t.Errorf("%s document %d (%s): %v", f, i+1, v.GVK.Kind, e)
			}
			checked++
		}
	}
	t.Logf("checked %d metallb.io objects in %d files", checked, len(files))
}

// splitYAML splits a multi-document YAML stream at "---" lines and drops
// empty documents.
func splitYAML(b []byte) [][]byte {
	var docs [][]byte
	for _, d := range regexp.MustCompile(`(?m)^---[ \t]*$`).Split(string(b), -1) {
		if len(bytes.TrimSpace([]byte(d))) > 0 && !onlyComments(d) {
			docs = append(docs, []byte(d))
		}
	}
	return docs
}

func onlyComments(d string) bool {
	for _, l := range strings.Split(d, "\n") {
		l = strings.TrimSpace(l)
		if l != "" && !strings.HasPrefix(l, "#") {
			return false
		}
	}
	return true
}

// TestV1beta1PeerSchemaIsSubsetOfV1beta2 backs the BGPPeer CRD's
// conversion strategy None (api/doc.go): every field the v1beta1 schema
// declares exists at v1beta2 with the same JSON type, so the API server can
// serve a stored v1beta1 object at v1beta2 unchanged.
func TestV1beta1PeerSchemaIsSubsetOfV1beta2(t *testing.T) {
	crd := crds(t).Files["metallb.io_bgppeers.yaml"]
	if crd == nil {
		t.Fatal("no BGPPeer CRD")
	}
	if crd.Spec.Conversion != nil && crd.Spec.Conversion.Strategy != apiextensionsv1.NoneConverter {
		t.Errorf("conversion strategy %q, want None", crd.Spec.Conversion.Strategy)
	}
	schemas := map[string]*apiextensionsv1.JSONSchemaProps{}
	for _, v := range crd.Spec.Versions {
		schemas[v.Name] = v.Schema.OpenAPIV3Schema
	}
	var walk func(path string, a, b *apiextensionsv1.JSONSchemaProps)
	walk = func(path string, a, b *apiextensionsv1.JSONSchemaProps) {
		if b == nil {
			t.Errorf("%s: in v1beta1, not in v1beta2", path)
			return
		}
		if a.Type != b.Type {
			t.Errorf("%s: type %q at v1beta1, %q at v1beta2", path, a.Type, b.Type)
		}
		for name, p := range a.Properties {
			var q *apiextensionsv1.JSONSchemaProps
			if bp, ok := b.Properties[name]; ok {
				q = &bp
			}
			walk(path+"."+name, &p, q)
		}
		if a.Items != nil {
			if b.Items == nil {
				t.Errorf("%s: list at v1beta1 only", path)
				return
			}
			walk(path+"[]", a.Items.Schema, b.Items.Schema)
		}
		if a.AdditionalProperties != nil {
			if b.AdditionalProperties == nil {
				t.Errorf("%s: map at v1beta1 only", path)
				return
			}
			walk(path+"{}", a.AdditionalProperties.Schema, b.AdditionalProperties.Schema)
		}
	}
	walk("BGPPeer", schemas["v1beta1"], schemas["v1beta2"])
}

// TestV1beta1PeersAreValidV1beta2 serves every accepted v1beta1 BGPPeer at
// v1beta2, as the API server does with strategy None, and validates it
// there: a client that reads it at v1beta2 and writes it back must not be
// refused. The one exception is peerPort 0, which v1beta1 allows (it means
// 179); the API server's validation ratcheting lets an unchanged invalid
// field through an update, and Go clients omit a zero port anyway.
func TestV1beta1PeersAreValidV1beta2(t *testing.T) {
	s := crds(t)
	n := 0
	for _, c := range peerV1beta1Cases() {
		if c.msg != "" {
			continue
		}
		n++
		v, o, err := s.Decode([]byte(strings.Replace(c.obj, "metallb.io/v1beta1", "metallb.io/v1beta2", 1)))
		if err != nil {
			t.Fatal(err)
		}
		errs := v.Create(o)
		if strings.Contains(c.obj, "peerPort: 0\n") {
			if len(errs) != 1 || errs[0].Field != "spec.peerPort" {
				t.Errorf("%s: want only the peerPort error at v1beta2, got %v", c.name, errs)
			}
			continue
		}
		for _, e := range errs {
			t.Errorf("%s: valid at v1beta1, not at v1beta2: %v", c.name, e)
		}
	}
	if n == 0 {
		t.Fatal("no accepted v1beta1 cases")
	}
}

// TestPrinterColumnsExist resolves every printer column's JSONPath in its
// version's schema: a column whose path names no field prints nothing, and
// nothing else would notice.
func TestPrinterColumnsExist(t *testing.T) {
	segment := regexp.MustCompile(`^([A-Za-z0-9]+)(\[\*\])?$`)
	for _, crd := range crds(t).CRDs {
		for _, v := range crd.Spec.Versions {
			if len(v.AdditionalPrinterColumns) == 0 {
				t.Errorf("%s %s: no printer columns", crd.Name, v.Name)
			}
			for _, c := range v.AdditionalPrinterColumns {
				s := v.Schema.OpenAPIV3Schema
				for _, part := range strings.Split(strings.TrimPrefix(c.JSONPath, "."), ".") {
					m := segment.FindStringSubmatch(part)
					if m == nil {
						t.Errorf("%s %s column %q: cannot follow %q", crd.Name, v.Name, c.Name, c.JSONPath)
						break
					}
					if m[1] == "metadata" {
						s = nil // metadata's fields are not in the CRD schema
						break
					}
					p, ok := s.Properties[m[1]]
					if !ok {
						t.Errorf("%s %s column %q: %s names no field", crd.Name, v.Name, c.Name, c.JSONPath)
						s = nil
						break
					}
					s = &p
					if m[2] != "" {
						if s.Items == nil {
							t.Errorf("%s %s column %q: %s is not a list", crd.Name, v.Name, c.Name, c.JSONPath)
							s = nil
							break
						}
						s = s.Items.Schema
					}
				}
				if s != nil && c.Type != "string" && s.Type != c.Type {
					t.Errorf("%s %s column %q: type %s, field is %s", crd.Name, v.Name, c.Name, c.Type, s.Type)
				}
			}
		}
	}
}

// appendixFields are the fields of issue 2's appendix, MetalLB's published
// API by JSON name: each must exist in the CRD schema of its kind and
// version, so a rename in the Go types cannot go unnoticed.
var appendixFields = map[string][]string{
	"IPAddressPool/v1beta1": {"spec.addresses", "spec.autoAssign", "spec.avoidBuggyIPs",
		"spec.serviceAllocation.priority", "spec.serviceAllocation.namespaces",
		"spec.serviceAllocation.namespaceSelectors", "spec.serviceAllocation.serviceSelectors",
		"status.assignedIPv4", "status.assignedIPv6", "status.availableIPv4", "status.availableIPv6"},
	"L2Advertisement/v1beta1": {"spec.ipAddressPools", "spec.ipAddressPoolSelectors", "spec.nodeSelectors",
		"spec.interfaces", "spec.serviceSelectors", "spec.preferredNodeSelectors[].weight",
		"spec.preferredNodeSelectors[].preference"},
	"BGPAdvertisement/v1beta1": {"spec.aggregationLength", "spec.aggregationLengthV6", "spec.localPref",
		"spec.communities", "spec.ipAddressPools", "spec.ipAddressPoolSelectors", "spec.nodeSelectors",
		"spec.nodeSelector", "spec.peers", "spec.serviceSelectors"},
	"BGPPeer/v1beta2": {"spec.myASN", "spec.peerASN", "spec.dynamicASN", "spec.localASN", "spec.peerAddress",
		"spec.interface", "spec.sourceAddress", "spec.peerPort", "spec.holdTime", "spec.keepaliveTime",
		"spec.connectTime", "spec.routerID", "spec.nodeSelectors", "spec.password", "spec.passwordSecret.name",
		"spec.passwordSecret.namespace", "spec.bfdProfile", "spec.enableGracefulRestart", "spec.ebgpMultiHop",
		"spec.vrf", "spec.disableMP", "spec.dualStackAddressFamily"},
	"BGPPeer/v1beta1": {"spec.myASN", "spec.peerASN", "spec.peerAddress", "spec.sourceAddress", "spec.peerPort",
		"spec.holdTime", "spec.keepaliveTime", "spec.routerID", "spec.nodeSelectors[].matchLabels",
		"spec.nodeSelectors[].matchExpressions[].key", "spec.nodeSelectors[].matchExpressions[].operator",
		"spec.nodeSelectors[].matchExpressions[].values", "spec.password", "spec.bfdProfile", "spec.ebgpMultiHop"},
	"BFDProfile/v1beta1": {"spec.receiveInterval", "spec.transmitInterval", "spec.detectMultiplier",
		"spec.echoInterval", "spec.echoMode", "spec.passiveMode", "spec.minimumTtl"},
	"Community/v1beta1":          {"spec.communities[].name", "spec.communities[].value"},
	"ConfigurationState/v1beta1": {"status.result", "status.errorSummary", "status.conditions"},
	"ServiceL2Status/v1beta1": {"status.node", "status.serviceName", "status.serviceNamespace",
		"status.interfaces[].name"},
	"ServiceBGPStatus/v1beta1": {"status.node", "status.serviceName", "status.serviceNamespace", "status.peers"},
}

func TestAppendixFields(t *testing.T) {
	schemas := map[string]*apiextensionsv1.JSONSchemaProps{}
	for _, crd := range crds(t).CRDs {
		for _, v := range crd.Spec.Versions {
			schemas[crd.Spec.Names.Kind+"/"+v.Name] = v.Schema.OpenAPIV3Schema
		}
	}
	for kv, paths := range appendixFields {
		root, ok := schemas[kv]
		if !ok {
			t.Errorf("%s: no CRD version", kv)
			continue
		}
		for _, path := range paths {
			s := root
			for _, part := range strings.Split(path, ".") {
				name, list := strings.CutSuffix(part, "[]")
				p, ok := s.Properties[name]
				if !ok {
					t.Errorf("%s: %s is not in the schema", kv, path)
					break
				}
				s = &p
				if list {
					if s.Items == nil {
						t.Errorf("%s: %s is not a list", kv, path)
						break
					}
					s = s.Items.Schema
				}
			}
		}
	}
}

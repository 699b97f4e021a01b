package manifest_test

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/heraldlb/herald/config"
	"github.com/heraldlb/herald/config/manifest"
)

func errorStrings(errs []error) []string {
	var out []string
	for _, e := range errs {
		out = append(out, e.Error())
	}
	return out
}

func TestAdd(t *testing.T) {
	tests := []struct {
		name    string
		doc     string
		objects []manifest.Object
		errors  []string
		check   func(t *testing.T, in config.Input)
	}{{
		name: "peerPort defaults to 179 only when absent; namespace defaults",
		doc: `
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: absent}
spec: {myASN: 1, peerASN: 2, peerAddress: 10.0.0.1}
---
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: zero, namespace: other}
spec: {myASN: 1, peerASN: 2, peerAddress: 10.0.0.1, peerPort: 0}
---
apiVersion: metallb.io/v1beta1
kind: BGPPeer
metadata: {name: old}
spec: {myASN: 1, peerASN: 2, peerAddress: 10.0.0.1}
`,
		objects: []manifest.Object{
			{Source: "t.yaml#1", APIVersion: "metallb.io/v1beta2", Kind: "BGPPeer", Namespace: "ns", Name: "absent"},
			{Source: "t.yaml#2", APIVersion: "metallb.io/v1beta2", Kind: "BGPPeer", Namespace: "other", Name: "zero"},
			{Source: "t.yaml#3", APIVersion: "metallb.io/v1beta1", Kind: "BGPPeer", Namespace: "ns", Name: "old"},
		},
		check: func(t *testing.T, in config.Input) {
			got := []any{in.BGPPeers[0].Spec.Port, in.BGPPeers[0].Namespace, in.BGPPeers[1].Spec.Port, in.BGPPeersV1beta1[0].Spec.Port}
			if diff := cmp.Diff([]any{uint16(179), "ns", uint16(0), uint16(179)}, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		},
	}, {
		name: "strict fields: unknown and repeated fields name their path",
		doc: `
apiVersion: metallb.io/v1beta1
kind: L2Advertisement
metadata: {name: l2}
spec:
  interfaces: [eth0]
  interfaces: [eth1]
  nodeSelectors: [{matchLabel: {a: b}}]
`,
		objects: []manifest.Object{{Source: "t.yaml#1", APIVersion: "metallb.io/v1beta1", Kind: "L2Advertisement", Namespace: "ns", Name: "l2"}},
		errors: []string{
			`L2Advertisement ns/l2: listed more than once: key "interfaces" (line 7 of the document)`,
			"L2Advertisement ns/l2: spec.nodeSelectors[0].matchLabel: unknown field",
		},
	}, {
		name: "kinds: cluster-scoped core objects, status kinds and others ignored, wrong versions refused",
		doc: `
apiVersion: v1
kind: Node
metadata: {name: n1}
---
apiVersion: metallb.io/v1beta1
kind: ServiceL2Status
metadata: {name: s}
---
apiVersion: metallb.io/v1beta2
kind: L2Advertisement
metadata: {name: l2}
---
apiVersion: metallb.io/v1beta1
kind: Community
metadata: {name: c}
---
apiVersion: metallb.io/v1beta1
kind: BFDProfile
metadata: {name: b}
---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: {name: b}
`,
		objects: []manifest.Object{
			{Source: "t.yaml#1", APIVersion: "v1", Kind: "Node", Name: "n1"},
			{Source: "t.yaml#2", APIVersion: "metallb.io/v1beta1", Kind: "ServiceL2Status", Namespace: "ns", Name: "s", Ignored: true},
			{Source: "t.yaml#3", APIVersion: "metallb.io/v1beta2", Kind: "L2Advertisement", Namespace: "ns", Name: "l2"},
			{Source: "t.yaml#4", APIVersion: "metallb.io/v1beta1", Kind: "Community", Namespace: "ns", Name: "c"},
			{Source: "t.yaml#5", APIVersion: "metallb.io/v1beta1", Kind: "BFDProfile", Namespace: "ns", Name: "b"},
			{Source: "t.yaml#6", APIVersion: "metallb.io/v1beta1", Kind: "BGPAdvertisement", Namespace: "ns", Name: "b"},
		},
		errors: []string{`L2Advertisement ns/l2: apiVersion: "metallb.io/v1beta2": invalid value: L2Advertisement is served as metallb.io/v1beta1`},
		check: func(t *testing.T, in config.Input) {
			if len(in.Nodes) != 1 || in.Nodes[0].Namespace != "" || len(in.Communities) != 1 || len(in.BFDProfiles) != 1 || len(in.BGPAdvertisements) != 1 {
				t.Errorf("input: %+v", in)
			}
		},
	}, {
		name: "documents that are not objects",
		doc: `
# only a comment
---
[1, 2]
---
kind: Pod
---
apiVersion: metallb.io/v1beta1
kind: BGPPeer
metadata: {name: p}
spec: {myASN: "many"}
`,
		objects: []manifest.Object{{Source: "t.yaml#4", APIVersion: "metallb.io/v1beta1", Kind: "BGPPeer", Namespace: "ns", Name: "p"}},
		errors: []string{
			"t.yaml#2: not a Kubernetes object: json: cannot unmarshal array into Go value of type manifest.header",
			"t.yaml#3: not a Kubernetes object: apiVersion and kind are required",
			"BGPPeer ns/p: spec.myASN: invalid value: wrong type, want uint32",
		},
		check: func(t *testing.T, in config.Input) {
			if len(in.BGPPeersV1beta1) != 0 {
				t.Error("a peer that failed to decode was kept")
			}
		},
	}, {
		name:   "broken YAML",
		doc:    "a: [\n",
		errors: []string{"t.yaml#1: yaml: line 1: did not find expected node content"},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &manifest.Set{DefaultNamespace: "ns"}
			s.Add("t.yaml", []byte(tt.doc))
			if diff := cmp.Diff(tt.objects, s.Objects); diff != "" {
				t.Errorf("objects (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.errors, errorStrings(s.Errors)); diff != "" {
				t.Errorf("errors (-want +got):\n%s", diff)
			}
			if tt.check != nil {
				tt.check(t, s.Input)
			}
		})
	}
}

func TestErrorsAreClassified(t *testing.T) {
	s := &manifest.Set{}
	s.Add("t.yaml", []byte("apiVersion: metallb.io/v1beta1\nkind: IPAddressPool\nmetadata: {name: a}\nspec: {adresses: []}\n---\nnope: [\n"))
	if len(s.Errors) != 2 || !errors.Is(s.Errors[0], config.ErrUnknownField) {
		t.Fatalf("%v", s.Errors)
	}
	var de *manifest.DocumentError
	if !errors.As(s.Errors[1], &de) || de.Source != "t.yaml#2" || errors.Unwrap(de) == nil {
		t.Errorf("%#v", s.Errors[1])
	}
}

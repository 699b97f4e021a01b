package v1beta1

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/heraldlb/herald/api/v1beta2"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func meta() metav1.ObjectMeta {
	return metav1.ObjectMeta{Name: "r1", Namespace: "herald-system", Labels: map[string]string{"a": "b"}, ResourceVersion: "7"}
}

func d(s string) metav1.Duration {
	v, err := time.ParseDuration(s)
	if err != nil {
		panic(err)
	}
	return metav1.Duration{Duration: v}
}

func dp(s string) *metav1.Duration { v := d(s); return &v }

var v1TypeMeta = metav1.TypeMeta{APIVersion: "metallb.io/v1beta1", Kind: "BGPPeer"}
var v2TypeMeta = metav1.TypeMeta{APIVersion: "metallb.io/v1beta2", Kind: "BGPPeer"}

// v1beta1Peers are objects every v1beta1 field appears in, with the
// distinctions a round trip must keep (nil against empty, Exists without
// values, zero timers).
var v1beta1Peers = map[string]BGPPeer{
	"minimal": {TypeMeta: v1TypeMeta, ObjectMeta: meta(), Spec: BGPPeerSpec{MyASN: 64512, ASN: 64513, Address: "10.0.0.1"}},
	"every field": {TypeMeta: v1TypeMeta, ObjectMeta: meta(), Spec: BGPPeerSpec{
		MyASN: 4294967295, ASN: 1, Address: "fc00::1", SrcAddress: "fc00::2", Port: 1179,
		HoldTime: d("90s"), KeepaliveTime: d("30s"), RouterID: "10.0.0.9",
		NodeSelectors: []NodeSelector{
			{MatchLabels: map[string]string{"rack": "a"}},
			{MatchExpressions: []MatchExpression{
				{Key: "zone", Operator: "In", Values: []string{"x", "y"}},
				{Key: "spine", Operator: "Exists"},
				{Key: "edge", Operator: "DoesNotExist", Values: []string{}},
			}},
			{},
		},
		Password: "s3cret", BFDProfile: "fast", EBGPMultiHop: true,
	}},
	"empty selector list": {TypeMeta: v1TypeMeta, ObjectMeta: meta(), Spec: BGPPeerSpec{
		MyASN: 1, ASN: 2, Address: "10.0.0.1", NodeSelectors: []NodeSelector{}}},
	"hold time only": {TypeMeta: v1TypeMeta, ObjectMeta: meta(), Spec: BGPPeerSpec{
		MyASN: 1, ASN: 2, Address: "10.0.0.1", HoldTime: d("9s")}},
	"keepalive only": {TypeMeta: v1TypeMeta, ObjectMeta: meta(), Spec: BGPPeerSpec{
		MyASN: 1, ASN: 2, Address: "10.0.0.1", KeepaliveTime: d("3s")}},
}

func TestRoundTripFromV1beta1(t *testing.T) {
	for name, in := range v1beta1Peers {
		t.Run(name, func(t *testing.T) {
			var mid v1beta2.BGPPeer
			if err := in.ConvertTo(&mid); err != nil {
				t.Fatal(err)
			}
			if mid.TypeMeta != v2TypeMeta {
				t.Errorf("ConvertTo TypeMeta = %+v", mid.TypeMeta)
			}
			var out BGPPeer
			if err := out.ConvertFrom(&mid); err != nil {
				t.Fatalf("ConvertFrom: %v", err)
			}
			if !reflect.DeepEqual(in, out) {
				t.Errorf("round trip changed the object\n in: %s\nout: %s", js(in), js(out))
			}
		})
	}
}

func TestConvertToDoesNotAlias(t *testing.T) {
	in := v1beta1Peers["every field"]
	in = *in.DeepCopy()
	var out v1beta2.BGPPeer
	if err := in.ConvertTo(&out); err != nil {
		t.Fatal(err)
	}
	out.Labels["a"] = "changed"
	out.Spec.NodeSelectors[0].MatchLabels["rack"] = "changed"
	out.Spec.NodeSelectors[1].MatchExpressions[0].Values[0] = "changed"
	if in.Labels["a"] != "b" || in.Spec.NodeSelectors[0].MatchLabels["rack"] != "a" || in.Spec.NodeSelectors[1].MatchExpressions[0].Values[0] != "x" {
		t.Error("the converted object shares maps or slices with its source")
	}
}

func TestRoundTripFromV1beta2(t *testing.T) {
	for name, in := range map[string]v1beta2.BGPPeer{
		"minimal": {TypeMeta: v2TypeMeta, ObjectMeta: meta(), Spec: v1beta2.BGPPeerSpec{MyASN: 1, ASN: 2, Address: "10.0.0.1"}},
		"common fields": {TypeMeta: v2TypeMeta, ObjectMeta: meta(), Spec: v1beta2.BGPPeerSpec{
			MyASN: 1, ASN: 2, Address: "10.0.0.1", SrcAddress: "10.0.0.2", Port: 179,
			HoldTime: dp("90s"), KeepaliveTime: dp("30s"), RouterID: "1.1.1.1",
			NodeSelectors: []metav1.LabelSelector{{MatchLabels: map[string]string{"a": "b"}}},
			Password:      "p", BFDProfile: "b", EBGPMultiHop: true,
		}},
	} {
		t.Run(name, func(t *testing.T) {
			var mid BGPPeer
			if err := mid.ConvertFrom(&in); err != nil {
				t.Fatal(err)
			}
			var out v1beta2.BGPPeer
			if err := mid.ConvertTo(&out); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(in, out) {
				t.Errorf("round trip changed the object\n in: %s\nout: %s", js(in), js(out))
			}
		})
	}
}

func TestConvertFromReportsWhatV1beta1Cannot(t *testing.T) {
	base := v1beta2.BGPPeerSpec{MyASN: 1, ASN: 2, Address: "10.0.0.1"}
	for field, mutate := range map[string]func(*v1beta2.BGPPeerSpec){
		"dynamicASN":             func(s *v1beta2.BGPPeerSpec) { s.ASN, s.DynamicASN = 0, v1beta2.ExternalASNMode },
		"localASN":               func(s *v1beta2.BGPPeerSpec) { s.LocalASN = 65000 },
		"interface":              func(s *v1beta2.BGPPeerSpec) { s.Address, s.Interface = "", "eth0" },
		"connectTime":            func(s *v1beta2.BGPPeerSpec) { s.ConnectTime = dp("5s") },
		"passwordSecret":         func(s *v1beta2.BGPPeerSpec) { s.PasswordSecret = corev1.SecretReference{Name: "bgp"} },
		"enableGracefulRestart":  func(s *v1beta2.BGPPeerSpec) { s.EnableGracefulRestart = true },
		"vrf":                    func(s *v1beta2.BGPPeerSpec) { s.VRFName = "red" },
		"disableMP":              func(s *v1beta2.BGPPeerSpec) { s.DisableMP = true },
		"dualStackAddressFamily": func(s *v1beta2.BGPPeerSpec) { s.DualStackAddressFamily = true },
		"holdTime 0s":            func(s *v1beta2.BGPPeerSpec) { s.HoldTime = dp("0s") },
		"keepaliveTime 0s":       func(s *v1beta2.BGPPeerSpec) { s.HoldTime, s.KeepaliveTime = dp("0s"), dp("0s") },
	} {
		t.Run(field, func(t *testing.T) {
			in := v1beta2.BGPPeer{ObjectMeta: meta(), Spec: base}
			mutate(&in.Spec)
			var out BGPPeer
			err := out.ConvertFrom(&in)
			if !errors.Is(err, ErrNotRepresentable) || !strings.Contains(err.Error(), field) {
				t.Fatalf("err = %v, want ErrNotRepresentable naming %s", err, field)
			}
			if out.Spec.MyASN != 1 || out.Name != "r1" {
				t.Errorf("the representable fields were not converted: %s", js(out))
			}
		})
	}
}

// TestSameJSON is the claim behind the CRD's conversion strategy None: a
// v1beta1 document read as v1beta2 means what ConvertTo says it means.
// Each document is decoded both ways and the results compared.
func TestSameJSON(t *testing.T) {
	docs := map[string]string{
		"minimal":   `{"spec":{"myASN":64512,"peerASN":64513,"peerAddress":"10.0.0.1"}}`,
		"timers":    `{"spec":{"myASN":1,"peerASN":2,"peerAddress":"10.0.0.1","holdTime":"90s","keepaliveTime":"30s"}}`,
		"selectors": `{"spec":{"myASN":1,"peerASN":2,"peerAddress":"10.0.0.1","nodeSelectors":[{"matchLabels":{"a":"b"},"matchExpressions":[{"key":"k","operator":"In","values":["v"]},{"key":"e","operator":"Exists"}]},{}]}}`,
		"rest":      `{"spec":{"myASN":1,"peerASN":2,"peerAddress":"fc00::1","sourceAddress":"fc00::2","peerPort":1179,"routerID":"10.0.0.9","password":"p","bfdProfile":"f","ebgpMultiHop":true}}`,
	}
	for name, doc := range docs {
		t.Run(name, func(t *testing.T) {
			var old BGPPeer
			strictDecode(t, doc, &old)
			var want, got v1beta2.BGPPeer
			strictDecode(t, doc, &want)
			if err := old.ConvertTo(&got); err != nil {
				t.Fatal(err)
			}
			got.TypeMeta = want.TypeMeta
			if !reflect.DeepEqual(want, got) {
				t.Errorf("v1beta2 reads the document as\n%s\nConvertTo gives\n%s", js(want), js(got))
			}
		})
	}

	// What Herald's own v1beta1 Go clients write must mean the same at
	// v1beta2 too: unset timers are omitted, not written as "0s".
	for name, in := range v1beta1Peers {
		t.Run("marshalled "+name, func(t *testing.T) {
			b, err := json.Marshal(in)
			if err != nil {
				t.Fatal(err)
			}
			var want, got v1beta2.BGPPeer
			strictDecode(t, string(b), &want)
			if err := in.ConvertTo(&got); err != nil {
				t.Fatal(err)
			}
			want.TypeMeta = got.TypeMeta
			// JSON drops empty lists (omitempty), so compare with the
			// API machinery's equality, for which nil and empty are equal.
			if !equality.Semantic.DeepEqual(want, got) {
				t.Errorf("v1beta2 reads %s as\n%s\nConvertTo gives\n%s", b, js(want), js(got))
			}
		})
	}

	// The one document the v1beta1 Go type cannot represent: an explicit
	// 0s. The API server keeps it (v1beta2 reads 0s); Go code that decodes
	// v1beta1 reads unset. api/doc.go documents this.
	doc := `{"spec":{"myASN":1,"peerASN":2,"peerAddress":"10.0.0.1","holdTime":"0s"}}`
	var old BGPPeer
	strictDecode(t, doc, &old)
	var v2, conv v1beta2.BGPPeer
	strictDecode(t, doc, &v2)
	_ = old.ConvertTo(&conv)
	if v2.Spec.HoldTime == nil || v2.Spec.HoldTime.Duration != 0 || conv.Spec.HoldTime != nil {
		t.Errorf("explicit holdTime 0s: v1beta2 reads %v, ConvertTo gives %v; the documented difference changed", v2.Spec.HoldTime, conv.Spec.HoldTime)
	}
}

// TestV1beta1FieldsExistInV1beta2 checks field by field that every JSON
// name v1beta1 can write is one v1beta2 decodes into a field of the same
// JSON shape: a fully populated v1beta1 object, marshalled, decodes into
// v1beta2 with unknown fields disallowed and marshals back to the same
// JSON.
func TestV1beta1FieldsExistInV1beta2(t *testing.T) {
	in := v1beta1Peers["every field"]
	b, err := json.Marshal(in.Spec)
	if err != nil {
		t.Fatal(err)
	}
	var v2 v1beta2.BGPPeerSpec
	strictDecode(t, string(b), &v2)
	back, err := json.Marshal(v2)
	if err != nil {
		t.Fatal(err)
	}
	var a, c map[string]any
	if err := json.Unmarshal(b, &a); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(back, &c); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(a, c) {
		t.Errorf("v1beta1 JSON\n%s\nchanged shape through v1beta2\n%s", b, back)
	}
	// Every v1beta1 spec field must be in the populated object, or the
	// check above proves nothing about it.
	st := reflect.TypeOf(BGPPeerSpec{})
	for i := range st.NumField() {
		name, _, _ := strings.Cut(st.Field(i).Tag.Get("json"), ",")
		if _, ok := a[name]; !ok {
			t.Errorf("the populated v1beta1 object does not set %s", name)
		}
	}
}

func strictDecode(t *testing.T, doc string, into any) {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader([]byte(doc)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(into); err != nil {
		t.Fatalf("decoding %s into %T: %v", doc, into, err)
	}
}

func js(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

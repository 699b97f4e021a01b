package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/heraldlb/herald/config"
	"github.com/heraldlb/herald/config/manifest"
)

const ns = "metallb-system"

// static is a Source that returns fixed objects, or an error.
type static struct {
	in  config.Input
	err error
}

func (s static) ConfigInput() (config.Input, error) { return s.in, s.err }

// objects decodes YAML documents into an Input, failing on any decoding
// error (the fixtures are meant to decode; their validity is the test).
func objects(t *testing.T, docs string) config.Input {
	t.Helper()
	set := &manifest.Set{DefaultNamespace: ns}
	set.Add("fixture", []byte(docs))
	for _, err := range set.Errors {
		var ce *config.Error
		if !errors.As(err, &ce) {
			t.Fatalf("fixture: %v", err)
		}
	}
	return set.Input
}

// request builds an AdmissionRequest for one YAML object. The object goes
// through manifest first so it carries the CRD defaults, as an object from
// the API server does.
func request(t *testing.T, op admissionv1.Operation, doc string) *admissionv1.AdmissionRequest {
	t.Helper()
	set := &manifest.Set{}
	set.Add("request", []byte(doc))
	for _, err := range set.Errors {
		var ce *config.Error
		if !errors.As(err, &ce) {
			t.Fatalf("request: %v", err)
		}
	}
	if len(set.Objects) != 1 {
		t.Fatalf("request: %d objects", len(set.Objects))
	}
	o := set.Objects[0]
	var v any
	in := set.Input
	switch {
	case len(in.IPAddressPools) == 1:
		v = in.IPAddressPools[0]
	case len(in.L2Advertisements) == 1:
		v = in.L2Advertisements[0]
	case len(in.BGPAdvertisements) == 1:
		v = in.BGPAdvertisements[0]
	case len(in.BGPPeers) == 1:
		v = in.BGPPeers[0]
	case len(in.BGPPeersV1beta1) == 1:
		v = in.BGPPeersV1beta1[0]
	case len(in.BFDProfiles) == 1:
		v = in.BFDProfiles[0]
	case len(in.Communities) == 1:
		v = in.Communities[0]
	default:
		t.Fatalf("request: no metallb.io object in %q", doc)
	}
	raw, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	group, version, _ := strings.Cut(o.APIVersion, "/")
	req := &admissionv1.AdmissionRequest{
		UID:       "u1",
		Kind:      metav1.GroupVersionKind{Group: group, Version: version, Kind: o.Kind},
		Name:      o.Name,
		Namespace: o.Namespace,
		Operation: op,
	}
	if op == admissionv1.Delete {
		req.OldObject = runtime.RawExtension{Raw: raw}
	} else {
		req.Object = runtime.RawExtension{Raw: raw}
	}
	return req
}

const (
	poolA = `
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: a, namespace: metallb-system}
spec: {addresses: [10.0.0.0/24]}
`
	poolAFixed = `
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: a, namespace: metallb-system}
spec: {addresses: [10.0.0.0/25]}
`
	poolABroken = `
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: a, namespace: metallb-system}
spec: {addresses: [10.0.0.9-10.0.0.1]}
`
	poolABrokenRelabelled = `
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: a, namespace: metallb-system, labels: {x: z}}
spec: {addresses: [10.0.0.9-10.0.0.1]}
`
	poolBOverlap = `
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: b, namespace: metallb-system}
spec: {addresses: [10.0.0.128-10.0.0.130]}
`
	poolC = `
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: c, namespace: metallb-system}
spec: {addresses: [192.168.0.0/24]}
`
	poolOtherNS = `
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: a, namespace: default}
spec: {addresses: [10.0.0.9-10.0.0.1]}
`
	l2ToA = `
apiVersion: metallb.io/v1beta1
kind: L2Advertisement
metadata: {name: l2, namespace: metallb-system}
spec: {ipAddressPools: [a]}
`
	l2ToB = `
apiVersion: metallb.io/v1beta1
kind: L2Advertisement
metadata: {name: l2, namespace: metallb-system}
spec: {ipAddressPools: [b]}
`
	advOne = `
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: {name: one, namespace: metallb-system}
spec: {localPref: 100}
`
	advTwo = `
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: {name: two, namespace: metallb-system}
spec: {localPref: 200}
`
	advAgg33 = `
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: {name: agg, namespace: metallb-system}
spec: {aggregationLength: 33}
`
	peerP = `
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: p, namespace: metallb-system}
spec: {myASN: 64512, peerASN: 64512, peerAddress: 10.9.0.1}
`
	peerPFast = `
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: p, namespace: metallb-system}
spec: {myASN: 64512, peerASN: 64512, peerAddress: 10.9.0.1, bfdProfile: fast}
`
	peerQFast = `
apiVersion: metallb.io/v1beta1
kind: BGPPeer
metadata: {name: q, namespace: metallb-system}
spec: {myASN: 64512, peerASN: 64512, peerAddress: 10.9.0.2, bfdProfile: fast}
`
	peerV1 = `
apiVersion: metallb.io/v1beta1
kind: BGPPeer
metadata: {name: old, namespace: metallb-system}
spec: {myASN: 64512, peerASN: 64512, peerAddress: 10.9.0.3}
`
	peerV1Hold2 = `
apiVersion: metallb.io/v1beta1
kind: BGPPeer
metadata: {name: old, namespace: metallb-system}
spec: {myASN: 64512, peerASN: 64512, peerAddress: 10.9.0.3, holdTime: 2s}
`
	bfdFast = `
apiVersion: metallb.io/v1beta1
kind: BFDProfile
metadata: {name: fast, namespace: metallb-system}
spec: {detectMultiplier: 3}
`
	bfdMult1 = `
apiVersion: metallb.io/v1beta1
kind: BFDProfile
metadata: {name: fast, namespace: metallb-system}
spec: {detectMultiplier: 1}
`
	commC1 = `
apiVersion: metallb.io/v1beta1
kind: Community
metadata: {name: c1, namespace: metallb-system}
spec: {communities: [{name: east, value: "65000:1"}]}
`
	commC2 = `
apiVersion: metallb.io/v1beta1
kind: Community
metadata: {name: c2, namespace: metallb-system}
spec: {communities: [{name: east, value: "65000:2"}]}
`
	commBad = `
apiVersion: metallb.io/v1beta1
kind: Community
metadata: {name: c, namespace: metallb-system}
spec: {communities: [{name: x, value: "1:2:3"}]}
`
)

func docs(ds ...string) string { return strings.Join(ds, "\n---\n") }

func TestReview(t *testing.T) {
	tests := []struct {
		name     string
		existing string
		op       admissionv1.Operation
		obj      string
		// wantMsg empty means admitted.
		wantMsg      string
		wantCode     int32
		wantWarnings []string
	}{
		{name: "pool create valid", op: admissionv1.Create, obj: poolA},
		{name: "pool create reversed range", op: admissionv1.Create, obj: poolABroken,
			wantMsg:  `IPAddressPool metallb-system/a: spec.addresses[0]: "10.0.0.9-10.0.0.1": range end is before its start`,
			wantCode: 403},
		{name: "pool create overlapping an existing pool", existing: poolA, op: admissionv1.Create, obj: poolBOverlap,
			wantMsg:  `IPAddressPool metallb-system/b: spec.addresses[0]: "10.0.0.128-10.0.0.130": overlaps another address range: 10.0.0.0/24 (IPAddressPool metallb-system/a spec.addresses[0])`,
			wantCode: 403},
		{name: "pool update into an overlap named on the other pool", existing: docs(poolC, poolBOverlap), op: admissionv1.Create, obj: poolA,
			wantMsg:  `IPAddressPool metallb-system/b: spec.addresses[0]: "10.0.0.128-10.0.0.130": overlaps another address range: 10.0.0.0/24 (IPAddressPool metallb-system/a spec.addresses[0])`,
			wantCode: 403},
		{name: "pool fixing a broken pool is admitted", existing: poolABroken, op: admissionv1.Update, obj: poolAFixed},
		{name: "pool update keeping its error is refused", existing: poolABroken, op: admissionv1.Update, obj: poolABrokenRelabelled,
			wantMsg:  `IPAddressPool metallb-system/a: spec.addresses[0]: "10.0.0.9-10.0.0.1": range end is before its start`,
			wantCode: 403},
		{name: "pool created beside a broken one is admitted with a warning", existing: poolABroken, op: admissionv1.Create, obj: poolC,
			wantWarnings: []string{`the configuration still has 1 error(s) in other objects, which Herald cannot load until they are fixed; first: IPAddressPool metallb-system/a: spec.addresses[0]: "10.0.0.9-10.0.0.1": range end is before its start`}},
		{name: "pool outside Herald's namespace", op: admissionv1.Create, obj: poolOtherNS,
			wantWarnings: []string{`IPAddressPool default/a has no effect: Herald reads metallb.io objects only in namespace "metallb-system"`}},
		{name: "pool delete referenced by name warns", existing: docs(poolA, l2ToA), op: admissionv1.Delete, obj: poolA,
			wantWarnings: []string{`after deleting IPAddressPool metallb-system/a: L2Advertisement metallb-system/l2: spec.ipAddressPools[0]: "a": no IPAddressPool with this name`}},
		{name: "pool shrink that breaks nothing", existing: docs(poolA, l2ToA), op: admissionv1.Update, obj: poolAFixed},

		{name: "l2 valid", existing: poolA, op: admissionv1.Create, obj: l2ToA},
		{name: "l2 unknown pool", existing: poolA, op: admissionv1.Create, obj: l2ToB,
			wantMsg:  `L2Advertisement metallb-system/l2: spec.ipAddressPools[0]: "b": no IPAddressPool with this name`,
			wantCode: 403},
		{name: "l2 delete", existing: docs(poolA, l2ToA), op: admissionv1.Delete, obj: l2ToA},

		{name: "bgpadv aggregation out of range", existing: docs(poolA, peerP), op: admissionv1.Create, obj: advAgg33,
			wantMsg:  `BGPAdvertisement metallb-system/agg: spec.aggregationLength: 33: out of range: must be 1 to 32`,
			wantCode: 403},
		{name: "bgpadv localPref conflict",
			existing: docs(poolA, advOne, peerP), op: admissionv1.Create, obj: advTwo,
			wantMsg:  `BGPAdvertisement metallb-system/two: spec.localPref: 200: conflicting localPref: BGPAdvertisement metallb-system/one sends the same prefixes of IPAddressPool metallb-system/a to the same peers from the same nodes with localPref 100`,
			wantCode: 403},

		{name: "peer v1beta2 unknown BFD profile", op: admissionv1.Create, obj: peerPFast,
			wantMsg:  `BGPPeer metallb-system/p: spec.bfdProfile: "fast": no BFDProfile with this name`,
			wantCode: 403},
		{name: "peer v1beta2 with its BFD profile", existing: bfdFast, op: admissionv1.Create, obj: peerPFast},
		{name: "peer v1beta1 valid warns deprecation", op: admissionv1.Create, obj: peerV1,
			wantWarnings: []string{deprecated}},
		{name: "peer v1beta1 update to v1beta2 drops the warning", existing: peerV1, op: admissionv1.Update,
			obj: strings.Replace(peerV1, "v1beta1", "v1beta2", 1)},
		{name: "peer v1beta1 hold time", op: admissionv1.Create, obj: peerV1Hold2,
			wantMsg:  `BGPPeer metallb-system/old: spec.holdTime: "2s": invalid hold time: must be 0s or 3s to 65535s`,
			wantCode: 403, wantWarnings: []string{deprecated}},

		{name: "bfd multiplier 1", op: admissionv1.Create, obj: bfdMult1,
			wantMsg:  `BFDProfile metallb-system/fast: spec.detectMultiplier: 1: out of range: must be 2 to 255`,
			wantCode: 403},
		{name: "bfd delete in use by both versions", existing: docs(bfdFast, peerPFast, peerQFast), op: admissionv1.Delete, obj: bfdFast,
			wantMsg:  `BFDProfile metallb-system/fast: in use: spec.bfdProfile of BGPPeer metallb-system/p, BGPPeer metallb-system/q names it; change or remove spec.bfdProfile there first`,
			wantCode: 403},
		{name: "bfd delete unused", existing: docs(bfdFast, peerP), op: admissionv1.Delete, obj: bfdFast},

		{name: "community duplicate alias", existing: commC1, op: admissionv1.Create, obj: commC2,
			wantMsg:  `Community metallb-system/c2: spec.communities[0].name: "east": name already used by another object of this kind: already defined by Community metallb-system/c1`,
			wantCode: 403},
		{name: "community bad value", op: admissionv1.Create, obj: commBad,
			wantMsg:  `Community metallb-system/c: spec.communities[0].value: "1:2:3": malformed community: want "A:B", "large:A:B:C" or a well-known name`,
			wantCode: 403},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var in config.Input
			if tc.existing != "" {
				in = objects(t, tc.existing)
			}
			h := NewHandler(ns, static{in: in}, nil, nil)
			resp := h.Review(context.Background(), request(t, tc.op, tc.obj))
			if tc.wantMsg == "" {
				if !resp.Allowed {
					t.Fatalf("refused: %s", resp.Result.Message)
				}
			} else {
				if resp.Allowed {
					t.Fatalf("admitted, want refusal %q", tc.wantMsg)
				}
				if diff := cmp.Diff(tc.wantMsg, resp.Result.Message); diff != "" {
					t.Errorf("message (-want +got):\n%s", diff)
				}
				if resp.Result.Code != tc.wantCode {
					t.Errorf("code %d, want %d", resp.Result.Code, tc.wantCode)
				}
			}
			if diff := cmp.Diff(tc.wantWarnings, resp.Warnings, cmpEmpty); diff != "" {
				t.Errorf("warnings (-want +got):\n%s", diff)
			}
		})
	}
}

// cmpEmpty treats nil and empty slices alike.
var cmpEmpty = cmp.FilterValues(func(a, b []string) bool { return len(a) == 0 && len(b) == 0 }, cmp.Ignore())

// deprecated is config's warning for peer "old" written at v1beta1.
const deprecated = "BGPPeer metallb-system/old: apiVersion: metallb.io/v1beta1 BGPPeer is deprecated; it is read as metallb.io/v1beta2, write it so"

func TestReviewCausesNameFields(t *testing.T) {
	h := NewHandler(ns, static{in: objects(t, poolA)}, nil, nil)
	resp := h.Review(context.Background(), request(t, admissionv1.Create, l2ToB))
	want := []metav1.StatusCause{{Type: metav1.CauseTypeFieldValueInvalid, Field: "spec.ipAddressPools[0]",
		Message: `L2Advertisement metallb-system/l2: spec.ipAddressPools[0]: "b": no IPAddressPool with this name`}}
	if diff := cmp.Diff(want, resp.Result.Details.Causes); diff != "" {
		t.Errorf("causes (-want +got):\n%s", diff)
	}
	if resp.Result.Reason != metav1.StatusReasonForbidden || resp.Result.Details.Kind != "L2Advertisement" {
		t.Errorf("status %+v", resp.Result)
	}
}

func TestReviewLiveConfirmsRefusal(t *testing.T) {
	// The cache has not seen pool a yet; the API server has.
	stale := static{}
	live := static{in: objects(t, poolA)}
	h := NewHandler(ns, stale, live, nil)
	if resp := h.Review(context.Background(), request(t, admissionv1.Create, l2ToA)); !resp.Allowed {
		t.Fatalf("refused on a stale cache: %s", resp.Result.Message)
	}
	// Without a live source the stale cache decides.
	h = NewHandler(ns, stale, nil, nil)
	if resp := h.Review(context.Background(), request(t, admissionv1.Create, l2ToA)); resp.Allowed {
		t.Fatal("admitted without the pool")
	}
}

func TestReviewSourceError(t *testing.T) {
	h := NewHandler(ns, static{err: errors.New("cache not synced")}, nil, nil)
	resp := h.Review(context.Background(), request(t, admissionv1.Create, poolA))
	if resp.Allowed || resp.Result.Code != 500 || !strings.Contains(resp.Result.Message, "cache not synced") {
		t.Fatalf("response %+v", resp)
	}
}

func TestReviewTerminatingObjectAdmitted(t *testing.T) {
	h := NewHandler(ns, static{}, nil, nil)
	doc := strings.Replace(poolABroken, "metadata: {", "metadata: {deletionTimestamp: \"2026-01-01T00:00:00Z\", finalizers: [x], ", 1)
	if resp := h.Review(context.Background(), request(t, admissionv1.Update, doc)); !resp.Allowed {
		t.Fatalf("finalizer removal refused: %s", resp.Result.Message)
	}
}

func TestServeHTTP(t *testing.T) {
	h := NewHandler(ns, static{in: objects(t, poolA)}, nil, nil)
	review := admissionv1.AdmissionReview{
		TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"},
		Request:  request(t, admissionv1.Create, l2ToB),
	}
	body, _ := json.Marshal(review)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, Path, bytes.NewReader(body)))
	if rec.Code != http.StatusOK {
		t.Fatalf("HTTP %d: %s", rec.Code, rec.Body)
	}
	var out admissionv1.AdmissionReview
	if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil {
		t.Fatal(err)
	}
	if out.APIVersion != "admission.k8s.io/v1" || out.Kind != "AdmissionReview" || out.Response == nil ||
		out.Response.UID != "u1" || out.Response.Allowed {
		t.Fatalf("response %+v", out)
	}

	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, Path, strings.NewReader("{")))
	if rec.Code != http.StatusBadRequest {
		t.Errorf("malformed body: HTTP %d", rec.Code)
	}
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, Path, nil))
	if rec.Code != http.StatusMethodNotAllowed {
		t.Errorf("GET: HTTP %d", rec.Code)
	}
}

func TestMentionedIn(t *testing.T) {
	a := object{"IPAddressPool", ns, "a"}
	for text, want := range map[string]bool{
		"x (IPAddressPool metallb-system/a spec.addresses[0])":                   true,
		"IPAddressPool metallb-system/a":                                         true,
		"IPAddressPool metallb-system/ab: x":                                     false,
		"IPAddressPool metallb-system/a.b: x; IPAddressPool metallb-system/a: y": true,
		"L2Advertisement metallb-system/a":                                       false,
	} {
		if got := a.mentionedIn(text); got != want {
			t.Errorf("mentionedIn(%q) = %v, want %v", text, got, want)
		}
	}
}

// A v1beta1 peer arrives from the API server without spec.peerPort (that
// version has no schema default); it means 179, not 0.
func TestReviewV1beta1PeerWithoutPort(t *testing.T) {
	h := NewHandler(ns, static{}, nil, nil)
	raw := `{"apiVersion":"metallb.io/v1beta1","kind":"BGPPeer","metadata":{"name":"old","namespace":"metallb-system"},` +
		`"spec":{"myASN":64512,"peerASN":64512,"peerAddress":"10.9.0.3"}}`
	req := &admissionv1.AdmissionRequest{UID: "u", Name: "old", Namespace: ns, Operation: admissionv1.Create,
		Kind:   metav1.GroupVersionKind{Group: Group, Version: "v1beta1", Kind: "BGPPeer"},
		Object: runtime.RawExtension{Raw: []byte(raw)}}
	if resp := h.Review(context.Background(), req); !resp.Allowed {
		t.Fatalf("refused: %s", resp.Result.Message)
	}
	req.Object.Raw = []byte(strings.Replace(raw, `"myASN"`, `"peerPort":0,"myASN"`, 1))
	resp := h.Review(context.Background(), req)
	if resp.Allowed || !strings.Contains(resp.Result.Message, "spec.peerPort: 0") {
		t.Fatalf("explicit port 0: %+v", resp.Result)
	}
}

package webhook

import (
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"

	admissionv1 "k8s.io/api/admission/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/heraldlb/herald/api/v1beta1"
	"github.com/heraldlb/herald/api/v1beta2"
	"github.com/heraldlb/herald/config"
)

// Group is the API group the webhook validates.
const Group = "metallb.io"

// object names the object under review the way config's errors do.
type object struct {
	Kind      string
	Namespace string
	Name      string
}

func (o object) String() string {
	if o.Namespace == "" {
		return o.Kind + " " + o.Name
	}
	return o.Kind + " " + o.Namespace + "/" + o.Name
}

// mentionedIn reports whether text names o ("IPAddressPool ns/a") as a whole
// word, so pool "a" is not found in "IPAddressPool ns/ab".
func (o object) mentionedIn(text string) bool {
	needle := o.String()
	for i := 0; ; {
		j := strings.Index(text[i:], needle)
		if j < 0 {
			return false
		}
		end := i + j + len(needle)
		if end == len(text) || !isNameByte(text[end]) {
			return true
		}
		i = end
	}
}

// isNameByte is a byte that may continue a Kubernetes object name.
func isNameByte(b byte) bool {
	return b >= 'a' && b <= 'z' || b >= '0' && b <= '9' || b == '-' || b == '.'
}

// decode types raw (AdmissionRequest.Object or OldObject) by the request's
// kind. An unknown kind is an error: the webhook configuration routes only
// metallb.io kinds here.
func decode(gvk schema.GroupVersionKind, raw []byte) (any, error) {
	var v any
	switch gvk.Version + "/" + gvk.Kind {
	case "v1beta1/IPAddressPool":
		v = &v1beta1.IPAddressPool{}
	case "v1beta1/L2Advertisement":
		v = &v1beta1.L2Advertisement{}
	case "v1beta1/BGPAdvertisement":
		v = &v1beta1.BGPAdvertisement{}
	case "v1beta1/BGPPeer":
		v = &v1beta1.BGPPeer{}
	case "v1beta2/BGPPeer":
		v = &v1beta2.BGPPeer{}
	case "v1beta1/BFDProfile":
		v = &v1beta1.BFDProfile{}
	case "v1beta1/Community":
		v = &v1beta1.Community{}
	default:
		return nil, fmt.Errorf("%s is not a kind this webhook validates", gvk)
	}
	if gvk.Group != Group {
		return nil, fmt.Errorf("%s is not a kind this webhook validates", gvk)
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return nil, fmt.Errorf("decoding %s: %w", gvk.Kind, err)
	}
	defaultPeerPort(v, raw)
	return v, nil
}

// defaultPeerPort gives a BGPPeer without spec.peerPort the port 179, as
// config/manifest does for files. v1beta1's schema has no default (its Go
// type cannot tell 0 from unset), so the API server sends such a peer with
// the field absent, which would otherwise decode as port 0 and be refused.
// An explicit 0 stays 0 and is refused, as in `herald validate`.
func defaultPeerPort(v any, raw []byte) {
	var probe struct {
		Spec struct {
			PeerPort *json.RawMessage `json:"peerPort"`
		} `json:"spec"`
	}
	if json.Unmarshal(raw, &probe) != nil || probe.Spec.PeerPort != nil {
		return
	}
	switch p := v.(type) {
	case *v1beta1.BGPPeer:
		p.Spec.Port = config.DefaultPeerPort
	case *v1beta2.BGPPeer:
		p.Spec.Port = config.DefaultPeerPort
	}
}

// without returns a copy of in minus the object of kind named name. Slices
// are rebuilt, never modified in place: in may share arrays with a cache.
func without(in config.Input, kind, name string) config.Input {
	switch kind {
	case "IPAddressPool":
		in.IPAddressPools = drop(in.IPAddressPools, name, func(o v1beta1.IPAddressPool) string { return o.Name })
	case "L2Advertisement":
		in.L2Advertisements = drop(in.L2Advertisements, name, func(o v1beta1.L2Advertisement) string { return o.Name })
	case "BGPAdvertisement":
		in.BGPAdvertisements = drop(in.BGPAdvertisements, name, func(o v1beta1.BGPAdvertisement) string { return o.Name })
	case "BGPPeer":
		// One peer, whichever version it was read or written at.
		in.BGPPeers = drop(in.BGPPeers, name, func(o v1beta2.BGPPeer) string { return o.Name })
		in.BGPPeersV1beta1 = drop(in.BGPPeersV1beta1, name, func(o v1beta1.BGPPeer) string { return o.Name })
	case "BFDProfile":
		in.BFDProfiles = drop(in.BFDProfiles, name, func(o v1beta1.BFDProfile) string { return o.Name })
	case "Community":
		in.Communities = drop(in.Communities, name, func(o v1beta1.Community) string { return o.Name })
	}
	return in
}

func drop[T any](items []T, name string, nameOf func(T) string) []T {
	out := make([]T, 0, len(items))
	for _, it := range items {
		if nameOf(it) != name {
			out = append(out, it)
		}
	}
	return out
}

// with returns a copy of in with v (from decode) added. The append goes to a
// clipped slice so it always copies.
func with(in config.Input, v any) config.Input {
	switch o := v.(type) {
	case *v1beta1.IPAddressPool:
		in.IPAddressPools = append(slices.Clip(in.IPAddressPools), *o)
	case *v1beta1.L2Advertisement:
		in.L2Advertisements = append(slices.Clip(in.L2Advertisements), *o)
	case *v1beta1.BGPAdvertisement:
		in.BGPAdvertisements = append(slices.Clip(in.BGPAdvertisements), *o)
	case *v1beta1.BGPPeer:
		in.BGPPeersV1beta1 = append(slices.Clip(in.BGPPeersV1beta1), *o)
	case *v1beta2.BGPPeer:
		in.BGPPeers = append(slices.Clip(in.BGPPeers), *o)
	case *v1beta1.BFDProfile:
		in.BFDProfiles = append(slices.Clip(in.BFDProfiles), *o)
	case *v1beta1.Community:
		in.Communities = append(slices.Clip(in.Communities), *o)
	}
	return in
}

// peersUsingBFD lists the peers (as "BGPPeer ns/name") whose spec.bfdProfile
// is profile, sorted.
func peersUsingBFD(in config.Input, profile string) []string {
	var out []string
	for _, p := range in.BGPPeers {
		if p.Spec.BFDProfile == profile {
			out = append(out, object{"BGPPeer", p.Namespace, p.Name}.String())
		}
	}
	for _, p := range in.BGPPeersV1beta1 {
		if p.Spec.BFDProfile == profile {
			out = append(out, object{"BGPPeer", p.Namespace, p.Name}.String())
		}
	}
	sort.Strings(out)
	return slices.Compact(out)
}

// verdict is the outcome of one review.
type verdict struct {
	Allowed bool
	// Errors are the lines of the refusal, exactly as config prints them.
	Errors []*config.Error
	// Refusal is set for refusals that are not config errors (BFDProfile
	// in use).
	Refusal  string
	Warnings []string
}

// Message is the refusal text: one line per error.
func (v verdict) Message() string {
	if v.Refusal != "" {
		return v.Refusal
	}
	return config.Errors(v.Errors).Error()
}

// judge decides a request from the configuration before and after it.
//
// CREATE and UPDATE are refused when the configuration after the change has
// an error that
//   - is on the object itself (its own fields are wrong, or it names
//     something that does not exist), or
//   - names the object in its text (another pool overlaps this one), or
//   - was not there before the change (the change broke another object).
//
// Errors that were there before and do not involve the object are ignored,
// so one broken object never blocks fixing another; the response warns that
// they remain. The refusal lists every error that involves the change, not
// only the first.
//
// DELETE is never refused here (see inUse for the one exception): refusing
// it would make `kubectl delete -f` of a whole configuration fail on
// whichever object happens to be referenced by one deleted after it. Errors
// the deletion introduces become warnings instead.
func judge(op admissionv1.Operation, obj object, before, after config.Result) verdict {
	old := make(map[string]bool, len(before.Errors))
	for _, e := range before.Errors {
		old[e.Error()] = true
	}
	var v verdict
	var elsewhere []*config.Error
	for _, e := range after.Errors {
		onIt := e.Kind == obj.Kind && e.Namespace == obj.Namespace && e.Name == obj.Name
		involved := onIt || obj.mentionedIn(e.Error()) || !old[e.Error()]
		switch {
		case op == admissionv1.Delete && !old[e.Error()]:
			v.Warnings = append(v.Warnings, "after deleting "+obj.String()+": "+e.Error())
		case op != admissionv1.Delete && involved:
			v.Errors = append(v.Errors, e)
		default:
			elsewhere = append(elsewhere, e)
		}
	}
	if op != admissionv1.Delete {
		oldWarn := make(map[string]bool, len(before.Warnings))
		for _, w := range before.Warnings {
			oldWarn[w.String()] = true
		}
		for _, w := range after.Warnings {
			if w.Whole {
				// Premature while objects are applied one by one; the
				// ConfigurationState says it of the whole.
				continue
			}
			onIt := w.Kind == obj.Kind && w.Namespace == obj.Namespace && w.Name == obj.Name
			if onIt || obj.mentionedIn(w.String()) || !oldWarn[w.String()] {
				v.Warnings = append(v.Warnings, w.String())
			}
		}
	}
	if len(elsewhere) > 0 && len(v.Errors) == 0 {
		v.Warnings = append(v.Warnings, fmt.Sprintf(
			"the configuration still has %d error(s) in other objects, which Herald cannot load until they are fixed; first: %s",
			len(elsewhere), elsewhere[0].Error()))
	}
	v.Allowed = len(v.Errors) == 0
	return v
}

// inUse refuses deleting a BFDProfile that a BGPPeer still names: the
// sessions would lose their BFD parameters silently, so the user removes the
// reference first (as MetalLB requires).
func inUse(obj object, in config.Input) (verdict, bool) {
	if obj.Kind != "BFDProfile" {
		return verdict{}, false
	}
	peers := peersUsingBFD(in, obj.Name)
	if len(peers) == 0 {
		return verdict{}, false
	}
	return verdict{Refusal: fmt.Sprintf("%s: in use: spec.bfdProfile of %s names it; change or remove spec.bfdProfile there first",
		obj, strings.Join(peers, ", "))}, true
}

// cleanWarning makes a warning fit an HTTP Warning header: the API server
// sends each as one, so no line breaks or control characters.
func cleanWarning(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)
}

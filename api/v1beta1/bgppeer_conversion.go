package v1beta1

import (
	"errors"
	"fmt"
	"strings"

	"github.com/heraldlb/herald/api/v1beta2"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// The API server does not call these functions: the CRD's conversion
// strategy is None because v1beta1's JSON is a subset of v1beta2's (see
// api/doc.go). They are for Go code that holds a decoded v1beta1 object,
// such as `herald validate` reading a manifest, and they give the same
// answer the API server gives for the same JSON, except for the one case
// the v1beta1 Go type cannot represent: an explicit holdTime or
// keepaliveTime of 0s, which reads as unset here.

// ErrNotRepresentable is wrapped by ConvertFrom's error when the v1beta2
// object uses something v1beta1 cannot hold.
var ErrNotRepresentable = errors.New("not representable in metallb.io/v1beta1")

// ConvertTo fills dst with src converted to v1beta2. It never fails; the
// error is there for symmetry with ConvertFrom. Zero timers become unset,
// which is what they mean at v1beta1.
func (src *BGPPeer) ConvertTo(dst *v1beta2.BGPPeer) error {
	s := &src.Spec
	*dst = v1beta2.BGPPeer{
		TypeMeta:   metav1.TypeMeta{APIVersion: v1beta2.SchemeGroupVersion.String(), Kind: "BGPPeer"},
		ObjectMeta: *src.ObjectMeta.DeepCopy(),
		Spec: v1beta2.BGPPeerSpec{
			MyASN:        s.MyASN,
			ASN:          s.ASN,
			Address:      s.Address,
			SrcAddress:   s.SrcAddress,
			Port:         s.Port,
			RouterID:     s.RouterID,
			Password:     s.Password,
			BFDProfile:   s.BFDProfile,
			EBGPMultiHop: s.EBGPMultiHop,
		},
	}
	if s.HoldTime.Duration != 0 {
		dst.Spec.HoldTime = &metav1.Duration{Duration: s.HoldTime.Duration}
	}
	if s.KeepaliveTime.Duration != 0 {
		dst.Spec.KeepaliveTime = &metav1.Duration{Duration: s.KeepaliveTime.Duration}
	}
	if s.NodeSelectors != nil {
		dst.Spec.NodeSelectors = make([]metav1.LabelSelector, len(s.NodeSelectors))
		for i, ns := range s.NodeSelectors {
			dst.Spec.NodeSelectors[i] = ns.LabelSelector()
		}
	}
	return nil
}

// ConvertFrom fills dst with src converted to v1beta1. Fields v1beta1 does
// not have, and timers of 0s (which v1beta1 reads as unset), cannot be
// carried: ConvertFrom still converts the rest and returns an error that
// wraps ErrNotRepresentable and names each of them, so a caller that
// writes the result back knows it would lose them.
func (dst *BGPPeer) ConvertFrom(src *v1beta2.BGPPeer) error {
	s := &src.Spec
	*dst = BGPPeer{
		TypeMeta:   metav1.TypeMeta{APIVersion: SchemeGroupVersion.String(), Kind: "BGPPeer"},
		ObjectMeta: *src.ObjectMeta.DeepCopy(),
		Spec: BGPPeerSpec{
			MyASN:        s.MyASN,
			ASN:          s.ASN,
			Address:      s.Address,
			SrcAddress:   s.SrcAddress,
			Port:         s.Port,
			RouterID:     s.RouterID,
			Password:     s.Password,
			BFDProfile:   s.BFDProfile,
			EBGPMultiHop: s.EBGPMultiHop,
		},
	}
	var lost []string
	if s.HoldTime != nil {
		dst.Spec.HoldTime = *s.HoldTime
		if s.HoldTime.Duration == 0 {
			lost = append(lost, "holdTime 0s")
		}
	}
	if s.KeepaliveTime != nil {
		dst.Spec.KeepaliveTime = *s.KeepaliveTime
		if s.KeepaliveTime.Duration == 0 {
			lost = append(lost, "keepaliveTime 0s")
		}
	}
	if s.NodeSelectors != nil {
		dst.Spec.NodeSelectors = make([]NodeSelector, len(s.NodeSelectors))
		for i := range s.NodeSelectors {
			dst.Spec.NodeSelectors[i] = nodeSelectorFrom(&s.NodeSelectors[i])
		}
	}
	for _, f := range []struct {
		set  bool
		name string
	}{
		{s.DynamicASN != "", "dynamicASN"},
		{s.LocalASN != 0, "localASN"},
		{s.Interface != "", "interface"},
		{s.ConnectTime != nil, "connectTime"},
		{s.PasswordSecret.Name != "" || s.PasswordSecret.Namespace != "", "passwordSecret"},
		{s.EnableGracefulRestart, "enableGracefulRestart"},
		{s.VRFName != "", "vrf"},
		{s.DisableMP, "disableMP"},
		{s.DualStackAddressFamily, "dualStackAddressFamily"},
	} {
		if f.set {
			lost = append(lost, f.name)
		}
	}
	if len(lost) > 0 {
		return fmt.Errorf("BGPPeer %s/%s: %w: %s", src.Namespace, src.Name, ErrNotRepresentable, strings.Join(lost, ", "))
	}
	return nil
}

// LabelSelector returns the label selector with the same meaning; the JSON
// of the two is the same.
func (ns NodeSelector) LabelSelector() metav1.LabelSelector {
	var out metav1.LabelSelector
	if ns.MatchLabels != nil {
		out.MatchLabels = make(map[string]string, len(ns.MatchLabels))
		for k, v := range ns.MatchLabels {
			out.MatchLabels[k] = v
		}
	}
	if ns.MatchExpressions != nil {
		out.MatchExpressions = make([]metav1.LabelSelectorRequirement, len(ns.MatchExpressions))
		for i, e := range ns.MatchExpressions {
			out.MatchExpressions[i] = metav1.LabelSelectorRequirement{
				Key:      e.Key,
				Operator: metav1.LabelSelectorOperator(e.Operator),
				Values:   cloneStrings(e.Values),
			}
		}
	}
	return out
}

func nodeSelectorFrom(ls *metav1.LabelSelector) NodeSelector {
	var out NodeSelector
	if ls.MatchLabels != nil {
		out.MatchLabels = make(map[string]string, len(ls.MatchLabels))
		for k, v := range ls.MatchLabels {
			out.MatchLabels[k] = v
		}
	}
	if ls.MatchExpressions != nil {
		out.MatchExpressions = make([]MatchExpression, len(ls.MatchExpressions))
		for i, e := range ls.MatchExpressions {
			out.MatchExpressions[i] = MatchExpression{
				Key:      e.Key,
				Operator: string(e.Operator),
				Values:   cloneStrings(e.Values),
			}
		}
	}
	return out
}

// cloneStrings copies s, keeping nil and empty apart so a round trip is
// exact.
func cloneStrings(s []string) []string {
	if s == nil {
		return nil
	}
	return append(make([]string, 0, len(s)), s...)
}

package v1beta1

import metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

// BGPPeerSpec is the deprecated v1beta1 form of a BGP peer. New manifests
// should use metallb.io/v1beta2; objects written at this version are served
// at both (see api/doc.go). The per-object rules are v1beta2's, so an
// object is valid at one version exactly when it is valid at the other;
// peerASN and peerAddress are required here because v1beta1 has neither
// dynamicASN nor interface.
// +kubebuilder:validation:XValidation:rule="!has(self.keepaliveTime) || !has(self.holdTime) || duration(self.holdTime) == duration('0s') || duration(self.keepaliveTime) == duration('0s') || duration(self.keepaliveTime) < duration(self.holdTime)",message="keepaliveTime must be less than holdTime",fieldPath=".keepaliveTime"
type BGPPeerSpec struct {
	// MyASN is the AS number Herald uses on this session.
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=4294967295
	// +kubebuilder:validation:Format=int64
	MyASN uint32 `json:"myASN"`

	// ASN is the peer's AS number.
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=4294967295
	// +kubebuilder:validation:Format=int64
	ASN uint32 `json:"peerASN"`

	// Address is the peer's IP address.
	// +kubebuilder:validation:MaxLength=64
	// +kubebuilder:validation:XValidation:rule="isIP(self)",message="peerAddress must be an IPv4 or IPv6 address"
	Address string `json:"peerAddress"`

	// SrcAddress is the source address of the session.
	// +optional
	// +kubebuilder:validation:MaxLength=64
	// +kubebuilder:validation:XValidation:rule="size(self) == 0 || isIP(self)",message="sourceAddress must be an IPv4 or IPv6 address"
	SrcAddress string `json:"sourceAddress,omitempty"`

	// Port is the peer's TCP port; 0 or unset means 179. The range is
	// MetalLB's; there is no schema default at this version because 0 and
	// unset cannot be told apart in the Go type, and v1beta2 readers get
	// its default of 179 for an unset port anyway.
	// +optional
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=16384
	Port uint16 `json:"peerPort,omitempty"`

	// HoldTime proposed to the peer: 0s or 3s to 65535s. The Go type at this
	// version is not a pointer (as in MetalLB), so Go code decoding v1beta1
	// cannot tell 0s from unset and reads both as unset; the API server keeps
	// an explicit 0s, which v1beta2 readers see as 0s. To turn keepalives off,
	// write metallb.io/v1beta2.
	// +optional
	// +kubebuilder:validation:XValidation:rule="duration(self) == duration('0s') || (duration(self) >= duration('3s') && duration(self) <= duration('65535s'))",message="holdTime must be 0s or between 3s and 65535s"
	// +kubebuilder:validation:XValidation:rule="duration(self).getMilliseconds() % 1000 == 0",message="holdTime must be a whole number of seconds"
	HoldTime metav1.Duration `json:"holdTime,omitzero"`

	// KeepaliveTime between KEEPALIVE messages; shorter than HoldTime. Go
	// code reads 0s as unset, as for HoldTime.
	// +optional
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('0s') && duration(self) <= duration('65535s')",message="keepaliveTime must be between 0s and 65535s"
	// +kubebuilder:validation:XValidation:rule="duration(self).getMilliseconds() % 1000 == 0",message="keepaliveTime must be a whole number of seconds"
	KeepaliveTime metav1.Duration `json:"keepaliveTime,omitzero"`

	// RouterID is the BGP identifier Herald sends; the node's address when
	// empty. It is four octets, written as an IPv4 address.
	// +optional
	// +kubebuilder:validation:MaxLength=64
	// +kubebuilder:validation:XValidation:rule="size(self) == 0 || (isIP(self) && ip(self).family() == 4)",message="routerID must be an IPv4 address"
	RouterID string `json:"routerID,omitempty"`

	// NodeSelectors limits the nodes that open a session to this peer.
	// +optional
	NodeSelectors []NodeSelector `json:"nodeSelectors,omitempty"`

	// Password is the TCP MD5 authentication password, in clear text.
	// +optional
	Password string `json:"password,omitempty"`

	// BFDProfile names the BFDProfile that turns on BFD for this session.
	// +optional
	BFDProfile string `json:"bfdProfile,omitempty"`

	// EBGPMultiHop allows an eBGP peer that is not directly connected.
	// +optional
	EBGPMultiHop bool `json:"ebgpMultiHop,omitempty"`
}

// NodeSelector is v1beta1's node selector, with the same fields as a label
// selector.
type NodeSelector struct {
	// +optional
	MatchLabels map[string]string `json:"matchLabels,omitempty"`
	// +optional
	MatchExpressions []MatchExpression `json:"matchExpressions,omitempty"`
}

// MatchExpression is a label selector requirement. MetalLB's v1beta1 schema
// requires values even for Exists and DoesNotExist; Herald applies the
// label selector rule instead, so every MetalLB manifest is still accepted.
// +kubebuilder:validation:XValidation:rule="self.operator in ['In', 'NotIn'] ? (has(self.values) && size(self.values) > 0) : (!(self.operator in ['Exists', 'DoesNotExist']) || !has(self.values) || size(self.values) == 0)",message="values must be non-empty for operators In and NotIn and empty for Exists and DoesNotExist"
type MatchExpression struct {
	Key string `json:"key"`
	// +kubebuilder:validation:Enum=In;NotIn;Exists;DoesNotExist
	Operator string `json:"operator"`
	// +optional
	// +listType=atomic
	Values []string `json:"values,omitempty"`
}

// BGPPeerStatus is empty; session state is reported in ServiceBGPStatus and
// by `kubectl herald`.
type BGPPeerStatus struct{}

// BGPPeer is a BGP router Herald opens sessions to (deprecated version).
// +genclient
// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:deprecatedversion:warning="metallb.io/v1beta1 BGPPeer is deprecated, use metallb.io/v1beta2"
// +kubebuilder:printcolumn:name="Address",type=string,JSONPath=`.spec.peerAddress`
// +kubebuilder:printcolumn:name="My ASN",type=integer,JSONPath=`.spec.myASN`
// +kubebuilder:printcolumn:name="Peer ASN",type=integer,JSONPath=`.spec.peerASN`
// +kubebuilder:printcolumn:name="BFD Profile",type=string,JSONPath=`.spec.bfdProfile`
// +kubebuilder:printcolumn:name="Multi Hops",type=boolean,JSONPath=`.spec.ebgpMultiHop`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type BGPPeer struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec BGPPeerSpec `json:"spec,omitempty"`
	// +optional
	Status BGPPeerStatus `json:"status,omitempty"`
}

// BGPPeerList is a list of BGPPeers.
// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object
// +kubebuilder:object:root=true
type BGPPeerList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []BGPPeer `json:"items"`
}

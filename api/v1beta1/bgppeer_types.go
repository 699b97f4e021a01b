package v1beta1

import metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

// BGPPeerSpec is the deprecated v1beta1 form of a BGP peer. New manifests
// should use metallb.io/v1beta2; objects written at this version are served
// at both.
type BGPPeerSpec struct {
	// MyASN is the AS number Herald uses on this session.
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=4294967295
	MyASN uint32 `json:"myASN"`

	// ASN is the peer's AS number.
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=4294967295
	ASN uint32 `json:"peerASN"`

	// Address is the peer's IP address.
	Address string `json:"peerAddress"`

	// SrcAddress is the source address of the session.
	// +optional
	SrcAddress string `json:"sourceAddress,omitempty"`

	// Port is the peer's TCP port.
	// +optional
	// +kubebuilder:default:=179
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=65535
	Port uint16 `json:"peerPort,omitempty"`

	// HoldTime proposed to the peer: 0 or at least 3s.
	// +optional
	HoldTime metav1.Duration `json:"holdTime,omitempty"`

	// KeepaliveTime between KEEPALIVE messages; shorter than HoldTime.
	// +optional
	KeepaliveTime metav1.Duration `json:"keepaliveTime,omitempty"`

	// RouterID is the BGP identifier Herald sends; the node's address when
	// empty.
	// +optional
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

// MatchExpression is a label selector requirement.
type MatchExpression struct {
	Key string `json:"key"`
	// +kubebuilder:validation:Enum=In;NotIn;Exists;DoesNotExist
	Operator string `json:"operator"`
	// +optional
	// +kubebuilder:validation:MinItems=1
	Values []string `json:"values,omitempty"`
}

// BGPPeerStatus is empty; session state is reported in ServiceBGPStatus and
// by `kubectl herald`.
type BGPPeerStatus struct{}

// BGPPeer is a BGP router Herald opens sessions to (deprecated version).
// +genclient
// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object
// +kubebuilder:object:root=true
// +kubebuilder:deprecatedversion:warning="metallb.io/v1beta1 BGPPeer is deprecated, use metallb.io/v1beta2"
// +kubebuilder:printcolumn:name="Address",type=string,JSONPath=`.spec.peerAddress`
// +kubebuilder:printcolumn:name="ASN",type=integer,JSONPath=`.spec.peerASN`
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

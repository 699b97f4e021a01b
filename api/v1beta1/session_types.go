package v1beta1

import metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

// BGPSessionStateSpec is empty: the object is written by the speaker.
type BGPSessionStateSpec struct{}

// BGPSessionStateStatus is one BGP session of one node, as its speaker
// sees it. A Herald addition (frr-k8s has a kind of the same name and
// purpose).
type BGPSessionStateStatus struct {
	// Node runs the session.
	// +optional
	Node string `json:"node,omitempty"`
	// Peer is the BGPPeer's name.
	// +optional
	Peer string `json:"peer,omitempty"`
	// PeerAddress is the peer's address and port, or the interface of an
	// unnumbered session.
	// +optional
	PeerAddress string `json:"peerAddress,omitempty"`
	// BGPState is the RFC 4271 state of the session: Idle, Connect,
	// Active, OpenSent, OpenConfirm or Established.
	// +optional
	BGPState string `json:"bgpState,omitempty"`
	// BFDState is the BFD session's state (Up, Down, Init, AdminDown),
	// empty when the peer has no bfdProfile.
	// +optional
	BFDState string `json:"bfdState,omitempty"`
	// LastTransition is when BGPState last changed.
	// +optional
	LastTransition *metav1.Time `json:"lastTransition,omitempty"`
	// LastError says why the session last failed.
	// +optional
	LastError string `json:"lastError,omitempty"`
	// LastNotificationSent and LastNotificationReceived are the last
	// NOTIFICATION messages, decoded (code, subcode and any shutdown
	// communication).
	// +optional
	LastNotificationSent string `json:"lastNotificationSent,omitempty"`
	// +optional
	LastNotificationReceived string `json:"lastNotificationReceived,omitempty"`
	// PrefixesIPv4 and PrefixesIPv6 are the prefixes the Established peer
	// has from this node.
	// +optional
	PrefixesIPv4 int64 `json:"prefixesIPv4,omitempty"`
	// +optional
	PrefixesIPv6 int64 `json:"prefixesIPv6,omitempty"`
	// UpdatesSent counts the UPDATE messages carrying routes sent to the
	// peer by this speaker process.
	// +optional
	UpdatesSent int64 `json:"updatesSent,omitempty"`
	// MessagesReceived and MessagesSent count messages by type (OPEN,
	// UPDATE, NOTIFICATION, KEEPALIVE, ROUTE-REFRESH) for this speaker
	// process.
	// +optional
	MessagesReceived map[string]int64 `json:"messagesReceived,omitempty"`
	// +optional
	MessagesSent map[string]int64 `json:"messagesSent,omitempty"`
}

// BGPSessionState reports one node's BGP session with one BGPPeer, so
// `kubectl get bgpsessionstates` shows every session of the cluster.
// +genclient
// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:printcolumn:name="Node",type=string,JSONPath=`.status.node`
// +kubebuilder:printcolumn:name="Peer",type=string,JSONPath=`.status.peer`
// +kubebuilder:printcolumn:name="Address",type=string,JSONPath=`.status.peerAddress`
// +kubebuilder:printcolumn:name="BGP",type=string,JSONPath=`.status.bgpState`
// +kubebuilder:printcolumn:name="BFD",type=string,JSONPath=`.status.bfdState`
// +kubebuilder:printcolumn:name="IPv4",type=integer,JSONPath=`.status.prefixesIPv4`
// +kubebuilder:printcolumn:name="IPv6",type=integer,JSONPath=`.status.prefixesIPv6`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type BGPSessionState struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// +optional
	Spec BGPSessionStateSpec `json:"spec,omitempty"`
	// +optional
	Status BGPSessionStateStatus `json:"status,omitempty"`
}

// BGPSessionStateList is a list of BGPSessionStates.
// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object
// +kubebuilder:object:root=true
type BGPSessionStateList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []BGPSessionState `json:"items"`
}

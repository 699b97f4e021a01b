package v1beta2

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// DynamicASNMode accepts a peer's AS number from its OPEN instead of
// configuring it: internal for the same AS as MyASN, external for any other.
// +kubebuilder:validation:Enum=internal;external
type DynamicASNMode string

// The dynamic ASN modes.
const (
	InternalASNMode DynamicASNMode = "internal"
	ExternalASNMode DynamicASNMode = "external"
)

// BGPPeerSpec describes a BGP router Herald's speakers open sessions to.
//
// The rules below are the checks that need only this object; the ones that
// need others (BFD profile and Secret references, one myASN per node) are
// made by the config compiler, which the validating webhook calls.
// +kubebuilder:validation:XValidation:rule="has(self.peerASN) != has(self.dynamicASN)",message="exactly one of peerASN and dynamicASN must be set"
// +kubebuilder:validation:XValidation:rule="(has(self.peerAddress) && size(self.peerAddress) > 0) != (has(self.interface) && size(self.interface) > 0)",message="exactly one of peerAddress and interface must be set"
// +kubebuilder:validation:XValidation:rule="!(has(self.password) && size(self.password) > 0 && has(self.passwordSecret) && has(self.passwordSecret.name))",message="password and passwordSecret are mutually exclusive: set at most one",fieldPath=".passwordSecret"
// +kubebuilder:validation:XValidation:rule="!has(self.keepaliveTime) || !has(self.holdTime) || duration(self.holdTime) == duration('0s') || (duration(self.keepaliveTime) > duration('0s') && duration(self.keepaliveTime) < duration(self.holdTime))",message="keepaliveTime must be more than 0s and less than holdTime",fieldPath=".keepaliveTime"
// +kubebuilder:validation:XValidation:rule="(has(self.enableGracefulRestart) && self.enableGracefulRestart) == (has(oldSelf.enableGracefulRestart) && oldSelf.enableGracefulRestart)",message="enableGracefulRestart cannot be changed after creation: delete and recreate the BGPPeer",fieldPath=".enableGracefulRestart"
type BGPPeerSpec struct {
	// MyASN is the AS number Herald uses on this session.
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=4294967295
	// +kubebuilder:validation:Format=int64
	MyASN uint32 `json:"myASN"`

	// ASN is the peer's AS number. Exactly one of peerASN and dynamicASN.
	// +optional
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=4294967295
	// +kubebuilder:validation:Format=int64
	ASN uint32 `json:"peerASN,omitempty"`

	// DynamicASN takes the peer's AS number from its OPEN.
	// +optional
	DynamicASN DynamicASNMode `json:"dynamicASN,omitempty"`

	// LocalASN, when set, is the AS number presented in the OPEN to this
	// peer in place of MyASN, for AS migrations. Herald addition.
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=4294967295
	// +kubebuilder:validation:Format=int64
	LocalASN uint32 `json:"localASN,omitempty"`

	// Address is the peer's IP address. Exactly one of peerAddress and
	// interface.
	// +optional
	// +kubebuilder:validation:MaxLength=64
	// +kubebuilder:validation:XValidation:rule="size(self) == 0 || isIP(self)",message="peerAddress must be an IPv4 or IPv6 address"
	Address string `json:"peerAddress,omitempty"`

	// Interface opens an unnumbered session over this interface, finding
	// the peer by IPv6 link-local neighbor discovery.
	// +optional
	Interface string `json:"interface,omitempty"`

	// SrcAddress is the source address of the session.
	// +optional
	// +kubebuilder:validation:MaxLength=64
	// +kubebuilder:validation:XValidation:rule="size(self) == 0 || isIP(self)",message="sourceAddress must be an IPv4 or IPv6 address"
	SrcAddress string `json:"sourceAddress,omitempty"`

	// Port is the peer's TCP port. The range is MetalLB's.
	// +optional
	// +kubebuilder:default:=179
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=16384
	Port uint16 `json:"peerPort,omitempty"`

	// HoldTime proposed to the peer: 0s (no keepalives) or at least 3s.
	// Default 90s.
	// +optional
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:XValidation:rule="duration(self) == duration('0s') || (duration(self) >= duration('3s') && duration(self) <= duration('65535s'))",message="holdTime must be 0s or between 3s and 65535s"
	// +kubebuilder:validation:XValidation:rule="duration(self).getMilliseconds() % 1000 == 0",message="holdTime must be a whole number of seconds"
	HoldTime *metav1.Duration `json:"holdTime,omitempty"`

	// KeepaliveTime between KEEPALIVE messages; shorter than HoldTime.
	// Default a third of the negotiated hold time.
	// +optional
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('0s') && duration(self) <= duration('65535s')",message="keepaliveTime must be between 0s and 65535s"
	// +kubebuilder:validation:XValidation:rule="duration(self).getMilliseconds() % 1000 == 0",message="keepaliveTime must be a whole number of seconds"
	KeepaliveTime *metav1.Duration `json:"keepaliveTime,omitempty"`

	// ConnectTime is the wait between connection attempts, 1s to 65535s.
	// +optional
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('1s') && duration(self) <= duration('65535s')",message="connectTime must be between 1s and 65535s"
	// +kubebuilder:validation:XValidation:rule="duration(self).getMilliseconds() % 1000 == 0",message="connectTime must be a whole number of seconds"
	ConnectTime *metav1.Duration `json:"connectTime,omitempty"`

	// RouterID is the BGP identifier Herald sends; the node's address when
	// empty. A BGP identifier is four octets, so it is written as an IPv4
	// address.
	// +optional
	// +kubebuilder:validation:MaxLength=64
	// +kubebuilder:validation:XValidation:rule="size(self) == 0 || (isIP(self) && ip(self).family() == 4)",message="routerID must be an IPv4 address"
	RouterID string `json:"routerID,omitempty"`

	// NodeSelectors limits the nodes that open a session to this peer.
	// +optional
	// +listType=atomic
	NodeSelectors []metav1.LabelSelector `json:"nodeSelectors,omitempty"`

	// Password is the TCP MD5 authentication password, in clear text.
	// Prefer passwordSecret.
	// +optional
	Password string `json:"password,omitempty"`

	// PasswordSecret refers to a kubernetes.io/basic-auth Secret in
	// Herald's namespace whose "password" key is the TCP MD5 password.
	// +optional
	PasswordSecret corev1.SecretReference `json:"passwordSecret,omitzero"`

	// BFDProfile names the BFDProfile that turns on BFD for this session.
	// +optional
	BFDProfile string `json:"bfdProfile,omitempty"`

	// EnableGracefulRestart advertises the graceful restart capability so
	// the peer keeps Herald's routes while a speaker restarts. Immutable.
	// +optional
	EnableGracefulRestart bool `json:"enableGracefulRestart,omitempty"`

	// EBGPMultiHop allows an eBGP peer that is not directly connected.
	// +optional
	EBGPMultiHop bool `json:"ebgpMultiHop,omitempty"`

	// TTLSecurity turns on the Generalized TTL Security Mechanism (RFC
	// 5082) for a directly connected eBGP peer: every packet is sent with
	// TTL 255 and packets that arrive with less are refused, so a sender
	// further away cannot reach the session. The router must send with TTL
	// 255 too (FRR: neighbor X ttl-security hops 1): most send eBGP with
	// TTL 1 by default, which is why this is off unless asked for. Not
	// with ebgpMultiHop. Herald addition.
	// +optional
	TTLSecurity bool `json:"ttlSecurity,omitempty"`

	// VRFName is the VRF the session runs in.
	// +optional
	VRFName string `json:"vrf,omitempty"`

	// DisableMP announces each address family on its own session instead
	// of both over one multiprotocol session.
	// +optional
	// +kubebuilder:default:=false
	DisableMP bool `json:"disableMP,omitempty"`

	// DualStackAddressFamily announces both IPv4 and IPv6 routes on this
	// session.
	// +optional
	// +kubebuilder:default:=false
	DualStackAddressFamily bool `json:"dualStackAddressFamily,omitempty"`
}

// BGPPeerStatus is empty; session state is reported in ServiceBGPStatus and
// by `kubectl herald`.
type BGPPeerStatus struct{}

// BGPPeer is a BGP router Herald's speakers open sessions to.
// +genclient
// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:storageversion
// +kubebuilder:printcolumn:name="Address",type=string,JSONPath=`.spec.peerAddress`
// +kubebuilder:printcolumn:name="Interface",type=string,JSONPath=`.spec.interface`,priority=10
// +kubebuilder:printcolumn:name="My ASN",type=integer,JSONPath=`.spec.myASN`
// +kubebuilder:printcolumn:name="Peer ASN",type=integer,JSONPath=`.spec.peerASN`
// +kubebuilder:printcolumn:name="Dynamic ASN",type=string,JSONPath=`.spec.dynamicASN`,priority=10
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

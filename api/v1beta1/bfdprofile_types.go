package v1beta1

import metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

// BFDProfileSpec holds the BFD session parameters a BGPPeer refers to.
type BFDProfileSpec struct {
	// ReceiveInterval is the minimum interval, in milliseconds, between
	// control packets this system can receive.
	// +optional
	// +kubebuilder:default:=300
	// +kubebuilder:validation:Minimum=10
	// +kubebuilder:validation:Maximum=60000
	ReceiveInterval *uint32 `json:"receiveInterval,omitempty"`

	// TransmitInterval is the minimum interval, in milliseconds, between
	// control packets this system sends.
	// +optional
	// +kubebuilder:default:=300
	// +kubebuilder:validation:Minimum=10
	// +kubebuilder:validation:Maximum=60000
	TransmitInterval *uint32 `json:"transmitInterval,omitempty"`

	// DetectMultiplier is the number of missed packets that declares the
	// session down.
	// +optional
	// +kubebuilder:default:=3
	// +kubebuilder:validation:Minimum=2
	// +kubebuilder:validation:Maximum=255
	DetectMultiplier *uint32 `json:"detectMultiplier,omitempty"`

	// EchoInterval is the minimum interval, in milliseconds, between echo
	// packets when EchoMode is on.
	// +optional
	// +kubebuilder:default:=50
	// +kubebuilder:validation:Minimum=10
	// +kubebuilder:validation:Maximum=60000
	EchoInterval *uint32 `json:"echoInterval,omitempty"`

	// EchoMode turns on BFD echo packets.
	// +optional
	EchoMode *bool `json:"echoMode,omitempty"`

	// PassiveMode waits for the peer to send the first control packet.
	// +optional
	PassiveMode *bool `json:"passiveMode,omitempty"`

	// MinimumTTL is the lowest TTL accepted on multihop sessions.
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=254
	MinimumTTL *uint32 `json:"minimumTtl,omitempty"`

	// Authentication signs or checks every control packet of the session
	// with a shared key (RFC 5880 §6.7). A Herald extension: MetalLB's
	// BFDProfile has no such field. Both ends must use the same type, key
	// ID and key.
	// +optional
	Authentication *BFDAuthentication `json:"authentication,omitempty"`
}

// BFDAuthentication is a BFD session's authentication (RFC 5880 §6.7).
type BFDAuthentication struct {
	// Type is the authentication type. The meticulous types increase the
	// sequence number on every packet; the others may repeat it.
	// simple-password sends the password in clear text.
	// +kubebuilder:validation:Enum=simple-password;keyed-md5;meticulous-keyed-md5;keyed-sha1;meticulous-keyed-sha1
	Type BFDAuthType `json:"type"`

	// KeyID is the Auth Key ID sent in every packet and required in every
	// packet received.
	// +optional
	// +kubebuilder:default:=0
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=255
	KeyID *uint32 `json:"keyID,omitempty"`

	// SecretRef names a kubernetes.io/basic-auth Secret in Herald's
	// namespace (as a BGPPeer's passwordSecret) whose "password" key holds
	// the password or key: 1 to 16 bytes, or 1 to 20 for the SHA1 types.
	SecretRef BFDSecretReference `json:"secretRef"`
}

// BFDAuthType names an RFC 5880 authentication type.
type BFDAuthType string

// The authentication types of RFC 5880 §4.1.
const (
	BFDAuthSimplePassword      BFDAuthType = "simple-password"
	BFDAuthKeyedMD5            BFDAuthType = "keyed-md5"
	BFDAuthMeticulousKeyedMD5  BFDAuthType = "meticulous-keyed-md5"
	BFDAuthKeyedSHA1           BFDAuthType = "keyed-sha1"
	BFDAuthMeticulousKeyedSHA1 BFDAuthType = "meticulous-keyed-sha1"
)

// BFDSecretReference names a Secret in the BFDProfile's namespace.
type BFDSecretReference struct {
	// Name of the Secret.
	// +kubebuilder:validation:MinLength=1
	Name string `json:"name"`
}

// BFDProfile is a named set of BFD parameters for BGPPeers.
// +genclient
// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object
// +kubebuilder:object:root=true
// +kubebuilder:resource:shortName=bfdp
// +kubebuilder:printcolumn:name="Passive Mode",type=boolean,JSONPath=`.spec.passiveMode`
// +kubebuilder:printcolumn:name="Transmit Interval",type=integer,JSONPath=`.spec.transmitInterval`
// +kubebuilder:printcolumn:name="Receive Interval",type=integer,JSONPath=`.spec.receiveInterval`
// +kubebuilder:printcolumn:name="Multiplier",type=integer,JSONPath=`.spec.detectMultiplier`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type BFDProfile struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// +optional
	Spec BFDProfileSpec `json:"spec,omitempty"`
}

// BFDProfileList is a list of BFDProfiles.
// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object
// +kubebuilder:object:root=true
type BFDProfileList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []BFDProfile `json:"items"`
}

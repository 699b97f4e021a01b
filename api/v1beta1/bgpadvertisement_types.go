package v1beta1

import metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

// BGPAdvertisementSpec says which pools' addresses are announced to which BGP
// peers, from which nodes, and with which attributes. An empty spec
// announces every pool to every peer from every node.
type BGPAdvertisementSpec struct {
	// AggregationLength is the prefix length announced for IPv4 addresses:
	// 32 announces each address, shorter lengths announce the covering
	// prefix once.
	// +optional
	// +kubebuilder:default:=32
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=32
	AggregationLength *int32 `json:"aggregationLength,omitempty"`

	// AggregationLengthV6 is the same for IPv6 addresses.
	// +optional
	// +kubebuilder:default:=128
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=128
	AggregationLengthV6 *int32 `json:"aggregationLengthV6,omitempty"`

	// LocalPref is the LOCAL_PREF attribute sent to iBGP peers. The bounds
	// are uint32's: a value outside them would fail to decode in every Go
	// client, breaking its informer's whole list.
	// +optional
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=4294967295
	// +kubebuilder:validation:Format=int64
	LocalPref uint32 `json:"localPref,omitempty"`

	// Communities attached to the routes: "A:B" with 16-bit A and B, a
	// well-known name (no-export, no-advertise, no-export-subconfed,
	// no-peer, blackhole, graceful-shutdown), "large:A:B:C" for a large
	// community, or the name of an alias defined in a Community object.
	// A value shaped like a standard or large community must be one; any
	// other value names an alias, which the config compiler resolves.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=100
	// +kubebuilder:validation:items:MaxLength=128
	// +kubebuilder:validation:items:XValidation:rule="!self.matches('^[0-9]+:[0-9]+$') || (self.matches('^[0-9]{1,5}:[0-9]{1,5}$') && self.split(':').all(p, int(p) <= 65535))",messageExpression="'communities entry \"' + self + '\" is a standard community, so A and B in A:B must be from 0 to 65535'"
	// +kubebuilder:validation:items:XValidation:rule="!self.lowerAscii().startsWith('large:') || (self.matches('^(?i)large:[0-9]{1,10}:[0-9]{1,10}:[0-9]{1,10}$') && self.substring(6).split(':').all(p, int(p) <= 4294967295))",messageExpression="'communities entry \"' + self + '\" is a large community, so it must be large:A:B:C with parts from 0 to 4294967295'"
	Communities []string `json:"communities,omitempty"`

	// IPAddressPools selects pools by name.
	// +optional
	// +listType=set
	IPAddressPools []string `json:"ipAddressPools,omitempty"`

	// IPAddressPoolSelectors selects pools by label. When neither this nor
	// IPAddressPools is set, the advertisement applies to every pool.
	// +optional
	// +listType=atomic
	IPAddressPoolSelectors []metav1.LabelSelector `json:"ipAddressPoolSelectors,omitempty"`

	// NodeSelectors limits the nodes announced as next hops. Empty means
	// every node.
	// +optional
	// +listType=atomic
	NodeSelectors []metav1.LabelSelector `json:"nodeSelectors,omitempty"`

	// NodeSelector is a misspelling of NodeSelectors that published
	// documentation uses; Herald accepts it and merges it into
	// NodeSelectors. Herald addition.
	// +optional
	// +listType=atomic
	NodeSelector []metav1.LabelSelector `json:"nodeSelector,omitempty"`

	// Peers limits the BGPPeers, by name, that receive the routes. Empty
	// means every peer.
	// +optional
	// +listType=set
	Peers []string `json:"peers,omitempty"`

	// ServiceSelectors limits the advertisement to Services whose labels
	// match any selector. Herald addition.
	// +optional
	// +listType=atomic
	ServiceSelectors []metav1.LabelSelector `json:"serviceSelectors,omitempty"`
}

// BGPAdvertisement announces pools' addresses to BGP peers.
// +genclient
// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object
// +kubebuilder:object:root=true
// +kubebuilder:resource:shortName=bgpadv
// +kubebuilder:printcolumn:name="IPAddressPools",type=string,JSONPath=`.spec.ipAddressPools`
// +kubebuilder:printcolumn:name="IPAddressPool Selectors",type=string,JSONPath=`.spec.ipAddressPoolSelectors`,priority=10
// +kubebuilder:printcolumn:name="Peers",type=string,JSONPath=`.spec.peers`
// +kubebuilder:printcolumn:name="Aggregation",type=integer,JSONPath=`.spec.aggregationLength`
// +kubebuilder:printcolumn:name="Local Pref",type=integer,JSONPath=`.spec.localPref`
// +kubebuilder:printcolumn:name="Communities",type=string,JSONPath=`.spec.communities`
// +kubebuilder:printcolumn:name="Node Selectors",type=string,JSONPath=`.spec.nodeSelectors`,priority=10
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type BGPAdvertisement struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// +optional
	Spec BGPAdvertisementSpec `json:"spec,omitempty"`
}

// BGPAdvertisementList is a list of BGPAdvertisements.
// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object
// +kubebuilder:object:root=true
type BGPAdvertisementList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []BGPAdvertisement `json:"items"`
}

package v1beta1

import metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

// L2AdvertisementSpec says which pools' addresses are announced with ARP/NDP,
// from which nodes and interfaces. An empty spec announces every pool from
// every node.
type L2AdvertisementSpec struct {
	// IPAddressPools selects pools by name.
	// +optional
	// +listType=set
	IPAddressPools []string `json:"ipAddressPools,omitempty"`

	// IPAddressPoolSelectors selects pools by label. When neither this nor
	// IPAddressPools is set, the advertisement applies to every pool.
	// +optional
	// +listType=atomic
	IPAddressPoolSelectors []metav1.LabelSelector `json:"ipAddressPoolSelectors,omitempty"`

	// NodeSelectors limits the nodes that may answer for the addresses.
	// Empty means every node.
	// +optional
	// +listType=atomic
	NodeSelectors []metav1.LabelSelector `json:"nodeSelectors,omitempty"`

	// Interfaces limits the interfaces that answer. A node without any of
	// them does not announce; it does not change which node is chosen.
	// +optional
	// +listType=set
	Interfaces []string `json:"interfaces,omitempty"`

	// ServiceSelectors limits the advertisement to Services whose labels
	// match any selector.
	// +optional
	// +listType=atomic
	ServiceSelectors []metav1.LabelSelector `json:"serviceSelectors,omitempty"`

	// PreferredNodeSelectors weighs the eligible nodes: the owner of an
	// address is the eligible node with the largest summed weight, ties
	// broken by hash. Herald addition.
	// +optional
	// +listType=atomic
	PreferredNodeSelectors []PreferredNodeSelector `json:"preferredNodeSelectors,omitempty"`
}

// PreferredNodeSelector adds Weight to every node its Preference matches.
type PreferredNodeSelector struct {
	// Weight added to a matching node's score.
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=100
	Weight int32 `json:"weight"`
	// Preference selects the nodes that get the weight.
	Preference metav1.LabelSelector `json:"preference"`
}

// L2Advertisement announces pools' addresses on the local network with ARP
// (IPv4) and NDP (IPv6).
// +genclient
// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object
// +kubebuilder:object:root=true
// +kubebuilder:resource:shortName=l2adv
// +kubebuilder:printcolumn:name="IPAddressPools",type=string,JSONPath=`.spec.ipAddressPools`
// +kubebuilder:printcolumn:name="IPAddressPool Selectors",type=string,JSONPath=`.spec.ipAddressPoolSelectors`,priority=10
// +kubebuilder:printcolumn:name="Interfaces",type=string,JSONPath=`.spec.interfaces`
// +kubebuilder:printcolumn:name="Node Selectors",type=string,JSONPath=`.spec.nodeSelectors`,priority=10
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type L2Advertisement struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// +optional
	Spec L2AdvertisementSpec `json:"spec,omitempty"`
}

// L2AdvertisementList is a list of L2Advertisements.
// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object
// +kubebuilder:object:root=true
type L2AdvertisementList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []L2Advertisement `json:"items"`
}

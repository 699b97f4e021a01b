package v1beta1

import metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

// CommunitySpec defines names for BGP community values.
type CommunitySpec struct {
	// Communities are the aliases this object defines.
	// +optional
	// +listType=map
	// +listMapKey=name
	Communities []CommunityAlias `json:"communities,omitempty"`
}

// CommunityAlias names a community value for use in BGPAdvertisements.
type CommunityAlias struct {
	// Name is the alias used in BGPAdvertisement.spec.communities.
	// +kubebuilder:validation:MinLength=1
	Name string `json:"name"`
	// Value is "A:B" or "large:A:B:C".
	// +kubebuilder:validation:MinLength=1
	Value string `json:"value"`
}

// Community is a set of named BGP community values.
// +genclient
// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object
// +kubebuilder:object:root=true
// +kubebuilder:printcolumn:name="Communities",type=string,JSONPath=`.spec.communities`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type Community struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// +optional
	Spec CommunitySpec `json:"spec,omitempty"`
}

// CommunityList is a list of Communities.
// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object
// +kubebuilder:object:root=true
type CommunityList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Community `json:"items"`
}

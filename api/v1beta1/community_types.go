package v1beta1

import metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

// CommunitySpec defines names for BGP community values.
type CommunitySpec struct {
	// Communities are the aliases this object defines.
	// +optional
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=1000
	Communities []CommunityAlias `json:"communities,omitempty"`
}

// CommunityAlias names a community value for use in BGPAdvertisements.
type CommunityAlias struct {
	// Name is the alias used in BGPAdvertisement.spec.communities.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=128
	Name string `json:"name"`
	// Value is "A:B" with 16-bit decimal parts, "large:A:B:C" with 32-bit
	// decimal parts, or a well-known community name (no-export,
	// no-advertise, no-export-subconfed, no-peer, blackhole,
	// graceful-shutdown).
	// +kubebuilder:validation:MaxLength=64
	// +kubebuilder:validation:XValidation:rule="(self.matches('^[0-9]{1,5}:[0-9]{1,5}$') && self.split(':').all(p, int(p) <= 65535)) || (self.matches('^(?i)large:[0-9]{1,10}:[0-9]{1,10}:[0-9]{1,10}$') && self.substring(6).split(':').all(p, int(p) <= 4294967295)) || self.lowerAscii().replace('_', '-') in ['no-export', 'no-advertise', 'no-export-subconfed', 'no-peer', 'blackhole', 'graceful-shutdown']",messageExpression="'value \"' + self + '\" must be A:B with A and B from 0 to 65535, large:A:B:C with parts from 0 to 4294967295, or a well-known community name'"
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

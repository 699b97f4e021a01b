// Package v1beta1 is version v1beta1 of the metallb.io API group as Herald
// serves it: every kind MetalLB defines at this version, with the same JSON
// names, defaults and ranges, plus Herald's additions, each marked as such.
// BGPPeer at this version is deprecated; v1beta2 is its storage version.
//
// Its place in the whole: the API layer, the lowest, in docs/architecture.md.
//
// +kubebuilder:object:generate=true
// +groupName=metallb.io
// +k8s:deepcopy-gen=package
package v1beta1

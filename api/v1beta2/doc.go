// Package v1beta2 is version v1beta2 of the metallb.io API group: BGPPeer,
// the storage version of that kind. Its fields are a superset of v1beta1's.
//
// Its place in the whole: the API layer, the lowest, in docs/architecture.md.
//
// +kubebuilder:object:generate=true
// +groupName=metallb.io
// +k8s:deepcopy-gen=package
package v1beta2

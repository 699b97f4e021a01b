package v1beta1

import metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

// IPAddressPoolSpec lists the addresses Herald may give to LoadBalancer
// Services and which Services may get them.
type IPAddressPoolSpec struct {
	// Addresses are the pool's address ranges, each a CIDR ("192.168.10.0/24",
	// "fc00:f853:ccd:e799::/124") or an inclusive range of one family
	// ("192.168.9.1-192.168.9.5").
	// The rule checks each entry's form; the config compiler checks what
	// needs arithmetic (a range's start after its end) or other objects
	// (overlaps between pools).
	// The API server bounds the cost of CEL rules, so the list and its
	// entries have generous maximums (MetalLB sets none): 1000 ranges and
	// 100 characters, more than the longest IPv6 range with spaces.
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=1000
	// +kubebuilder:validation:items:MaxLength=100
	// +kubebuilder:validation:items:XValidation:rule="!self.contains('-') ? isCIDR(self) : (size(self.split('-')) == 2 && isIP(self.split('-')[0].trim()) && isIP(self.split('-')[1].trim()) && ip(self.split('-')[0].trim()).family() == ip(self.split('-')[1].trim()).family())",messageExpression="'addresses entry \"' + self + '\" must be a CIDR such as 192.168.10.0/24 or a range of two addresses of one family such as 192.168.9.1-192.168.9.5'"
	// +listType=atomic
	Addresses []string `json:"addresses"`

	// AutoAssign lets Herald hand out addresses from this pool to Services
	// that did not ask for it by name or IP.
	// +optional
	// +kubebuilder:default:=true
	AutoAssign *bool `json:"autoAssign,omitempty"`

	// AvoidBuggyIPs skips IPv4 addresses ending in .0 or .255, which some
	// consumer equipment drops.
	// +optional
	// +kubebuilder:default:=false
	AvoidBuggyIPs bool `json:"avoidBuggyIPs,omitempty"`

	// AllocateTo restricts the pool to some namespaces or Services and sets
	// its priority among the pools that admit a Service.
	// +optional
	AllocateTo *ServiceAllocation `json:"serviceAllocation,omitempty"`
}

// ServiceAllocation says which Services may take addresses from a pool.
// No selector admits every Service.
type ServiceAllocation struct {
	// Priority orders the pools that admit a Service: lower first; 0 (unset)
	// comes after every set priority. Ties are broken by pool name.
	// +optional
	Priority int `json:"priority,omitempty"`

	// Namespaces admitted by name.
	// +optional
	// +listType=set
	Namespaces []string `json:"namespaces,omitempty"`

	// NamespaceSelectors admit the namespaces whose labels match any selector.
	// +optional
	// +listType=atomic
	NamespaceSelectors []metav1.LabelSelector `json:"namespaceSelectors,omitempty"`

	// ServiceSelectors admit the Services whose labels match any selector.
	// +optional
	// +listType=atomic
	ServiceSelectors []metav1.LabelSelector `json:"serviceSelectors,omitempty"`
}

// IPAddressPoolStatus counts the pool's addresses. IPv6 counts saturate at
// the largest int64.
type IPAddressPoolStatus struct {
	// AssignedIPv4 is the number of IPv4 addresses given to Services.
	// +optional
	AssignedIPv4 int64 `json:"assignedIPv4"`
	// AssignedIPv6 is the number of IPv6 addresses given to Services.
	// +optional
	AssignedIPv6 int64 `json:"assignedIPv6"`
	// AvailableIPv4 is the number of IPv4 addresses still free.
	// +optional
	AvailableIPv4 int64 `json:"availableIPv4"`
	// AvailableIPv6 is the number of IPv6 addresses still free.
	// +optional
	AvailableIPv6 int64 `json:"availableIPv6"`
}

// IPAddressPool is a set of addresses Herald assigns to LoadBalancer Services.
// +genclient
// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=ipp
// +kubebuilder:printcolumn:name="Auto Assign",type=boolean,JSONPath=`.spec.autoAssign`
// +kubebuilder:printcolumn:name="Avoid Buggy IPs",type=boolean,JSONPath=`.spec.avoidBuggyIPs`
// +kubebuilder:printcolumn:name="Addresses",type=string,JSONPath=`.spec.addresses`
// +kubebuilder:printcolumn:name="Assigned IPv4",type=integer,JSONPath=`.status.assignedIPv4`
// +kubebuilder:printcolumn:name="Available IPv4",type=integer,JSONPath=`.status.availableIPv4`
// +kubebuilder:printcolumn:name="Assigned IPv6",type=integer,JSONPath=`.status.assignedIPv6`
// +kubebuilder:printcolumn:name="Available IPv6",type=integer,JSONPath=`.status.availableIPv6`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type IPAddressPool struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   IPAddressPoolSpec   `json:"spec"`
	Status IPAddressPoolStatus `json:"status,omitempty"`
}

// IPAddressPoolList is a list of IPAddressPools.
// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object
// +kubebuilder:object:root=true
type IPAddressPoolList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []IPAddressPool `json:"items"`
}

package v1beta1

import metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

// ServiceL2StatusSpec is empty: the object is written by the speaker.
type ServiceL2StatusSpec struct{}

// ServiceL2StatusStatus says which node answers ARP/NDP for a Service.
type ServiceL2StatusStatus struct {
	// Node is the node announcing the Service. A different node writes a
	// different object, so it never changes.
	// +optional
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="status.node is immutable"
	Node string `json:"node,omitempty"`
	// ServiceName is the announced Service's name.
	// +optional
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="status.serviceName is immutable"
	ServiceName string `json:"serviceName,omitempty"`
	// ServiceNamespace is the announced Service's namespace.
	// +optional
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="status.serviceNamespace is immutable"
	ServiceNamespace string `json:"serviceNamespace,omitempty"`
	// Interfaces the node answers on.
	// +optional
	// +listType=atomic
	Interfaces []InterfaceInfo `json:"interfaces,omitempty"`
}

// InterfaceInfo names an interface.
type InterfaceInfo struct {
	Name string `json:"name,omitempty"`
}

// ServiceL2Status reports one node's L2 announcement of one Service.
// +genclient
// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:printcolumn:name="Allocated Node",type=string,JSONPath=`.status.node`
// +kubebuilder:printcolumn:name="Service Name",type=string,JSONPath=`.status.serviceName`
// +kubebuilder:printcolumn:name="Service Namespace",type=string,JSONPath=`.status.serviceNamespace`
// +kubebuilder:printcolumn:name="Interfaces",type=string,JSONPath=`.status.interfaces[*].name`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type ServiceL2Status struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// +optional
	Spec ServiceL2StatusSpec `json:"spec,omitempty"`
	// +optional
	Status ServiceL2StatusStatus `json:"status,omitempty"`
}

// ServiceL2StatusList is a list of ServiceL2Statuses.
// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object
// +kubebuilder:object:root=true
type ServiceL2StatusList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []ServiceL2Status `json:"items"`
}

// ServiceBGPStatusSpec is empty: the object is written by the speaker.
type ServiceBGPStatusSpec struct{}

// ServiceBGPStatusStatus says to which peers a node announces a Service.
type ServiceBGPStatusStatus struct {
	// Node is the announcing node. A different node writes a different
	// object, so it never changes.
	// +optional
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="status.node is immutable"
	Node string `json:"node,omitempty"`
	// ServiceName is the announced Service's name.
	// +optional
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="status.serviceName is immutable"
	ServiceName string `json:"serviceName,omitempty"`
	// ServiceNamespace is the announced Service's namespace.
	// +optional
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="status.serviceNamespace is immutable"
	ServiceNamespace string `json:"serviceNamespace,omitempty"`
	// Peers are the BGPPeers, by name, that receive the routes.
	// +optional
	// +listType=set
	Peers []string `json:"peers,omitempty"`
}

// ServiceBGPStatus reports one node's BGP announcement of one Service.
// +genclient
// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:printcolumn:name="Node",type=string,JSONPath=`.status.node`
// +kubebuilder:printcolumn:name="Service Name",type=string,JSONPath=`.status.serviceName`
// +kubebuilder:printcolumn:name="Service Namespace",type=string,JSONPath=`.status.serviceNamespace`
// +kubebuilder:printcolumn:name="Peers",type=string,JSONPath=`.status.peers`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type ServiceBGPStatus struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// +optional
	Spec ServiceBGPStatusSpec `json:"spec,omitempty"`
	// +optional
	Status ServiceBGPStatusStatus `json:"status,omitempty"`
}

// ServiceBGPStatusList is a list of ServiceBGPStatuses.
// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object
// +kubebuilder:object:root=true
type ServiceBGPStatusList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []ServiceBGPStatus `json:"items"`
}

// ConfigurationResult is the verdict on the configuration a component loaded.
// +kubebuilder:validation:Enum=Valid;Invalid;Unknown
type ConfigurationResult string

// The verdicts a ConfigurationState reports.
const (
	ConfigurationValid   ConfigurationResult = "Valid"
	ConfigurationInvalid ConfigurationResult = "Invalid"
	ConfigurationUnknown ConfigurationResult = "Unknown"
)

// ConfigurationStateSpec is empty: the object is written by Herald.
type ConfigurationStateSpec struct{}

// ConfigurationStateStatus is what a component made of the configuration.
type ConfigurationStateStatus struct {
	// Result is Valid when the component runs the latest configuration.
	// +optional
	Result ConfigurationResult `json:"result,omitempty"`
	// ErrorSummary lists the configuration's errors, one per line, each
	// naming the object and field.
	// +optional
	ErrorSummary string `json:"errorSummary,omitempty"`
	// WarningSummary lists the configuration's warnings, one per line:
	// remarks that do not stop it from loading, such as a pool no
	// advertisement selects (its addresses are assigned but not
	// announced).
	// +optional
	WarningSummary string `json:"warningSummary,omitempty"`
	// Conditions follow the Kubernetes conventions.
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// ConfigurationState reports whether a controller or speaker loaded the
// current configuration.
// +genclient
// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:printcolumn:name="Result",type=string,JSONPath=`.status.result`
// +kubebuilder:printcolumn:name="Errors",type=string,JSONPath=`.status.errorSummary`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type ConfigurationState struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// +optional
	Spec ConfigurationStateSpec `json:"spec,omitempty"`
	// +optional
	Status ConfigurationStateStatus `json:"status,omitempty"`
}

// ConfigurationStateList is a list of ConfigurationStates.
// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object
// +kubebuilder:object:root=true
type ConfigurationStateList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []ConfigurationState `json:"items"`
}

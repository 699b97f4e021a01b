package tracing

import (
	"go.opentelemetry.io/otel/attribute"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
)

// SchemaURL is the OpenTelemetry semantic conventions version Herald's
// span attributes and resources follow (the one the SDK v1.47.0 uses).
const SchemaURL = semconv.SchemaURL

// Span names. A name says what happened, never to what (that goes into
// attributes), so it stays low in cardinality as OpenTelemetry asks.
// docs/tracing.md lists each span with its parent, links and attributes.
const (
	// Controller.

	// SpanInformerEvent is the controller seeing a change of a watched
	// object (a Service, a Node, a configuration object): the root of a
	// Service's journey.
	SpanInformerEvent = "informer.event"
	// SpanConfigCompile is one compilation of the metallb.io objects.
	SpanConfigCompile = "config.compile"
	// SpanServiceReconcile is one step of a Service's actor: reading the
	// Service and deciding what to ask and write.
	SpanServiceReconcile = "service.reconcile"
	// SpanPoolAllocate is the allocator giving a Service its IPs (or
	// saying why not).
	SpanPoolAllocate = "pool.allocate"
	// SpanStatusWrite is one write of status.loadBalancer and the pool
	// annotation (and the traceparent annotation) to the API server.
	SpanStatusWrite = "status.write"

	// Speaker.

	// SpanPlan is the planner computing what this node announces after a
	// change; it continues the trace of the Service's traceparent.
	SpanPlan = "speaker.plan"
	// SpanPeerUpdate is a BGP session actor taking the planner's new
	// routes for its peer.
	SpanPeerUpdate = "bgp.peer.update"
	// SpanUpdateSent is one BGP UPDATE message written to a peer. It links
	// to every Service whose routes it carries.
	SpanUpdateSent = "bgp.update.send"
	// SpanGratuitousSent is a gratuitous ARP or an unsolicited Neighbor
	// Advertisement sent for an IP this node now answers for.
	SpanGratuitousSent = "l2.gratuitous.send"
	// SpanL2OwnerChange is this node starting or stopping answering
	// ARP/NDP for an IP.
	SpanL2OwnerChange = "l2.owner.change"
	// SpanBFDStateChange is a BFD session changing state.
	SpanBFDStateChange = "bfd.state.change"
	// SpanSessionStateChange is a BGP session changing RFC 4271 state.
	SpanSessionStateChange = "bgp.session.state.change"
)

// Attribute keys. Where OpenTelemetry's semantic conventions (v1.43.0)
// define one for the meaning, Herald uses it; the rest are Herald's own,
// under herald.*.
const (
	// AttrServiceName is the name of the Kubernetes Service a span is
	// about (semconv k8s.service.name).
	AttrServiceName = semconv.K8SServiceNameKey
	// AttrServiceNamespace is the namespace of that Service (semconv
	// k8s.namespace.name). On a span it names the Service's namespace; the
	// resource's k8s.namespace.name is Herald's own pod's.
	AttrServiceNamespace = semconv.K8SNamespaceNameKey
	// AttrServiceUID is the Service's UID (semconv k8s.service.uid).
	AttrServiceUID = semconv.K8SServiceUIDKey
	// AttrPeerAddress and AttrPeerPort are a BGP or BFD peer's address and
	// port (semconv network.peer.address, network.peer.port).
	AttrPeerAddress = semconv.NetworkPeerAddressKey
	AttrPeerPort    = semconv.NetworkPeerPortKey
	// AttrInterface is the network interface an ARP/NDP packet leaves by
	// (semconv network.interface.name).
	AttrInterface = semconv.NetworkInterfaceNameKey
	// AttrErrorType says what class of failure ended a span with an error
	// (semconv error.type), e.g. "conflict" or an allocation failure.
	AttrErrorType = semconv.ErrorTypeKey

	// AttrInformerKind is the kind of object an informer event is about
	// (Service, Node, IPAddressPool, ...).
	AttrInformerKind = attribute.Key("herald.informer.kind")
	// AttrResourceVersion is the resourceVersion of the object read or
	// written.
	AttrResourceVersion = attribute.Key("herald.k8s.resource_version")
	// AttrConfigResult is a compilation's verdict: Valid or Invalid.
	AttrConfigResult = attribute.Key("herald.config.result")
	// AttrPool is the IPAddressPool an IP comes from.
	AttrPool = attribute.Key("herald.pool")
	// AttrIPs are the LoadBalancer IPs a span is about (string slice).
	AttrIPs = attribute.Key("herald.ips")
	// AttrServices counts the Services a span serves (an UPDATE or a plan
	// that carries many).
	AttrServices = attribute.Key("herald.services")
	// AttrBGPPeer is the BGPPeer object's name.
	AttrBGPPeer = attribute.Key("herald.bgp.peer")
	// AttrPrefixes counts the prefixes an UPDATE announces (NLRI and
	// MP_REACH_NLRI), AttrWithdrawn those it withdraws.
	AttrPrefixes  = attribute.Key("herald.bgp.prefixes")
	AttrWithdrawn = attribute.Key("herald.bgp.withdrawn")
	// AttrMessageBytes is the size of a message on the wire, header
	// included.
	AttrMessageBytes = attribute.Key("herald.bgp.message.bytes")
	// AttrBGPState and AttrBGPPreviousState are a session's new and old
	// RFC 4271 states.
	AttrBGPState         = attribute.Key("herald.bgp.state")
	AttrBGPPreviousState = attribute.Key("herald.bgp.state.previous")
	// AttrBFDState and AttrBFDPreviousState are a BFD session's new and
	// old states; AttrBFDDiagnostic the diagnostic code's name.
	AttrBFDState         = attribute.Key("herald.bfd.state")
	AttrBFDPreviousState = attribute.Key("herald.bfd.state.previous")
	AttrBFDDiagnostic    = attribute.Key("herald.bfd.diagnostic")
	// AttrL2Protocol is "arp" or "ndp".
	AttrL2Protocol = attribute.Key("herald.l2.protocol")
	// AttrL2Owner is the node that answers for an IP after an ownership
	// change; AttrL2Owned whether this node now answers for it.
	AttrL2Owner = attribute.Key("herald.l2.owner")
	AttrL2Owned = attribute.Key("herald.l2.owned")
)

// ServiceAttrs are the attributes naming a Service, for spans about one.
func ServiceAttrs(namespace, name string) []attribute.KeyValue {
	return []attribute.KeyValue{AttrServiceNamespace.String(namespace), AttrServiceName.String(name)}
}

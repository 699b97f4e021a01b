// Package informers turns the Kubernetes API into level-triggered keys and
// slim snapshots for Herald's actor trees. docs/architecture.md places it in
// the whole.
//
// Contract:
//   - Each binary declares what it watches (Options.Watch): the controller
//     its Services, Namespaces, Nodes and the configuration kinds; the
//     speaker also EndpointSlices and ConfigurationStates. Nothing else
//     is listed, watched or cached: not the per-Service status objects
//     the speaker writes, one per Service and node, which it reads once. A Watch may name which updates
//     count (DefaultRelevant otherwise): a Node's heartbeat never wakes
//     anyone, a pool's own status write does not recompile the
//     configuration.
//   - Three SharedInformerFactories: cluster-wide core objects, core
//     objects in Herald's namespace (Secrets: the chart grants them only
//     there), and metallb.io in Herald's namespace.
//   - Every cached object passes through a TransformFunc that drops what
//     Herald never reads (managedFields always; node images and volumes;
//     of an EndpointSlice only its Service and each endpoint's node and
//     conditions; secret data other than BGP passwords), so the cache
//     stays small at thousands of Services. A speaker's (SpeakerTransform)
//     also keeps of each Service only what announcing reads: identity,
//     labels, type, class, traffic policy, status addresses and the
//     traceparent. Its snapshots keep Alloc.Labels and LocalTraffic (and
//     the namespace's labels, which the reader adds) but no other
//     allocation input: no ports, selector, families, requested pool or
//     IPs. It caches Services and EndpointSlices not as API types but in
//     compact forms of its own (compact.go: a few hundred bytes each
//     instead of over a kilobyte), which implement metav1.Object for
//     client-go and are rebuilt into the slimmed API objects on each read;
//     they are read-only, and the typed listers cannot read them, so the
//     readers go to the cache's indexer.
//   - Event handlers never block and read nothing but metadata: they hand a
//     Key to the Handler (a tree's router actor), which re-reads the lister
//     when it gets to it. A Key says what changed by Kind: a Node change is
//     KindNode, not a configuration change; an EndpointSlice change is
//     KindEndpoints of the Service it belongs to. Several events for one
//     object may collapse into one read; that is the point of being
//     level-triggered.
//   - Readers return snapshots (Service) or deep copies (ServiceObject,
//     ConfigInput, Nodes, EndpointSlices): objects in the cache are never
//     handed out to be mutated. A reader of a resource the binary does not
//     watch finds nothing.
//   - WaitCurrent is the fence a new leader passes before it restores: it
//     returns once every cache shows at least what a consistent read from
//     etcd showed when it was called.
//   - ParseService is the one place that reads a Service's allocation
//     inputs (spec.loadBalancerIP, metallb.io/* and the deprecated
//     metallb.universe.tf/* annotations, families, ports, traffic policy)
//     and its status IPs (StatusIPs).
package informers

// Package informers turns the Kubernetes API into level-triggered keys and
// slim snapshots for Herald's actors.
//
// Contract:
//   - One SharedInformerFactory per clientset: core (Services, Namespaces,
//     Nodes, and Secrets in Herald's namespace) and metallb.io (IPAddressPools,
//     L2/BGP advertisements, BGPPeers, BFDProfiles, Communities, all in
//     Herald's namespace).
//   - Every cached object passes through a TransformFunc that drops what
//     Herald never reads (managedFields always; node images and volumes;
//     secret data other than BGP passwords), so the cache stays small at
//     thousands of Services.
//   - Event handlers never block and never look inside the object beyond its
//     key: they hand a Key to the Handler (the controller's router actor),
//     which re-reads the lister when it gets to it. Several events for one
//     object may collapse into one read; that is the point of being
//     level-triggered.
//   - Readers return snapshots (Service) or deep copies (ServiceObject,
//     ConfigInput): objects in the cache are never handed out to be
//     mutated.
//   - ParseService is the one place that reads a Service's allocation
//     inputs (spec.loadBalancerIP, metallb.io/* and the deprecated
//     metallb.universe.tf/* annotations, families, ports, traffic policy).
package informers

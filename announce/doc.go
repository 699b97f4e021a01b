// Package announce decides what each node announces: from the compiled
// Config, the Services with their IPs and endpoints, the Nodes and the set of
// live speakers, it plans the BGP sessions each node opens, the routes it
// sends on each (prefix and attributes, aggregates merged), and the single L2
// owner of each IP. Every speaker computes the same answer without asking
// the API server.
//
// Its place in the whole: the functional core (pure), in docs/architecture.md.
//
// # Contract
//
// The package is pure: no I/O, no clock, no goroutine, no randomness. Inputs
// are its own small types (Node, Speaker, Service with its Endpoints), which
// the speaker fills from informer snapshots, and a *config.Config.
//
// A Planner keeps the inputs and what it derived from them. Each setter
// (SetConfig, SetNode, DeleteNode, SetSpeakers, SetService, DeleteService)
// returns Changes: the sessions opened and closed, per session the routes
// added, changed and removed (what the peer's Adj-RIB-Out must do), the local
// preference conflicts that appeared, and the IPs whose L2 owner or
// interfaces changed. Applying every Changes in order to an empty plan gives
// the sessions, routes and owners of Plan() (candidates are not in Changes;
// L2 and Plan give them). A Planner fed any sequence of inputs plans what
// Compute plans from the final inputs alone.
//
// New(node) plans one node's BGP (the speaker); NewAll plans every node's
// (`kubectl herald`, tests). Both plan every L2 IP, since every speaker must
// know every owner.
//
// Costs: SetService and DeleteService cost in proportion to that Service:
// its contributions on each planned node and the elections of its IPs (each
// O(live speakers)). SetNode and DeleteNode rebuild that node's routes (when
// planned) from every Service, re-elect the IPs it owned and test it against
// the owner of every other L2 IP. SetSpeakers does the latter for each
// speaker that came, went or changed interfaces, so a dead owner costs the
// IPs it owned. SetConfig recomputes everything.
//
// The Planner keeps the Labels maps it is given; callers must not modify
// them afterwards. Slices in results may be shared with the Planner and must
// not be modified. A Planner is not safe for concurrent use.
//
// # Which nodes announce
//
//   - A node announces nothing (BGP or L2) while it is labelled
//     node.kubernetes.io/exclude-from-external-load-balancers (any value),
//     has the condition NetworkUnavailable=True, or is cordoned
//     (spec.unschedulable). A node the planner has not been given a Node for
//     announces nothing either: its labels and state are unknown.
//   - An endpoint serves when its serving condition is true (a terminating
//     endpoint still serves); when serving is unset, when its ready
//     condition is not false (unset means ready), as the EndpointSlice API
//     says. This is MetalLB's rule. A node whose only endpoints terminate
//     but still serve keeps announcing until they stop serving: withdrawing
//     earlier would move the connections they are finishing elsewhere by
//     the router's ECMP rehash.
//   - externalTrafficPolicy Local: only nodes where an endpoint serves.
//     Cluster: every selected node, while any endpoint of the Service serves
//     (with none, nothing is announced: MetalLB does the same, in both modes,
//     and traffic attracted then would only be dropped).
//   - An IP is announced through the pool that contains it; an IP in no pool
//     is not announced. Each IP of a dual-stack Service is planned on its own.
//
// # BGP
//
//   - Sessions: a node opens a session to every BGPPeer whose nodeSelectors
//     select it (all nodes when there are none). Exclusion and endpoints do
//     not close sessions; they withdraw routes. A session is known by its
//     peer's name; whether a changed BGPPeer needs a new TCP session is the
//     shell's decision.
//   - A BGPAdvertisement of the IP's pool contributes the IP on node n
//     towards peer P when its nodeSelectors select n, its serviceSelectors
//     (if any) select the Service, P is in its peers (all peers when none
//     are listed) and n has a session to P. The prefix is the IP masked to
//     its aggregationLength (IPv4) or aggregationLengthV6 (IPv6).
//   - A route (node, peer, prefix) lives while anything contributes it: an
//     aggregate is sent once however many Services fall in it, and withdrawn
//     with the last one. Several advertisements contributing one route
//     combine, as MetalLB documents: communities and large communities are
//     the union, sorted by value.
//   - LOCAL_PREF goes to iBGP peers only, when an advertisement sets
//     localPref. If the contributing advertisements disagree (an
//     advertisement without localPref disagrees with one that has it), the
//     route carries the highest value and the plan reports a
//     LocalPrefConflict naming each advertisement and its value. config
//     refuses the conflicts it can see; those it cannot (serviceSelectors,
//     nodes labelled later) are reported here, never silently resolved.
//     (MetalLB withdraws such a Service altogether; Herald keeps it
//     reachable.)
//   - The next hop is not planned: each node announces itself, with the
//     session's own local address. Which address families a session
//     carries is the session's (MP-BGP) business; the plan holds both.
//
// # L2 owner election
//
// For each IP that an L2Advertisement of its pool covers (its
// serviceSelectors, if any, select a Service holding the IP), a node is a
// candidate for a Service holding the IP when: its speaker is alive, the
// node announces (above), an L2Advertisement of the pool that selects the
// Service selects the node (nodeSelectors), the Service's endpoints allow it
// (Local or Cluster, above), and the speaker has a usable interface the
// advertisements allow (an advertisement without interfaces allows any; the
// allowed set is the union over the advertisements selecting the node).
//
// Candidates for the IP are the nodes that are a candidate for at least one
// of its Services, ranked by:
//
//  1. the number of the IP's Services they are a candidate for, most first
//     (only an IP shared by several Services can differ here);
//  2. the summed weight of the preferredNodeSelectors that match the node,
//     over the pool's L2Advertisements that select one of the IP's Services
//     and select the node, highest first (MetalLB's score);
//  3. sha256(node + "#" + ip), ip in its canonical text form (RFC 5952 for
//     IPv6), lowest first as bytes (MetalLB's order).
//
// MetalLB refuses to announce an IP shared by Services when an
// L2Advertisement has serviceSelectors; Herald elects it by the rule above.
//
// The first is the owner. Its interfaces are the union of the interfaces
// lists of the advertisements that make it a candidate, sorted, or nil (any
// interface) when one of them lists none. MetalLB hashes a Service's first IP
// for all its IPs; Herald hashes each IP, so the two IPs of a dual-stack
// Service may have different owners.
package announce

// Package config compiles the set of metallb.io objects, together with the
// Namespaces, Nodes and Secrets they refer to, into one immutable, validated
// Config.
//
// Its place in the whole: the functional core (pure), in docs/architecture.md.
//
// It is pure: the caller supplies every object in an Input. Compile returns
// every error at once; each names the kind, namespace, name and field at
// fault and says what is wrong. The same code runs in the validating
// webhook, in the controller and speaker, and in `herald validate`.
//
// # Contract
//
//   - Compile(in) returns either a *Config and a nil error, or a nil Config
//     and an Errors value listing every problem, sorted by kind (pools,
//     BFD profiles, communities, peers, L2 then BGP advertisements), then
//     namespace/name, then the order the fields were checked. Each *Error
//     wraps one of the Err* sentinels, so callers classify with errors.Is;
//     its text is "Kind namespace/name: field.path: "value": what is wrong".
//   - Warnings are separate and never fail a configuration: a deprecated
//     v1beta1 BGPPeer, the nodeSelector misspelling, localPref toward eBGP
//     peers only, a CIDR with host bits set, a pool no advertisement
//     selects, a BGP advertisement with no peer to go to. The last two are
//     about the configuration as a whole (Warning.Whole): true of a
//     complete configuration, premature while objects are applied one by
//     one. Analyze returns warnings with the errors, for callers that
//     print both.
//   - A Config is never modified after Compile returns it; readers share
//     it without locks. Slices in it are sorted by name.
//   - Compile applies the defaults the CRDs declare (autoAssign true,
//     aggregation lengths 32 and 128, hold time 90s, BFD 300/300 ms x 3,
//     echo 50 ms) but not peerPort's: a BGPPeer of port 0 is an error, and
//     callers reading manifests rather than the API server get the default
//     from package config/manifest.
//
// # Rules that span objects
//
//   - Names are unique per kind (BGPPeers of both versions share one name
//     space), and are DNS-1123 subdomains.
//   - No address is in two pool entries, of one pool or of two.
//   - References exist: pools and peers named by advertisements, BFD
//     profiles, password Secrets (type kubernetes.io/basic-auth with a
//     "password" key, in the peer's namespace unless the reference names
//     one), community aliases. A pool selector that selects no pool is an
//     error: the advertisement would silently announce nothing it was
//     written for.
//   - Aggregation: an advertisement may not aggregate a pool entry to a
//     prefix shorter than the entry's largest CIDR block (a CIDR entry's
//     own length; for a range, the shortest prefix of the blocks that make
//     it up), since the aggregate would cover addresses outside the pool.
//     This is MetalLB's rule.
//   - One AS per node and VRF: two peers that can be selected on the same
//     node, in the same VRF, must have the same myASN. MetalLB's FRR mode
//     demands one myASN per VRF cluster-wide; Herald only demands it where
//     the sessions share a node, and localASN presents another AS to one
//     peer. Two peers with the same address (or interface), port and VRF
//     on a shared node would be one TCP session, and are refused too.
//   - Local preference: advertisements A and B conflict when both select a
//     pool, their localPref differ, neither has serviceSelectors, for some
//     address family the pool holds both use the same aggregation length
//     (so they announce the same prefix), their peers intersect (no peers
//     listed means every peer) and their node selections overlap. The one
//     later by name is reported.
//   - Node overlap (for the two rules above) is exact when Input.Nodes is
//     given. Without nodes (`herald validate` on files) two selections are
//     taken to overlap when either selects every node or both contain the
//     same selector.
//
// # Timers
//
// holdTime is 0 (keepalives off) or 3s to 65535s in whole seconds,
// default 90s, or three keepalives when only keepaliveTime is set (as in
// MetalLB). keepaliveTime defaults to a third of the hold time and must be
// more than 0 and less than it. connectTime is 1s to 65535s, default 120s.
package config

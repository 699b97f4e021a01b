// Package api holds the Go types of the metallb.io API group that Herald
// serves: v1beta1 (all kinds, and the deprecated BGPPeer version) and
// v1beta2 (BGPPeer, the storage version). JSON names, defaults and ranges
// follow MetalLB's published API so existing manifests apply unchanged;
// Herald's additions are marked as such on their fields.
//
// Its place in the whole: the API layer, the lowest, in docs/architecture.md.
//
// # Generated code
//
// `make generate` (hack/generate.sh) writes the deepcopy functions, the CRD
// manifests in charts/herald/crds, and the typed clientset, listers and
// informers in api/client; all are committed and `make verify-generate`
// fails if regenerating changes them. Do not edit them by hand.
//
// # Validation
//
// Checks that need only the object being written are in the CRDs: schema
// ranges and enums, and CEL rules (x-kubernetes-validations) whose messages
// name the field and say what is wrong. Checks that need other objects
// (overlapping pools, references to pools, peers, BFD profiles, Secrets and
// community aliases, local preferences per pool) are made by the config
// compiler in config/, which the validating webhook and `herald validate`
// call. testbed/crdcheck runs the API server's own validation code on
// accepting and rejecting objects for every rule.
//
// Two schema details differ from MetalLB's text on purpose. Fields of Go
// type uint32 bounded by 4294967295 (myASN, peerASN, localASN, localPref)
// have format int64, not the int32 controller-gen derives: the API server
// checks a bound against the field's format, and with int32 it would refuse
// every object that sets the field. Lists with per-item CEL rules have
// generous maxItems and maxLength bounds, because the API server refuses a
// CRD whose rules' worst-case cost is unbounded.
//
// # BGPPeer versions and conversion
//
// The BGPPeer CRD serves v1beta1 and v1beta2 with conversion strategy None:
// the API server stores and serves the JSON as written, changing only
// apiVersion. That is correct because v1beta1's JSON is a subset of
// v1beta2's, checked field by field:
//
//   - myASN, peerASN, peerAddress, sourceAddress, peerPort, routerID,
//     password, bfdProfile, ebgpMultiHop: same names, same JSON types.
//     v1beta2 makes peerASN and peerAddress optional (dynamicASN and
//     interface are the alternatives), so every v1beta1 value is a v1beta2
//     value.
//   - holdTime, keepaliveTime: strings parsed as durations at both versions.
//   - nodeSelectors: v1beta1's NodeSelector{matchLabels, matchExpressions[
//     {key, operator, values}]} has exactly the JSON of a label selector,
//     which v1beta2 uses.
//   - peerPort has no schema default at v1beta1 and default 179 at v1beta2;
//     defaults are applied per served version when an object is read, so a
//     v1beta1 object without a port reads as 179 at v1beta2, which is what
//     it means at v1beta1.
//
// Tests back each point: api/v1beta1's TestSameJSON and
// TestV1beta1FieldsExistInV1beta2 decode the same documents at both
// versions, and testbed/crdcheck compares the two schemas and validates
// every accepted v1beta1 object at v1beta2.
//
// Two differences remain, and neither needs a conversion webhook:
//
//   - The other direction loses data, as it does in MetalLB's webhook: a
//     v1beta2 object read at v1beta1 has its v1beta2-only fields pruned, and
//     a v1beta1 client that writes it back removes them. Clients should use
//     v1beta2; the v1beta1 version carries a deprecation warning.
//     (*v1beta1.BGPPeer).ConvertFrom reports such fields instead of
//     dropping them silently.
//   - The v1beta1 Go type, like MetalLB's, holds the timers as values, not
//     pointers, so Go code decoding v1beta1 cannot tell an explicit "0s"
//     from an absent timer; (*v1beta1.BGPPeer).ConvertTo reads both as
//     unset (hold time 90s), while the API server keeps an explicit "0s"
//     and v1beta2 readers see keepalives off. The Go type omits zero timers
//     when it writes (omitzero), so Herald's own clients never create that
//     case; only a hand-written v1beta1 manifest with "0s" meets it.
//
// peerPort 0 is valid at v1beta1 (MetalLB's range starts at 0, meaning the
// default port) and not at v1beta2; the API server's validation ratcheting
// lets an unchanged invalid field through an update, and Go clients omit a
// zero port.
//
// A webhook would be needed only if v1beta1 and v1beta2 gave the same JSON
// name different shapes or meanings; if that ever happens, the functions in
// api/v1beta1/bgppeer_conversion.go are the conversion it would serve.
package api

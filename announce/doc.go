// Package announce decides what each node announces: given a Config, the
// services with their IPs, endpoints, nodes and the set of live speakers, it
// returns the BGP routes each node sends to each peer (prefix, next hop,
// communities, large communities, local preference, aggregation, with
// duplicates merged) and the single L2 owner of each IP. It is pure, so every
// speaker computes the same answer without asking the API server.
package announce

// Package peer is Herald's BGP session with one configured peer, as a pure
// value: the connections, both state machines of a collision, the restart
// backoff, the capabilities, and the Adj-RIB-Out that turns a desired route
// set into the fewest UPDATEs.
package peer

// Package bgpnet opens the TCP connections of Herald's BGP sessions: it
// dials peers and accepts their connections with the settings of MetalLB's
// BGPPeer (source address, VRF, TCP MD5 password, TTL security).
//
// Its place in the whole: the I/O libraries (shell layer), in docs/architecture.md.
package bgpnet

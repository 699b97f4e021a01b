// Package bgpbench compares Herald's BGP codec (bgpwire) with GoBGP's
// (github.com/osrg/gobgp/v3/pkg/packet/bgp) on byte-identical messages. It
// lives in testbed/ so GoBGP stays out of Herald's go.mod. Run from testbed/:
//
//	go test -run '^$' -bench . -benchmem ./bgpbench/
package bgpbench

package liveness

import (
	"crypto/sha256"
	"encoding/binary"
	"slices"
	"strings"
)

// ringKey places a node on the ring: the first 8 bytes of SHA-256 of its
// name, so that neighbours are unrelated to names, racks or join order.
func ringKey(name string) uint64 {
	sum := sha256.Sum256([]byte(name))
	return binary.BigEndian.Uint64(sum[:8])
}

// Ring orders node names by ringKey (ties by name), without duplicates.
func Ring(names []string) []string {
	type keyed struct {
		key  uint64
		name string
	}
	ks := make([]keyed, len(names))
	for i, n := range names {
		ks[i] = keyed{ringKey(n), n}
	}
	slices.SortFunc(ks, func(a, b keyed) int {
		if a.key != b.key {
			if a.key < b.key {
				return -1
			}
			return 1
		}
		return strings.Compare(a.name, b.name)
	})
	out := make([]string, 0, len(ks))
	for i, k := range ks {
		if i == 0 || k.name != ks[i-1].name {
			out = append(out, k.name)
		}
	}
	return out
}

// Neighbors returns the r nearest nodes on each side of self on ring (the
// output of Ring, self included), nearest first, without duplicates or
// self. On a ring of at most 2r+1 nodes that is every other node.
func Neighbors(ring []string, self string, r int) []string {
	i := slices.Index(ring, self)
	n := len(ring)
	if i < 0 || n <= 1 || r <= 0 {
		return nil
	}
	var out []string
	for d := 1; d <= r && len(out) < n-1; d++ {
		for _, j := range []int{(i + d) % n, (i - d + n) % n} {
			if ring[j] != self && !slices.Contains(out, ring[j]) {
				out = append(out, ring[j])
			}
		}
	}
	return out
}

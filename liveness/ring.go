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

// Ring orders node names by ringKey (ties by name).
func Ring(names []string) []string {
	out := slices.Clone(names)
	slices.Sort(out)
	out = slices.Compact(out)
	keys := make(map[string]uint64, len(out))
	for _, n := range out {
		keys[n] = ringKey(n)
	}
	slices.SortFunc(out, func(a, b string) int {
		if ka, kb := keys[a], keys[b]; ka != kb {
			if ka < kb {
				return -1
			}
			return 1
		}
		return strings.Compare(a, b)
	})
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

package bgpnet

import (
	"fmt"
	"net/netip"
	"slices"

	"golang.org/x/net/bpf"
)

// A listener's socket carries a classic BPF filter built from its peer
// table, so the kernel itself drops a segment from an address no peer has,
// and one from a GTSM peer that arrives with too low a TTL: the SYN gets no
// SYN-ACK, exactly as if the listener were not there for that sender (what
// RFC 5082 asks of GTSM: drop before any TCP processing). Accepted
// connections inherit the filter, so it keeps checking their segments too.
// The accept loop checks the address again (with the interface of a
// link-local one, which the filter does not see) and sets the peer's own
// IP_MINTTL on the accepted socket.

// skfNetOff is SKF_NET_OFF, the base of loads relative to the network
// header (linux/filter.h), as an unsigned offset.
const skfNetOff = 0xfff00000

// bpfMaxInsns is BPF_MAXINSNS, the kernel's limit on a classic program.
const bpfMaxInsns = 4096

// Verdicts of a socket filter: the bytes to keep, 0 to drop.
const (
	keepPacket = 0xffffffff
	dropPacket = 0
)

// filterPeer is one row of a listener's filter: a source address (no zone,
// IPv4 unmapped) and the lowest TTL its segments may have (0: any).
type filterPeer struct {
	addr   netip.Addr
	minTTL uint8
}

// filterPeers reduces a peer table to filter rows: one per address, sorted,
// with the loosest minimum TTL of the peers that share it (the same
// link-local address on two interfaces); the accept loop applies each
// peer's own.
func filterPeers(rows []filterPeer) []filterPeer {
	out := make([]filterPeer, 0, len(rows))
	for _, r := range rows {
		r.addr = r.addr.Unmap().WithZone("")
		i := slices.IndexFunc(out, func(o filterPeer) bool { return o.addr == r.addr })
		if i < 0 {
			out = append(out, r)
			continue
		}
		out[i].minTTL = min(out[i].minTTL, r.minTTL)
	}
	slices.SortFunc(out, func(a, b filterPeer) int { return a.addr.Compare(b.addr) })
	return out
}

// buildFilter returns the program that keeps exactly the segments whose
// source is one of peers' addresses and whose TTL (hop limit) is at least
// that peer's minTTL, and drops every other. netOff is where loads of the
// network header start: skfNetOff for the kernel, 0 to run the program on
// a bare IP packet in bpf.VM. The program has one block per peer, each
// ending in its own verdict, so no conditional jump is longer than a block
// (classic BPF's conditional offsets are 8 bits).
func buildFilter(peers []filterPeer, netOff uint32) ([]bpf.Instruction, error) {
	var v4, v6 []bpf.Instruction
	for _, p := range filterPeers(peers) {
		if p.addr.Is4() {
			v4 = append(v4, peerBlock(p, netOff)...)
		} else {
			v6 = append(v6, peerBlock(p, netOff)...)
		}
	}
	v4 = append(v4, bpf.RetConstant{Val: dropPacket})
	v6 = append(v6, bpf.RetConstant{Val: dropPacket})
	prog := []bpf.Instruction{
		bpf.LoadAbsolute{Off: netOff, Size: 1}, // version and IHL
		bpf.ALUOpConstant{Op: bpf.ALUOpShiftRight, Val: 4},
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: 4, SkipFalse: 1},
		bpf.Jump{Skip: 3}, // to the IPv4 blocks
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: 6, SkipFalse: 1},
		bpf.Jump{Skip: 1 + uint32(len(v4))}, // to the IPv6 blocks
		bpf.RetConstant{Val: dropPacket},
	}
	prog = append(prog, v4...)
	prog = append(prog, v6...)
	if len(prog) > bpfMaxInsns {
		return nil, fmt.Errorf("%w: the filter of %d addresses needs %d instructions, the kernel takes %d",
			ErrTooManyPeers, len(filterPeers(peers)), len(prog), bpfMaxInsns)
	}
	return prog, nil
}

// peerBlock matches the source address word by word; on a mismatch it skips
// to the next block, on a match it checks the TTL and returns.
func peerBlock(p filterPeer, netOff uint32) []bpf.Instruction {
	var src []byte
	var srcOff, ttlOff uint32
	if p.addr.Is4() {
		b := p.addr.As4()
		src, srcOff, ttlOff = b[:], 12, 8 // IPv4: source address, TTL
	} else {
		b := p.addr.As16()
		src, srcOff, ttlOff = b[:], 8, 7 // IPv6: source address, hop limit
	}
	verdict := []bpf.Instruction{bpf.RetConstant{Val: keepPacket}}
	if p.minTTL > 0 {
		verdict = []bpf.Instruction{
			bpf.LoadAbsolute{Off: netOff + ttlOff, Size: 1},
			bpf.JumpIf{Cond: bpf.JumpGreaterOrEqual, Val: uint32(p.minTTL), SkipFalse: 1},
			bpf.RetConstant{Val: keepPacket},
			bpf.RetConstant{Val: dropPacket},
		}
	}
	words := len(src) / 4
	var out []bpf.Instruction
	for w := range words {
		val := uint32(src[4*w])<<24 | uint32(src[4*w+1])<<16 | uint32(src[4*w+2])<<8 | uint32(src[4*w+3])
		// Instructions left in the block after this jump: the later
		// words' load and compare, then the verdict.
		rest := 2*(words-1-w) + len(verdict)
		out = append(out,
			bpf.LoadAbsolute{Off: netOff + srcOff + uint32(4*w), Size: 4},
			bpf.JumpIf{Cond: bpf.JumpEqual, Val: val, SkipFalse: uint8(rest)})
	}
	return append(out, verdict...)
}

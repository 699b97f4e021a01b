package l2

import (
	"encoding/binary"
	"net/netip"
)

// handleNS decides the answer to one received Ethernet frame on the IPv6
// packet socket of the interface whose address is self. When the verdict
// is verdictReply it has written a Neighbor Advertisement frame into out
// (the Ethernet destination is out[0:6]) and returns the owned entry the
// solicitation was for. It reads no state but its arguments and does not
// allocate.
//
// A solicitation is answered when it passes the validity checks of RFC
// 4861 §7.1.1 (hop limit 255, checksum, code 0, length, no multicast
// target, no zero-length option, and for a source of :: a solicited-node
// destination and no source link-layer option) and these further rules:
//   - A frame from self's own MAC is ignored.
//   - The solicitation is addressed here: multicast to the target's
//     solicited-node group, or unicast to self's MAC and to the target
//     address itself. The unicast form is what Neighbor Unreachability
//     Detection sends (RFC 4861 §7.3.3); it is answered even though the
//     target is not an address of this host's kernel, which is why the
//     socket is a packet socket and not an ICMPv6 socket.
//   - The NS carries no IPv6 extension headers (the next header is ICMPv6).
//
// The advertisement (RFC 4861 §7.2.4) has the target as its source
// address, hop limit 255, Router=0, Override=1 and a target link-layer
// option with self. To a DAD probe (source ::) it goes to all-nodes
// ff02::1 with Solicited=0, so the prober sees the address is taken (RFC
// 4862 §5.4.3); otherwise to the solicitation's source with Solicited=1,
// sent to the source link-layer option's MAC or, when the NS has none (a
// unicast probe may omit it), to the frame's Ethernet source.
func handleNS(frame []byte, self MAC, owned *ownedSet, out *[naFrameLen]byte) (*ipEntry, verdict) {
	const (
		ipOff   = ethHeaderLen
		icmpOff = ethHeaderLen + ip6HeaderLen
	)
	if len(frame) < icmpOff+4 || binary.BigEndian.Uint16(frame[12:14]) != etherTypeIP6 || frame[ipOff]>>4 != 6 {
		return nil, dropMalformed
	}
	ethDst, ethSrc := macAt(frame[0:6]), macAt(frame[6:12])
	if ethSrc == self {
		return nil, dropOwnFrame
	}
	ip := frame[ipOff:]
	if ip[6] != protoICMPv6 || frame[icmpOff] != icmpNSType {
		return nil, dropNotQuestion
	}
	payloadLen := int(binary.BigEndian.Uint16(ip[4:6]))
	if payloadLen < nsLen || icmpOff+payloadLen > len(frame) {
		return nil, dropMalformed
	}
	if ip[7] != ndpHopLimit {
		return nil, dropHopLimit
	}
	src, dst := [16]byte(ip[8:24]), [16]byte(ip[24:40])
	msg := frame[icmpOff : icmpOff+payloadLen]
	if icmpv6Checksum(src, dst, msg) != 0 {
		return nil, dropChecksum
	}
	srcIP, dstIP := netip.AddrFrom16(src), netip.AddrFrom16(dst)
	target := netip.AddrFrom16([16]byte(msg[8:24]))
	if msg[1] != 0 || target.IsMulticast() || srcIP.IsMulticast() {
		return nil, dropInvalidNS
	}
	sourceLLA, hasSourceLLA, ok := nsSourceLLA(msg[nsLen:])
	if !ok {
		return nil, dropInvalidNS
	}
	dad := srcIP.IsUnspecified()
	if dad && (hasSourceLLA || dstIP != SolicitedNodeGroup(target)) {
		return nil, dropInvalidNS
	}
	switch {
	case dstIP.IsMulticast():
		if dstIP != SolicitedNodeGroup(target) || ethDst != multicastMAC(dstIP) {
			return nil, dropNotAddressed
		}
	case ethDst != self || dstIP != target:
		return nil, dropNotAddressed
	}
	e := owned.lookup(target)
	if e == nil {
		return nil, dropNotOwned
	}
	switch {
	case dad:
		putNA(out, self, allNodesMAC, target, allNodesIP, false)
	case hasSourceLLA:
		if !sourceLLA.IsUnicast() {
			return nil, dropBadSender
		}
		putNA(out, self, sourceLLA, target, srcIP, true)
	default:
		if !ethSrc.IsUnicast() {
			return nil, dropBadSender
		}
		putNA(out, self, ethSrc, target, srcIP, true)
	}
	return e, verdictReply
}

// nsSourceLLA walks the options of an NS. It reports the first source
// link-layer address option's MAC, whether there was one, and whether the
// options are well formed (no zero length, none running past the end).
func nsSourceLLA(opts []byte) (mac MAC, found, ok bool) {
	for len(opts) > 0 {
		if len(opts) < 2 {
			return MAC{}, false, false
		}
		n := int(opts[1]) * 8
		if n == 0 || n > len(opts) {
			return MAC{}, false, false
		}
		if opts[0] == optSourceLLA && !found {
			mac, found = macAt(opts[2:n]), true
		}
		opts = opts[n:]
	}
	return mac, found, true
}

// putNA writes a Neighbor Advertisement for target, sent from self with
// target as its IPv6 source, Override=1 and a target link-layer option.
func putNA(out *[naFrameLen]byte, self, ethDst MAC, target, dst netip.Addr, solicited bool) {
	putEthernet(out[:], ethDst, self, etherTypeIP6)
	ip := out[ethHeaderLen:]
	binary.BigEndian.PutUint32(ip[0:4], 6<<28)
	binary.BigEndian.PutUint16(ip[4:6], naLen)
	ip[6], ip[7] = protoICMPv6, ndpHopLimit
	src, d := target.As16(), dst.As16()
	copy(ip[8:24], src[:])
	copy(ip[24:40], d[:])
	m := out[ethHeaderLen+ip6HeaderLen:]
	m[0], m[1], m[2], m[3] = icmpNAType, 0, 0, 0
	m[4] = naFlagOverrd
	if solicited {
		m[4] |= naFlagSolicit
	}
	m[5], m[6], m[7] = 0, 0, 0
	copy(m[8:24], src[:])
	m[24], m[25] = optTargetLLA, 1
	copy(m[26:32], self[:])
	binary.BigEndian.PutUint16(m[2:4], icmpv6Checksum(src, d, m[:naLen]))
}

// putUnsolicitedNA writes the advertisement sent on takeover (RFC 4861
// §7.2.6): to all-nodes, Solicited=0, Override=1, so every neighbour that
// has an entry for ip replaces the old owner's MAC with self.
func putUnsolicitedNA(out *[naFrameLen]byte, self MAC, ip netip.Addr) {
	putNA(out, self, allNodesMAC, ip, allNodesIP, false)
}

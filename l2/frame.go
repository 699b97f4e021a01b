package l2

import (
	"encoding/binary"
	"net/netip"
)

// Frame layout constants. Every frame Herald reads or writes here is an
// untagged Ethernet II frame (the kernel strips VLAN tags before a packet
// socket bound to a VLAN interface sees the frame).
const (
	ethHeaderLen = 14
	etherTypeARP = 0x0806
	etherTypeIP6 = 0x86dd

	arpLen      = 28
	arpFrameLen = ethHeaderLen + arpLen // 42; the NIC pads it to 60 on the wire

	ip6HeaderLen  = 40
	protoICMPv6   = 58
	ndpHopLimit   = 255
	icmpNSType    = 135
	icmpNAType    = 136
	nsLen         = 24 // type, code, checksum, reserved, target
	naLen         = 24 + 8
	naFrameLen    = ethHeaderLen + ip6HeaderLen + naLen // 86
	optSourceLLA  = 1
	optTargetLLA  = 2
	naFlagSolicit = 0x40
	naFlagOverrd  = 0x20
)

// MAC is an Ethernet address. It is a value (not a slice) so the hot path
// can compare and copy it without allocating.
type MAC [6]byte

var (
	broadcastMAC = MAC{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
	// allNodesMAC is the Ethernet address of ff02::1 (RFC 2464 §7).
	allNodesMAC = MAC{0x33, 0x33, 0, 0, 0, 1}
	allNodesIP  = netip.AddrFrom16([16]byte{0: 0xff, 1: 0x02, 15: 0x01})
)

// IsUnicast reports whether m can be the address of one station: not zero,
// not broadcast, not multicast (the I/G bit is clear).
func (m MAC) IsUnicast() bool {
	return m != MAC{} && m[0]&1 == 0
}

func (m MAC) String() string {
	const hex = "0123456789abcdef"
	b := make([]byte, 0, 17)
	for i, x := range m {
		if i > 0 {
			b = append(b, ':')
		}
		b = append(b, hex[x>>4], hex[x&15])
	}
	return string(b)
}

func macAt(b []byte) MAC {
	var m MAC
	copy(m[:], b)
	return m
}

// SolicitedNodeGroup is the solicited-node multicast address of ip,
// ff02::1:ffXX:XXXX with the low 24 bits of ip (RFC 4291 §2.7.1). The
// result is invalid for an address that is not IPv6.
func SolicitedNodeGroup(ip netip.Addr) netip.Addr {
	if !ip.Is6() || ip.Is4In6() {
		return netip.Addr{}
	}
	a := ip.As16()
	return netip.AddrFrom16([16]byte{0: 0xff, 1: 0x02, 11: 0x01, 12: 0xff, 13: a[13], 14: a[14], 15: a[15]})
}

// multicastMAC is the Ethernet address an IPv6 multicast group maps to
// (33:33 and the group's low 32 bits, RFC 2464 §7).
func multicastMAC(group netip.Addr) MAC {
	a := group.As16()
	return MAC{0x33, 0x33, a[12], a[13], a[14], a[15]}
}

func putEthernet(b []byte, dst, src MAC, etherType uint16) {
	copy(b[0:6], dst[:])
	copy(b[6:12], src[:])
	binary.BigEndian.PutUint16(b[12:14], etherType)
}

// checksumAdd adds b to a running ones'-complement sum (RFC 1071), without
// folding.
func checksumAdd(sum uint32, b []byte) uint32 {
	for len(b) >= 2 {
		sum += uint32(b[0])<<8 | uint32(b[1])
		b = b[2:]
	}
	if len(b) == 1 {
		sum += uint32(b[0]) << 8
	}
	return sum
}

// icmpv6Checksum is the ICMPv6 checksum of msg between src and dst (RFC
// 4443 §2.3: over the IPv6 pseudo-header of RFC 8200 §8.1 and the message,
// with the checksum field read as it is). A received message is intact
// when the result over it, checksum included, is zero.
func icmpv6Checksum(src, dst [16]byte, msg []byte) uint16 {
	sum := checksumAdd(0, src[:])
	sum = checksumAdd(sum, dst[:])
	sum += uint32(len(msg)>>16) + uint32(len(msg)&0xffff)
	sum += protoICMPv6
	sum = checksumAdd(sum, msg)
	for sum > 0xffff {
		sum = sum>>16 + sum&0xffff
	}
	return ^uint16(sum)
}

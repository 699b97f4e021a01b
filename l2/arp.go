package l2

import (
	"encoding/binary"
	"net/netip"
)

const (
	arpOpRequest = 1
	arpOpReply   = 2
)

// handleARP decides the answer to one received Ethernet frame on an ARP
// socket of the interface whose address is self. When the verdict is
// verdictReply it has written the reply frame into out (the Ethernet
// destination is out[0:6]) and returns the owned entry the request was
// for. It reads no state but its arguments and does not allocate.
//
// The rules:
//   - Only Ethernet/IPv4 ARP requests (RFC 826) are questions. Replies,
//     including other hosts' gratuitous replies, are not answered.
//   - A frame from self's own MAC is ignored: a packet socket also sees
//     the frames this host sends.
//   - The Ethernet destination must be broadcast or self. A unicast request
//     to self is how Linux refreshes a cache entry, so it is answered; one
//     addressed to another station (seen in promiscuous mode) is not.
//   - An ARP announcement (sender IP = target IP, RFC 5227 §2.3) states an
//     owner, it asks nothing, and is not answered.
//   - An ARP probe (sender IP 0.0.0.0, RFC 5227 §2.1.1) is answered like
//     any request, with target IP 0.0.0.0 and unicast to the prober, as the
//     Linux kernel does for its own addresses: a prober that hears any ARP
//     packet whose sender IP is the probed address must not take it, and
//     that keeps another host from configuring a service IP and pulling its
//     traffic away.
func handleARP(frame []byte, self MAC, owned *ownedSet, out *[arpFrameLen]byte) (*ipEntry, verdict) {
	if len(frame) < arpFrameLen || binary.BigEndian.Uint16(frame[12:14]) != etherTypeARP {
		return nil, dropMalformed
	}
	a := frame[ethHeaderLen:]
	if binary.BigEndian.Uint16(a[0:2]) != 1 || binary.BigEndian.Uint16(a[2:4]) != 0x0800 || a[4] != 6 || a[5] != 4 {
		return nil, dropMalformed
	}
	ethDst, ethSrc := macAt(frame[0:6]), macAt(frame[6:12])
	if ethSrc == self {
		return nil, dropOwnFrame
	}
	if binary.BigEndian.Uint16(a[6:8]) != arpOpRequest {
		return nil, dropNotQuestion
	}
	if ethDst != broadcastMAC && ethDst != self {
		return nil, dropNotAddressed
	}
	senderMAC := macAt(a[8:14])
	if !senderMAC.IsUnicast() {
		return nil, dropBadSender
	}
	senderIP := netip.AddrFrom4([4]byte(a[14:18]))
	targetIP := netip.AddrFrom4([4]byte(a[24:28]))
	e := owned.lookup(targetIP)
	if e == nil {
		return nil, dropNotOwned
	}
	if senderIP == targetIP {
		return nil, dropAnnouncement
	}
	putARP(out, arpOpReply, senderMAC, self, targetIP, senderMAC, senderIP)
	return e, verdictReply
}

// putARP writes an Ethernet/IPv4 ARP frame.
func putARP(out *[arpFrameLen]byte, op uint16, ethDst, sha MAC, spa netip.Addr, tha MAC, tpa netip.Addr) {
	putEthernet(out[:], ethDst, sha, etherTypeARP)
	a := out[ethHeaderLen:]
	binary.BigEndian.PutUint16(a[0:2], 1)
	binary.BigEndian.PutUint16(a[2:4], 0x0800)
	a[4], a[5] = 6, 4
	binary.BigEndian.PutUint16(a[6:8], op)
	copy(a[8:14], sha[:])
	s, t := spa.As4(), tpa.As4()
	copy(a[14:18], s[:])
	copy(a[18:24], tha[:])
	copy(a[24:28], t[:])
}

// putGratuitousARPRequest writes the request form of a gratuitous ARP for
// ip (RFC 5227 §3 announcement): broadcast, sender and target IP both ip,
// target hardware address zero. Hosts that ignore gratuitous replies
// update their cache from it.
func putGratuitousARPRequest(out *[arpFrameLen]byte, self MAC, ip netip.Addr) {
	putARP(out, arpOpRequest, broadcastMAC, self, ip, MAC{}, ip)
}

// putGratuitousARPReply writes the reply form (RFC 5944 §4.6): broadcast,
// sender and target IP both ip, target hardware address self. Hosts that
// ignore gratuitous requests update their cache from it.
func putGratuitousARPReply(out *[arpFrameLen]byte, self MAC, ip netip.Addr) {
	putARP(out, arpOpReply, broadcastMAC, self, ip, self, ip)
}

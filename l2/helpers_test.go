package l2

import (
	"encoding/binary"
	"net"
	"net/netip"
	"testing"

	"github.com/mdlayher/arp"
	"github.com/mdlayher/ethernet"
	"github.com/mdlayher/ndp"
	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv6"
)

// The frames in these tests are built and parsed with mdlayher's arp,
// ethernet and ndp packages and x/net/icmp: an encoder written apart from
// Herald's checks Herald's, and the other way round.

var (
	selfMAC  = MAC{0x02, 0, 0, 0, 0, 0x01}
	peerMAC  = MAC{0x02, 0, 0, 0, 0, 0x02}
	otherMAC = MAC{0x02, 0, 0, 0, 0, 0x03}

	svc4   = netip.MustParseAddr("192.0.2.10")
	svc4b  = netip.MustParseAddr("192.0.2.11")
	peer4  = netip.MustParseAddr("192.0.2.2")
	svc6   = netip.MustParseAddr("2001:db8::10")
	svc6b  = netip.MustParseAddr("2001:db8::11")
	peer6  = netip.MustParseAddr("2001:db8::2")
	peerLL = netip.MustParseAddr("fe80::2")
)

func owning(ips ...netip.Addr) *ownedSet {
	s := &ownedSet{ips: map[netip.Addr]*ipEntry{}}
	for _, ip := range ips {
		s.ips[ip] = &ipEntry{ip: ip}
	}
	return s
}

func hw(m MAC) net.HardwareAddr { return net.HardwareAddr(m[:]) }

// arpFrame builds an Ethernet frame holding an ARP packet with mdlayher's
// encoders (the frame is padded to the 60-byte Ethernet minimum).
func arpFrame(t testing.TB, ethDst, ethSrc MAC, op arp.Operation, sha MAC, spa netip.Addr, tha MAC, tpa netip.Addr) []byte {
	t.Helper()
	p, err := arp.NewPacket(op, hw(sha), spa, hw(tha), tpa)
	if err != nil {
		t.Fatal(err)
	}
	pb, err := p.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	f := &ethernet.Frame{Destination: hw(ethDst), Source: hw(ethSrc), EtherType: ethernet.EtherTypeARP, Payload: pb}
	b, err := f.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// arpRequest is a broadcast "who has target, tell peer".
func arpRequest(t testing.TB, target netip.Addr) []byte {
	return arpFrame(t, broadcastMAC, peerMAC, arp.OperationRequest, peerMAC, peer4, MAC{}, target)
}

type parsedARP struct {
	ethDst, ethSrc MAC
	p              arp.Packet
}

func parseARP(t testing.TB, b []byte) parsedARP {
	t.Helper()
	var f ethernet.Frame
	if err := f.UnmarshalBinary(b); err != nil {
		t.Fatalf("ethernet: %v", err)
	}
	if f.EtherType != ethernet.EtherTypeARP {
		t.Fatalf("EtherType %v, want ARP", f.EtherType)
	}
	var p arp.Packet
	if err := p.UnmarshalBinary(f.Payload); err != nil {
		t.Fatalf("arp: %v", err)
	}
	return parsedARP{ethDst: MAC(f.Destination), ethSrc: MAC(f.Source), p: p}
}

// nsSpec describes a Neighbor Solicitation frame; zero fields take the
// defaults of a multicast NS from peer for svc6.
type nsSpec struct {
	ethDst, ethSrc MAC
	src, dst       netip.Addr
	target         netip.Addr
	hopLimit       int // 0: 255
	options        []ndp.Option
	noOptions      bool
	corrupt        bool // flip a checksum bit
	code           byte
	rawICMP        []byte // replaces the marshalled message (its checksum is recomputed)
}

func nsFrame(t testing.TB, s nsSpec) []byte {
	t.Helper()
	if !s.target.IsValid() {
		s.target = svc6
	}
	if !s.src.IsValid() {
		s.src = peer6
	}
	if !s.dst.IsValid() {
		s.dst = SolicitedNodeGroup(s.target)
	}
	if s.ethDst == (MAC{}) {
		s.ethDst = multicastMAC(s.dst)
		if !s.dst.IsMulticast() {
			s.ethDst = selfMAC
		}
	}
	if s.ethSrc == (MAC{}) {
		s.ethSrc = peerMAC
	}
	if s.options == nil && !s.noOptions && !s.src.IsUnspecified() {
		s.options = []ndp.Option{&ndp.LinkLayerAddress{Direction: ndp.Source, Addr: hw(s.ethSrc)}}
	}
	msg := s.rawICMP
	if msg == nil {
		var err error
		msg, err = ndp.MarshalMessageChecksum(&ndp.NeighborSolicitation{TargetAddress: s.target, Options: s.options}, s.src, s.dst)
		if err != nil {
			t.Fatal(err)
		}
	}
	if s.code != 0 || s.rawICMP != nil {
		if s.code != 0 {
			msg[1] = s.code
		}
		binary.BigEndian.PutUint16(msg[2:4], 0)
		binary.BigEndian.PutUint16(msg[2:4], icmpv6Checksum(s.src.As16(), s.dst.As16(), msg))
	}
	if s.corrupt {
		msg[3] ^= 1
	}
	return ip6Frame(s.ethDst, s.ethSrc, s.src, s.dst, s.hopLimit, msg)
}

func ip6Frame(ethDst, ethSrc MAC, src, dst netip.Addr, hopLimit int, payload []byte) []byte {
	if hopLimit == 0 {
		hopLimit = 255
	}
	b := make([]byte, ethHeaderLen+ip6HeaderLen, ethHeaderLen+ip6HeaderLen+len(payload))
	putEthernet(b, ethDst, ethSrc, etherTypeIP6)
	h := b[ethHeaderLen:]
	h[0] = 0x60
	binary.BigEndian.PutUint16(h[4:6], uint16(len(payload)))
	h[6], h[7] = protoICMPv6, byte(hopLimit)
	s, d := src.As16(), dst.As16()
	copy(h[8:24], s[:])
	copy(h[24:40], d[:])
	return append(b, payload...)
}

type parsedNA struct {
	ethDst, ethSrc MAC
	src, dst       netip.Addr
	hopLimit       int
	na             *ndp.NeighborAdvertisement
	tlla           MAC
}

// parseNA checks the frame is an IPv6 NA with a correct checksum
// (recomputed by x/net/icmp) and returns its fields.
func parseNA(t testing.TB, b []byte) parsedNA {
	t.Helper()
	if len(b) < ethHeaderLen+ip6HeaderLen || binary.BigEndian.Uint16(b[12:14]) != etherTypeIP6 {
		t.Fatalf("not an IPv6 frame: % x", b)
	}
	h := b[ethHeaderLen:]
	if h[0]>>4 != 6 || h[6] != protoICMPv6 {
		t.Fatalf("IPv6 header % x: want version 6, next header 58", h[:8])
	}
	plen := int(binary.BigEndian.Uint16(h[4:6]))
	if ethHeaderLen+ip6HeaderLen+plen != len(b) {
		t.Fatalf("payload length %d does not match frame length %d", plen, len(b))
	}
	p := parsedNA{
		ethDst: macAt(b[0:6]), ethSrc: macAt(b[6:12]),
		src: netip.AddrFrom16([16]byte(h[8:24])), dst: netip.AddrFrom16([16]byte(h[24:40])),
		hopLimit: int(h[7]),
	}
	msg := h[ip6HeaderLen:]
	im, err := icmp.ParseMessage(58, msg)
	if err != nil {
		t.Fatal(err)
	}
	re, err := im.Marshal(icmp.IPv6PseudoHeader(p.src.AsSlice(), p.dst.AsSlice()))
	if err != nil {
		t.Fatal(err)
	}
	if re[2] != msg[2] || re[3] != msg[3] {
		t.Fatalf("ICMPv6 checksum %x, x/net/icmp computes %x", msg[2:4], re[2:4])
	}
	if im.Type != ipv6.ICMPTypeNeighborAdvertisement {
		t.Fatalf("ICMPv6 type %v, want NA", im.Type)
	}
	m, err := ndp.ParseMessage(msg)
	if err != nil {
		t.Fatal(err)
	}
	p.na = m.(*ndp.NeighborAdvertisement)
	for _, o := range p.na.Options {
		if l, ok := o.(*ndp.LinkLayerAddress); ok && l.Direction == ndp.Target {
			p.tlla = MAC(l.Addr)
		}
	}
	return p
}

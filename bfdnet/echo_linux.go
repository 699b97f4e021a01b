package bfdnet

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"

	"github.com/mdlayher/packet"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// OpenEcho opens an Echo sender the way FRR's bfdd does on Linux: an
// AF_PACKET socket on the interface (CAP_NET_RAW) that puts whole frames
// on the link, addressed to the peer's MAC address but carrying an IPv4
// datagram from and to this system's own address, TTL 255. The peer's
// kernel forwards it back (it needs net.ipv4.ip_forward=1, as a router
// or a Kubernetes node has), so it returns with TTL 254 to the Echo port's
// UDP socket, through the peer's forwarding plane and not its BFD (RFC
// 5880 §6.4). A kernel UDP socket cannot send it: the kernel would
// deliver a datagram to its own address locally. The peer's MAC address
// comes from the kernel's neighbour table, which the Control packets keep
// fresh; until it is there no Echo packet leaves (and Echo fails, taking
// the session down, if it never is).
func (n OSNetwork) OpenEcho(spec EchoSpec) (EchoConn, error) {
	if !spec.Local.Is4() || !spec.Peer.Is4() {
		return nil, fmt.Errorf("%w: echo is IPv4 only (RFC 5881 §4)", ErrNoEcho)
	}
	ifi, err := net.InterfaceByName(spec.Interface)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrNoEcho, err)
	}
	if len(ifi.HardwareAddr) != 6 {
		return nil, fmt.Errorf("%w: interface %s has no Ethernet address", ErrNoEcho, spec.Interface)
	}
	// Protocol 0: the socket sends and receives nothing.
	c, err := packet.Listen(ifi, packet.Raw, 0, nil)
	if err != nil {
		return nil, fmt.Errorf("%w: packet socket on %s: %w", ErrNoEcho, spec.Interface, err)
	}
	// The handle is made now, in the calling thread's network namespace,
	// so that later lookups ask the same one.
	h, err := netlink.NewHandle(unix.NETLINK_ROUTE)
	if err != nil {
		_ = c.Close()
		return nil, fmt.Errorf("%w: netlink: %w", ErrNoEcho, err)
	}
	e := &osEcho{c: c, h: h, ifindex: ifi.Index, peer: spec.Peer}
	buildEchoHeaders(e.frame[:], [6]byte(ifi.HardwareAddr), spec.Local, spec.Port)
	return e, nil
}

type osEcho struct {
	c       *packet.Conn
	h       *netlink.Handle
	ifindex int
	peer    netip.Addr
	mac     net.HardwareAddr
	sends   int
	frame   [ethLen + ipv4Len + udpLen + echoLen]byte
	addr    packet.Addr
}

const (
	ethLen  = 14
	ipv4Len = 20
	udpLen  = 8
)

var errNoNeighbour = errors.New("peer not in the neighbour table")

func (e *osEcho) SendEcho(payload []byte) error {
	// The neighbour is looked up again every 64 packets, so a peer that
	// changed its MAC address is followed within a few seconds.
	if e.mac == nil || e.sends%64 == 0 {
		if err := e.resolve(); err != nil && e.mac == nil {
			return err
		}
	}
	e.sends++
	copy(e.frame[:6], e.mac)
	finishEcho(e.frame[:], payload)
	e.addr.HardwareAddr = e.mac
	_, err := e.c.WriteTo(e.frame[:], &e.addr)
	return err
}

func (e *osEcho) resolve() error {
	neighs, err := e.h.NeighList(e.ifindex, netlink.FAMILY_V4)
	if err != nil {
		return err
	}
	for _, nb := range neighs {
		ip, ok := netip.AddrFromSlice(nb.IP)
		if ok && ip.Unmap() == e.peer && len(nb.HardwareAddr) == 6 &&
			nb.State&(netlink.NUD_FAILED|netlink.NUD_INCOMPLETE) == 0 {
			e.mac = nb.HardwareAddr
			return nil
		}
	}
	return errNoNeighbour
}

func (e *osEcho) Close() error {
	e.h.Close()
	return e.c.Close()
}

// buildEchoHeaders writes the parts of an Echo frame that never change:
// the source MAC, EtherType, IPv4 header (from and to local, TTL 255,
// DSCP CS6, DF) and UDP ports and length.
func buildEchoHeaders(f []byte, src [6]byte, local netip.Addr, port uint16) {
	copy(f[6:12], src[:])
	binary.BigEndian.PutUint16(f[12:], 0x0800)
	ip := f[ethLen:]
	ip[0], ip[1] = 0x45, 0xc0
	binary.BigEndian.PutUint16(ip[2:], ipv4Len+udpLen+echoLen)
	binary.BigEndian.PutUint16(ip[6:], 0x4000)
	ip[8], ip[9] = 255, unix.IPPROTO_UDP
	a := local.As4()
	copy(ip[12:16], a[:])
	copy(ip[16:20], a[:])
	binary.BigEndian.PutUint16(ip[10:], ^onesSum(0, ip[:ipv4Len]))
	udp := ip[ipv4Len:]
	binary.BigEndian.PutUint16(udp[0:], port)
	binary.BigEndian.PutUint16(udp[2:], port)
	binary.BigEndian.PutUint16(udp[4:], udpLen+echoLen)
}

// finishEcho puts the payload in and computes the UDP checksum.
func finishEcho(f, payload []byte) {
	ip := f[ethLen:]
	udp := ip[ipv4Len:]
	copy(udp[udpLen:], payload)
	udp[6], udp[7] = 0, 0
	// Pseudo-header: source, destination, protocol, UDP length.
	sum := onesSum(0, ip[12:20])
	sum = onesSum(uint32(sum)+unix.IPPROTO_UDP+udpLen+echoLen, udp[:udpLen+echoLen])
	c := ^sum
	if c == 0 {
		c = 0xffff
	}
	binary.BigEndian.PutUint16(udp[6:], c)
}

// onesSum is the 16-bit ones' complement sum of b (even length) added to
// an initial sum.
func onesSum(init uint32, b []byte) uint16 {
	s := init
	for i := 0; i+1 < len(b); i += 2 {
		s += uint32(binary.BigEndian.Uint16(b[i:]))
	}
	for s>>16 != 0 {
		s = s&0xffff + s>>16
	}
	return uint16(s)
}

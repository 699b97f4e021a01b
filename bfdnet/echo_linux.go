package bfdnet

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"

	"github.com/mdlayher/packet"
	"github.com/vishvananda/netlink"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// OpenEcho opens an Echo path the way FRR's bfdd does on Linux: one
// AF_PACKET socket on the interface (CAP_NET_RAW). It sends whole frames
// addressed to the peer's MAC address but carrying an IPv4 datagram from
// and to this system's own address, TTL 255, port EchoPort to EchoPort.
// The peer's kernel forwards them back (it needs net.ipv4.ip_forward=1, as
// a router or a Kubernetes node has), through its forwarding plane and
// not its BFD (RFC 5880 §6.4), so they return with TTL 254. A kernel UDP
// socket could do neither half: the kernel delivers a datagram to its own
// address locally instead of sending it, and drops one arriving from
// outside with its own address as source (a martian, unless accept_local
// is set). So the same packet socket reads them, through a filter that
// passes only incoming UDP datagrams to Local's EchoPort, before the IP
// layer sees them. The peer's MAC address comes from the kernel's
// neighbour table, which the Control packets keep fresh; until it is there
// no Echo packet leaves (and Echo fails, taking the session down, if it
// never is).
func (n OSNetwork) OpenEcho(spec EchoSpec) (EchoConn, error) {
	if !spec.Local.Is4() || !spec.Peer.Is4() {
		return nil, fmt.Errorf("%w: echo is IPv4 only (RFC 5881 §4)", ErrNoEcho)
	}
	var (
		ifi *net.Interface
		c   *packet.Conn
		h   *netlink.Handle
	)
	err := n.in(func() (err error) {
		if ifi, err = net.InterfaceByName(spec.Interface); err != nil {
			return err
		}
		if len(ifi.HardwareAddr) != 6 {
			return fmt.Errorf("interface %s has no Ethernet address", spec.Interface)
		}
		filter, err := bpf.Assemble(echoFilter(ifi.Index, spec.Local, spec.Port))
		if err != nil {
			return err
		}
		// The filter is attached before bind, so nothing unfiltered is
		// queued.
		if c, err = packet.Listen(ifi, packet.Raw, unix.ETH_P_IP, &packet.Config{Filter: filter}); err != nil {
			return fmt.Errorf("packet socket on %s: %w", spec.Interface, err)
		}
		// The handle is made in the same namespace, so that later
		// lookups ask it.
		if h, err = netlink.NewHandle(unix.NETLINK_ROUTE); err != nil {
			_ = c.Close()
			return fmt.Errorf("netlink: %w", err)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrNoEcho, err)
	}
	e := &osEcho{c: c, h: h, ifindex: ifi.Index, peer: spec.Peer}
	buildEchoHeaders(e.frame[:], [6]byte(ifi.HardwareAddr), spec.Local, spec.Port)
	return e, nil
}

// echoFilter passes frames received on ifindex (not sent by this host, not
// handed on to a VLAN on top of it) that carry an unfragmented IPv4 UDP
// datagram to local's port.
func echoFilter(ifindex int, local netip.Addr, port uint16) []bpf.Instruction {
	const toDrop = 0xff
	a := local.As4()
	prog := []bpf.Instruction{
		bpf.LoadExtension{Num: bpf.ExtType},
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: packetOutgoing, SkipTrue: toDrop},
		bpf.LoadExtension{Num: bpf.ExtInterfaceIndex},
		bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: uint32(ifindex), SkipTrue: toDrop},
		bpf.LoadAbsolute{Off: 12, Size: 2},
		bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: 0x0800, SkipTrue: toDrop},
		bpf.LoadAbsolute{Off: ethLen + 9, Size: 1},
		bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: unix.IPPROTO_UDP, SkipTrue: toDrop},
		bpf.LoadAbsolute{Off: ethLen + 16, Size: 4},
		bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: binary.BigEndian.Uint32(a[:]), SkipTrue: toDrop},
		bpf.LoadAbsolute{Off: ethLen + 6, Size: 2},
		bpf.JumpIf{Cond: bpf.JumpBitsSet, Val: 0x1fff, SkipTrue: toDrop},
		bpf.LoadMemShift{Off: ethLen},
		bpf.LoadIndirect{Off: ethLen + 2, Size: 2},
		bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: uint32(port), SkipTrue: toDrop},
		bpf.RetConstant{Val: 0xffff},
		bpf.RetConstant{Val: 0},
	}
	drop := len(prog) - 1
	for i, ins := range prog {
		if j, ok := ins.(bpf.JumpIf); ok && j.SkipTrue == toDrop {
			j.SkipTrue = uint8(drop - i - 1)
			prog[i] = j
		}
	}
	return prog
}

// packetOutgoing is skb->pkt_type of a frame this host sends.
const packetOutgoing = 4

type osEcho struct {
	c       *packet.Conn
	h       *netlink.Handle
	ifindex int
	peer    netip.Addr
	mac     net.HardwareAddr
	sends   int
	frame   [ethLen + ipv4Len + udpLen + echoLen]byte
	addr    packet.Addr
	rbuf    [1514]byte
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

// ReadEcho reads the next frame the filter passed and returns its UDP
// payload, with a valid IPv4 header checksum and UDP length.
func (e *osEcho) ReadEcho(b []byte) (int, PacketInfo, error) {
	for {
		n, _, err := e.c.ReadFrom(e.rbuf[:])
		if err != nil {
			return 0, PacketInfo{}, err
		}
		if payload, info, ok := parseEchoFrame(e.rbuf[:n]); ok {
			info.IfIndex = e.ifindex
			return copy(b, payload), info, nil
		}
	}
}

// parseEchoFrame checks an Ethernet frame's IPv4 and UDP headers and
// returns the UDP payload with the addresses and TTL.
func parseEchoFrame(f []byte) ([]byte, PacketInfo, bool) {
	if len(f) < ethLen+ipv4Len+udpLen {
		return nil, PacketInfo{}, false
	}
	ip := f[ethLen:]
	ihl := int(ip[0]&0x0f) * 4
	total := int(binary.BigEndian.Uint16(ip[2:]))
	if ip[0]>>4 != 4 || ihl < ipv4Len || total > len(ip) || total < ihl+udpLen || onesSum(0, ip[:ihl]) != 0xffff {
		return nil, PacketInfo{}, false
	}
	udp := ip[ihl:total]
	ulen := int(binary.BigEndian.Uint16(udp[4:]))
	if ulen < udpLen || ulen > len(udp) {
		return nil, PacketInfo{}, false
	}
	info := PacketInfo{
		Src: netip.AddrPortFrom(netip.AddrFrom4([4]byte(ip[12:16])), binary.BigEndian.Uint16(udp[0:])),
		Dst: netip.AddrFrom4([4]byte(ip[16:20])),
		TTL: int(ip[8]),
	}
	return udp[udpLen:ulen], info, true
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

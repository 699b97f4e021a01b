package bfdnet

import (
	"net/netip"
)

// Family is an address family of a socket.
type Family uint8

// The two families a Manager opens sockets for.
const (
	IPv4 Family = 4
	IPv6 Family = 6
)

func (f Family) String() string {
	if f == IPv4 {
		return "IPv4"
	}
	return "IPv6"
}

func familyOf(a netip.Addr) Family {
	if a.Is4() || a.Is4In6() {
		return IPv4
	}
	return IPv6
}

// PacketInfo is what a receive socket tells about one datagram.
type PacketInfo struct {
	// Src is the sender's address and port; a link-local IPv6 address
	// carries the interface as its zone.
	Src netip.AddrPort
	// Dst is the address the datagram was sent to (IP_PKTINFO,
	// IPV6_PKTINFO); invalid when the socket did not say.
	Dst netip.Addr
	// IfIndex is the interface it arrived on, 0 when unknown.
	IfIndex int
	// TTL is the IPv4 TTL or IPv6 hop limit it arrived with (IP_RECVTTL,
	// IPV6_RECVHOPLIMIT), -1 when the socket did not say. A packet whose
	// TTL is unknown fails every TTL check.
	TTL int
	// QueueDrops is the socket's count, so far, of datagrams the kernel
	// dropped for a full receive buffer (SO_RXQ_OVFL); 0 if not reported.
	QueueDrops uint32
}

// RecvConn is a socket that receives the datagrams sent to one UDP port.
// ReadPacket blocks until a datagram arrives or the socket is closed;
// Close must unblock it. One goroutine reads at a time. A RecvConn that
// also has a method Pending() bool, reporting whether a datagram waits
// unread, lets a Detection Time expiry wait for it (see the package
// documentation); OSNetwork's has it.
type RecvConn interface {
	ReadPacket(b []byte) (n int, info PacketInfo, err error)
	Close() error
}

// SendConn is one session's transmit socket: bound to a source port in
// SourcePortMin..SourcePortMax that stays the session's for its life (RFC
// 5881 §4), to the session's local address and interface when it has
// them, and sending with TTL (hop limit) 255. WritePacket may be called
// from several goroutines, one at a time.
type SendConn interface {
	WritePacket(b []byte, dst netip.AddrPort) error
	// LocalPort is the bound source port.
	LocalPort() uint16
	Close() error
}

// EchoConn is one session's Echo path (RFC 5881 §4). SendEcho puts a UDP
// datagram from and to this system's own address and the Echo port on the
// link toward the peer, so that the peer's forwarding plane sends it
// back; ReadEcho returns the UDP payload of each one that comes back
// (TTL, addresses), blocking until one does or Close is called. One
// goroutine reads while others send.
type EchoConn interface {
	SendEcho(payload []byte) error
	ReadEcho(b []byte) (n int, info PacketInfo, err error)
	Close() error
}

// SenderSpec is what a session's transmit socket is bound to.
type SenderSpec struct {
	Family Family
	// Local is the source address; invalid means the kernel chooses.
	Local netip.Addr
	// Interface is the interface name to bind to (SO_BINDTODEVICE); empty
	// means any.
	Interface string
	// Port is the source port to bind; the Manager draws it at random in
	// SourcePortMin..SourcePortMax and retries another on ErrPortInUse.
	Port uint16
}

// EchoSpec is what an Echo sender needs.
type EchoSpec struct {
	Local     netip.Addr // this system's address on the link: source and destination
	Peer      netip.Addr // the neighbour that loops the packets back
	Interface string
	Port      uint16 // UDP source and destination port (EchoPort)
}

// Network opens sockets. OSNetwork opens the kernel's; tests inject an
// in-memory one.
type Network interface {
	// Listen opens the socket receiving on port for the family, on every
	// address, reporting TTL, destination address and interface.
	Listen(f Family, port uint16) (RecvConn, error)
	// OpenSender opens a transmit socket; it returns an error wrapping
	// ErrPortInUse when the port is taken.
	OpenSender(spec SenderSpec) (SendConn, error)
	// OpenEcho opens an Echo sender; a Network without one returns an
	// error wrapping ErrNoEcho, and sessions then run without Echo.
	OpenEcho(spec EchoSpec) (EchoConn, error)
	// InterfaceIndex resolves an interface name.
	InterfaceIndex(name string) (int, error)
}

// RFC 5881 §4: the source port range of Control packets.
const (
	SourcePortMin = 49152
	SourcePortMax = 65535
)

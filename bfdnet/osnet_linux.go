package bfdnet

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"runtime"
	"syscall"
	"unsafe"

	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// OSNetwork opens the kernel's sockets. Receive sockets need nothing; a
// port below 1024 would need CAP_NET_BIND_SERVICE (BFD's are above).
type OSNetwork struct {
	// ListenAddr4 and ListenAddr6 bind the receive sockets to one address
	// instead of every address (two Managers on one host, as in tests on
	// the loopback, each listen on their own).
	ListenAddr4, ListenAddr6 netip.Addr
	// NetNS is the path of the network namespace to make every socket in
	// (/run/netns/NAME, /proc/PID/ns/net), which takes CAP_SYS_ADMIN; empty
	// means the namespace of the thread that calls Add or Listen. Sessions
	// that Options.Accept adds are made on a receive goroutine, whose
	// thread is in the process's namespace: a Manager serving another
	// namespace needs NetNS.
	NetNS string
}

// in runs f on a thread in n.NetNS (when set), and returns the thread to
// its namespace after. A thread that cannot return stays locked, so the
// runtime retires it with the goroutine.
func (n OSNetwork) in(f func() error) error {
	if n.NetNS == "" {
		return f()
	}
	runtime.LockOSThread()
	orig, err := netns.Get()
	if err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("bfdnet: current network namespace: %w", err)
	}
	defer orig.Close()
	target, err := netns.GetFromPath(n.NetNS)
	if err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("bfdnet: network namespace %s: %w", n.NetNS, err)
	}
	defer target.Close()
	if err := netns.Set(target); err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("bfdnet: enter network namespace %s: %w", n.NetNS, err)
	}
	ferr := f()
	if err := netns.Set(orig); err != nil {
		return errors.Join(ferr, fmt.Errorf("bfdnet: leave network namespace %s: %w", n.NetNS, err))
	}
	runtime.UnlockOSThread()
	return ferr
}

// Listen opens a UDP socket on port that reports every datagram's TTL or
// hop limit, destination address and interface.
func (n OSNetwork) Listen(f Family, port uint16) (RecvConn, error) {
	network, addr := "udp4", n.ListenAddr4
	if !addr.IsValid() {
		addr = netip.IPv4Unspecified()
	}
	if f == IPv6 {
		network, addr = "udp6", n.ListenAddr6
		if !addr.IsValid() {
			addr = netip.IPv6Unspecified()
		}
	}
	lc := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
		return setsockopts(c, func(fd int) error {
			// A large receive buffer rides out moments when this process
			// has no CPU: a 24-byte datagram takes about 1 KB of buffer,
			// and a full buffer drops packets, which the peers' sessions
			// then miss. SO_RCVBUFFORCE needs CAP_NET_ADMIN; without it
			// the kernel caps SO_RCVBUF at net.core.rmem_max.
			if unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, receiveBuffer) != nil {
				_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, receiveBuffer)
			}
			errs := []error{unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RXQ_OVFL, 1)}
			if f == IPv4 {
				errs = append(errs, unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_RECVTTL, 1),
					unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_PKTINFO, 1))
			} else {
				errs = append(errs, unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_RECVHOPLIMIT, 1),
					unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_RECVPKTINFO, 1))
			}
			return errors.Join(errs...)
		})
	}}
	var pc net.PacketConn
	err := n.in(func() (err error) {
		pc, err = lc.ListenPacket(context.Background(), network, netip.AddrPortFrom(addr, port).String())
		return err
	})
	if err != nil {
		return nil, err
	}
	return &osRecv{c: pc.(*net.UDPConn), oob: make([]byte, 256)}, nil
}

// receiveBuffer is the receive sockets' buffer: about 4,000 BFD packets.
const receiveBuffer = 4 << 20

func setsockopts(c syscall.RawConn, f func(fd int) error) error {
	var serr error
	if err := c.Control(func(fd uintptr) { serr = f(int(fd)) }); err != nil {
		return err
	}
	return serr
}

type osRecv struct {
	c   *net.UDPConn
	oob []byte
}

func (r *osRecv) ReadPacket(b []byte) (int, PacketInfo, error) {
	n, oobn, _, src, err := r.c.ReadMsgUDPAddrPort(b, r.oob)
	info := PacketInfo{Src: src, TTL: -1}
	if err != nil {
		return 0, info, err
	}
	parseControl(r.oob[:oobn], &info)
	return n, info, nil
}

func (r *osRecv) Close() error { return r.c.Close() }

// Pending reports whether a datagram waits in the socket's receive queue
// (SIOCINQ).
func (r *osRecv) Pending() bool {
	rc, err := r.c.SyscallConn()
	if err != nil {
		return false
	}
	n := 0
	_ = rc.Control(func(fd uintptr) { n, _ = unix.IoctlGetInt(int(fd), unix.SIOCINQ) })
	return n > 0
}

// parseControl reads the TTL, destination, interface and the socket's
// drop count from the control
// messages without allocating (unix.ParseSocketControlMessage allocates
// per packet).
func parseControl(oob []byte, info *PacketInfo) {
	hdr := unix.CmsgLen(0)
	for len(oob) >= hdr {
		h := (*unix.Cmsghdr)(unsafe.Pointer(&oob[0]))
		l := int(h.Len)
		if l < hdr || l > len(oob) {
			return
		}
		data := oob[hdr:l]
		switch {
		case h.Level == unix.IPPROTO_IP && h.Type == unix.IP_TTL && len(data) >= 4:
			info.TTL = int(*(*int32)(unsafe.Pointer(&data[0])))
		case h.Level == unix.IPPROTO_IP && h.Type == unix.IP_PKTINFO && len(data) >= unix.SizeofInet4Pktinfo:
			pi := (*unix.Inet4Pktinfo)(unsafe.Pointer(&data[0]))
			info.IfIndex, info.Dst = int(pi.Ifindex), netip.AddrFrom4(pi.Addr)
		case h.Level == unix.SOL_SOCKET && h.Type == unix.SO_RXQ_OVFL && len(data) >= 4:
			info.QueueDrops = *(*uint32)(unsafe.Pointer(&data[0]))
		case h.Level == unix.IPPROTO_IPV6 && h.Type == unix.IPV6_HOPLIMIT && len(data) >= 4:
			info.TTL = int(*(*int32)(unsafe.Pointer(&data[0])))
		case h.Level == unix.IPPROTO_IPV6 && h.Type == unix.IPV6_PKTINFO && len(data) >= unix.SizeofInet6Pktinfo:
			pi := (*unix.Inet6Pktinfo)(unsafe.Pointer(&data[0]))
			info.IfIndex, info.Dst = int(pi.Ifindex), netip.AddrFrom16(pi.Addr).Unmap()
		}
		next := unix.CmsgSpace(l - hdr)
		if next > len(oob) {
			return
		}
		oob = oob[next:]
	}
}

// OpenSender opens a UDP socket bound to spec's port (and address and
// interface), sending with TTL or hop limit 255 and the Internetwork
// Control precedence (DSCP CS6, as routing protocols do). It can bind an
// address not (yet) configured (IP_FREEBIND), and its receive buffer is
// the smallest the kernel allows: nothing is meant to arrive on it.
func (n OSNetwork) OpenSender(spec SenderSpec) (SendConn, error) {
	network, local := "udp4", spec.Local
	if !local.IsValid() {
		local = netip.IPv4Unspecified()
	}
	if spec.Family == IPv6 {
		network = "udp6"
		if !local.IsValid() || local.Is4() {
			local = netip.IPv6Unspecified()
		}
		if local.IsLinkLocalUnicast() && spec.Interface != "" {
			local = local.WithZone(spec.Interface)
		}
	}
	lc := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
		return setsockopts(c, func(fd int) error {
			errs := []error{unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, 0)}
			if spec.Interface != "" {
				errs = append(errs, unix.SetsockoptString(fd, unix.SOL_SOCKET, unix.SO_BINDTODEVICE, spec.Interface))
			}
			if spec.Family == IPv4 {
				errs = append(errs, unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_TTL, 255),
					unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_TOS, 0xc0),
					unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_FREEBIND, 1))
			} else {
				errs = append(errs, unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_UNICAST_HOPS, 255),
					unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_TCLASS, 0xc0),
					unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_FREEBIND, 1))
			}
			return errors.Join(errs...)
		})
	}}
	var pc net.PacketConn
	err := n.in(func() (err error) {
		pc, err = lc.ListenPacket(context.Background(), network, netip.AddrPortFrom(local, spec.Port).String())
		return err
	})
	if err != nil {
		if errors.Is(err, unix.EADDRINUSE) {
			return nil, fmt.Errorf("%w: %w", ErrPortInUse, err)
		}
		return nil, err
	}
	c := pc.(*net.UDPConn)
	rc, err := c.SyscallConn()
	if err != nil {
		_ = c.Close()
		return nil, err
	}
	snd := &osSend{c: c, rc: rc, port: spec.Port}
	if spec.Interface != "" {
		if snd.ifindex, err = n.InterfaceIndex(spec.Interface); err != nil {
			_ = c.Close()
			return nil, err
		}
	}
	snd.writeFn = snd.write
	return snd, nil
}

// osSend sends without ever waiting: a full socket buffer drops the
// packet (and WritePacket says EAGAIN) rather than parking the goroutine,
// which may be the scheduler every session's timers depend on. The
// destination's sockaddr is kept between packets, and the write function
// is made once, so a send allocates nothing.
type osSend struct {
	c       *net.UDPConn
	rc      syscall.RawConn
	port    uint16
	ifindex int
	// Set for the duration of one WritePacket (calls are one at a time).
	dst     netip.AddrPort
	sa      unix.Sockaddr
	b       []byte
	err     error
	writeFn func(fd uintptr) bool
}

func (s *osSend) WritePacket(b []byte, dst netip.AddrPort) error {
	if dst != s.dst || s.sa == nil {
		s.dst, s.sa = dst, sockaddr(dst, s.ifindex)
	}
	s.b = b
	if err := s.rc.Write(s.writeFn); err != nil {
		return err
	}
	err := s.err
	s.b, s.err = nil, nil
	return err
}

// write is called by RawConn.Write; returning true means done, whatever
// the outcome, so Go's poller never waits for the socket to drain.
func (s *osSend) write(fd uintptr) bool {
	s.err = unix.Sendto(int(fd), s.b, unix.MSG_DONTWAIT, s.sa)
	return true
}

// sockaddr converts a destination; a link-local IPv6 one takes the
// session's interface as its scope.
func sockaddr(dst netip.AddrPort, ifindex int) unix.Sockaddr {
	a := dst.Addr()
	if a.Is4() || a.Is4In6() {
		return &unix.SockaddrInet4{Port: int(dst.Port()), Addr: a.Unmap().As4()}
	}
	sa := &unix.SockaddrInet6{Port: int(dst.Port()), Addr: a.As16()}
	if a.IsLinkLocalUnicast() || a.IsLinkLocalMulticast() {
		sa.ZoneId = uint32(ifindex)
	}
	return sa
}

func (s *osSend) LocalPort() uint16 { return s.port }
func (s *osSend) Close() error      { return s.c.Close() }

// InterfaceIndex returns the index of the named interface.
func (n OSNetwork) InterfaceIndex(name string) (int, error) {
	var ifi *net.Interface
	err := n.in(func() (err error) {
		ifi, err = net.InterfaceByName(name)
		return err
	})
	if err != nil {
		return 0, err
	}
	return ifi.Index, nil
}

package bfdnet

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
)

// memNet is an in-memory network of hosts, each with addresses on one
// link (interface "mem0", index 1). A datagram sent to an address goes to
// the listener of its host on the port, with TTL 255 unless the sender's
// host says otherwise, unless the pair is cut. In queued mode datagrams
// wait in one FIFO for a test driver; otherwise they go to the
// listeners' channels for their reader goroutines.
type memNet struct {
	mu     sync.Mutex
	queued bool
	q      []memPacket
	hosts  map[netip.Addr]*memHost
	cut    map[[2]netip.Addr]bool
	// echoCut drops a host's Echo packets (its peer no longer forwards).
	echoCut map[netip.Addr]bool
	// sent counts datagrams by sender address and source port.
	sent map[netip.AddrPort]int
	// closedPorts lists the source ports whose sockets were closed.
	closedPorts []uint16
	// held hosts read nothing: their datagrams stay queued (a process
	// with no CPU); queued mode only.
	held map[*memHost]bool
}

type memPacket struct {
	to     *memRecv
	toEcho *memEcho
	b      []byte
	info   PacketInfo
}

func newMemNet(queued bool) *memNet {
	return &memNet{queued: queued, hosts: map[netip.Addr]*memHost{}, cut: map[[2]netip.Addr]bool{},
		echoCut: map[netip.Addr]bool{}, sent: map[netip.AddrPort]int{}, held: map[*memHost]bool{}}
}

// host adds a host with the addresses.
func (n *memNet) host(addrs ...string) *memHost {
	h := &memHost{n: n, ttl: 255, recv: map[memPortKey]*memRecv{}, ports: map[uint16]bool{}}
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, a := range addrs {
		ip := netip.MustParseAddr(a)
		h.addrs = append(h.addrs, ip)
		n.hosts[ip] = h
	}
	return h
}

func (n *memNet) setCut(a, b netip.Addr, cut bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.cut[[2]netip.Addr{a, b}] = cut
	n.cut[[2]netip.Addr{b, a}] = cut
}

func (n *memNet) sentFrom(ap netip.AddrPort) int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.sent[ap]
}

// pop takes the oldest queued datagram for a host that is not held.
func (n *memNet) pop() (memPacket, bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	for i, p := range n.q {
		if (p.to != nil && n.held[p.to.h]) || (p.toEcho != nil && n.held[p.toEcho.h]) {
			continue
		}
		n.q = append(n.q[:i:i], n.q[i+1:]...)
		return p, true
	}
	return memPacket{}, false
}

// inject delivers raw bytes to dst as if from src with the TTL.
func (n *memNet) inject(src netip.AddrPort, dst netip.AddrPort, ttl int, b []byte) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.deliverLocked(src, dst, ttl, b)
}

func (n *memNet) deliverLocked(src, dst netip.AddrPort, ttl int, b []byte) error {
	n.sent[src]++
	if n.cut[[2]netip.Addr{src.Addr(), dst.Addr()}] {
		return nil
	}
	h := n.hosts[dst.Addr().WithZone("")]
	if h == nil {
		return nil
	}
	r := h.recv[memPortKey{familyOf(dst.Addr()), dst.Port()}]
	if r == nil {
		return nil // ICMP port unreachable, which UDP does not report here
	}
	p := memPacket{to: r, b: append([]byte(nil), b...),
		info: PacketInfo{Src: src, Dst: dst.Addr().WithZone(""), IfIndex: 1, TTL: ttl}}
	if n.queued {
		n.q = append(n.q, p)
		return nil
	}
	select {
	case r.ch <- p:
	default: // a full socket buffer drops
	}
	return nil
}

type memPortKey struct {
	f    Family
	port uint16
}

type memHost struct {
	n     *memNet
	addrs []netip.Addr
	ttl   int
	recv  map[memPortKey]*memRecv
	ports map[uint16]bool
}

func (h *memHost) addr(f Family) netip.Addr {
	for _, a := range h.addrs {
		if familyOf(a) == f {
			return a
		}
	}
	return netip.Addr{}
}

func (h *memHost) Listen(f Family, port uint16) (RecvConn, error) {
	h.n.mu.Lock()
	defer h.n.mu.Unlock()
	k := memPortKey{f, port}
	if h.recv[k] != nil {
		return nil, fmt.Errorf("listen %s port %d: %w", f, port, ErrPortInUse)
	}
	r := &memRecv{h: h, k: k, ch: make(chan memPacket, 4096), done: make(chan struct{})}
	h.recv[k] = r
	return r, nil
}

func (h *memHost) OpenSender(spec SenderSpec) (SendConn, error) {
	h.n.mu.Lock()
	defer h.n.mu.Unlock()
	if spec.Port < SourcePortMin {
		return nil, fmt.Errorf("source port %d below the RFC 5881 range", spec.Port)
	}
	if h.ports[spec.Port] {
		return nil, fmt.Errorf("port %d: %w", spec.Port, ErrPortInUse)
	}
	local := spec.Local
	if !local.IsValid() {
		local = h.addr(spec.Family)
	}
	h.ports[spec.Port] = true
	return &memSend{h: h, src: netip.AddrPortFrom(local, spec.Port)}, nil
}

func (h *memHost) OpenEcho(spec EchoSpec) (EchoConn, error) {
	return &memEcho{h: h, spec: spec, ch: make(chan memPacket, 64), done: make(chan struct{})}, nil
}

func (h *memHost) InterfaceIndex(name string) (int, error) {
	if name != "mem0" {
		return 0, fmt.Errorf("no interface %q", name)
	}
	return 1, nil
}

type memRecv struct {
	h    *memHost
	k    memPortKey
	ch   chan memPacket
	once sync.Once
	done chan struct{}
}

func (r *memRecv) ReadPacket(b []byte) (int, PacketInfo, error) {
	select {
	case p := <-r.ch:
		return copy(b, p.b), p.info, nil
	case <-r.done:
		return 0, PacketInfo{}, net.ErrClosed
	}
}

// Pending reports whether a datagram for r waits, in its channel or in
// the queue.
func (r *memRecv) Pending() bool {
	if len(r.ch) > 0 {
		return true
	}
	r.h.n.mu.Lock()
	defer r.h.n.mu.Unlock()
	for _, p := range r.h.n.q {
		if p.to == r {
			return true
		}
	}
	return false
}

func (r *memRecv) Close() error {
	r.once.Do(func() {
		r.h.n.mu.Lock()
		delete(r.h.recv, r.k)
		r.h.n.mu.Unlock()
		close(r.done)
	})
	return nil
}

type memSend struct {
	h      *memHost
	src    netip.AddrPort
	closed bool
}

var errMemClosed = errors.New("memnet: send on a closed socket")

func (s *memSend) WritePacket(b []byte, dst netip.AddrPort) error {
	s.h.n.mu.Lock()
	defer s.h.n.mu.Unlock()
	if s.closed {
		return errMemClosed
	}
	return s.h.n.deliverLocked(s.src, dst, s.h.ttl, b)
}

func (s *memSend) LocalPort() uint16 { return s.src.Port() }

func (s *memSend) Close() error {
	s.h.n.mu.Lock()
	defer s.h.n.mu.Unlock()
	if !s.closed {
		s.closed = true
		delete(s.h.ports, s.src.Port())
		s.h.n.closedPorts = append(s.h.n.closedPorts, s.src.Port())
	}
	return nil
}

// memEcho loops Echo packets back through the peer: they come back to
// ReadEcho from and to the sender's own address, with TTL 254, unless the
// link is cut or the peer's forwarding is (echoCut).
type memEcho struct {
	h    *memHost
	spec EchoSpec
	ch   chan memPacket
	once sync.Once
	done chan struct{}
}

func (e *memEcho) SendEcho(payload []byte) error {
	n := e.h.n
	n.mu.Lock()
	defer n.mu.Unlock()
	self := netip.AddrPortFrom(e.spec.Local, e.spec.Port)
	n.sent[self]++
	if n.cut[[2]netip.Addr{e.spec.Local, e.spec.Peer}] || n.echoCut[e.spec.Peer] {
		return nil
	}
	p := memPacket{toEcho: e, b: append([]byte(nil), payload...),
		info: PacketInfo{Src: self, Dst: e.spec.Local, IfIndex: 1, TTL: 254}}
	if n.queued {
		n.q = append(n.q, p)
		return nil
	}
	select {
	case e.ch <- p:
	default:
	}
	return nil
}

func (e *memEcho) ReadEcho(b []byte) (int, PacketInfo, error) {
	select {
	case p := <-e.ch:
		return copy(b, p.b), p.info, nil
	case <-e.done:
		return 0, PacketInfo{}, net.ErrClosed
	}
}

func (e *memEcho) Close() error {
	e.once.Do(func() { close(e.done) })
	return nil
}

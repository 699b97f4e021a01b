package bgpnet

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"syscall"
	"time"

	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// Listeners owns the listening sockets of a speaker's peers: one per
// (ListenPort, VRF), opened by the first Register for it and closed when its
// last Registration closes. The zero value is not usable; call
// NewListeners. Its methods are safe for concurrent use.
type Listeners struct {
	mu     sync.Mutex
	byKey  map[listenKey]*listener
	closed bool
}

// NewListeners returns an empty set of listeners.
func NewListeners() *Listeners { return &Listeners{byKey: map[listenKey]*listener{}} }

type listenKey struct {
	port uint16
	vrf  string
}

func (k listenKey) String() string {
	if k.vrf == "" {
		return fmt.Sprintf("port %d", k.port)
	}
	return fmt.Sprintf("port %d in %s", k.port, k.vrf)
}

// listener is one listening socket and its peer table.
type listener struct {
	key    listenKey
	ln     *net.TCPListener
	raw    syscall.RawConn
	family int
	done   chan struct{} // closed when the accept loop has returned

	// mu guards regs, the MD5 keys and the filter of the socket, and is
	// held while a connection is delivered, so no delivery for a
	// Registration happens after its Close returns.
	mu   sync.Mutex
	regs []*Registration
}

// Registration is one peer's place on a listener. Close it when the peer
// goes away or its Options change (then Register again).
type Registration struct {
	ls      *Listeners
	l       *listener
	opts    Options
	addr    netip.Addr // o.Peer without zone, IPv4 unmapped
	ifindex int        // the zone of a link-local o.Peer as an index
	deliver func(*Conn)
	closed  bool // guarded by ls.mu
}

// Options returns the options the registration was made with.
func (r *Registration) Options() Options { return r.opts }

// Register makes the listener of (o.ListenPort, o.VRF) accept the
// connections that come from o.Peer, opening the listener if it is the
// first peer on it, and hands each to deliver as an established *Conn.
//
// From the moment Register returns: the peer's TCP MD5 key (o.Password) is
// on the listening socket, so a peer with a key and one without share it;
// the kernel drops every segment to the listener from an address no
// registration has and, with o.MinTTL, from the peer when it arrives with a
// lower TTL (the SYN gets no answer); a connection that is accepted anyway
// (a link-local address on another interface than o.Peer's zone, or one
// that raced a Close) is reset, never delivered. An accepted connection
// gets o.TTL and o.MinTTL before deliver sees it.
//
// deliver runs on the listener's goroutine and must not block (send the
// connection to the peer's actor and return) nor call Register or Close;
// it is never called for a Registration after its Close has returned, and
// the connection is the callee's to close.
//
// Register fails with ErrDuplicatePeer when the listener already has
// o.Peer, with ErrPermission (port 179 without CAP_NET_BIND_SERVICE) or
// ErrAddressInUse when the listener cannot be opened, and with
// ErrTooManyPeers past 340 IPv6 or 681 IPv4 GTSM peers on one listener
// (the kernel's 4096 instructions of classic BPF).
func (ls *Listeners) Register(o Options, deliver func(*Conn)) (*Registration, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	if deliver == nil {
		return nil, &Error{Op: "register", Addr: o.Peer.String(), Kind: ErrInvalidOptions, Hint: "no deliver function"}
	}
	ifindex, err := zoneIndex(o.Peer)
	if err != nil {
		return nil, err
	}
	r := &Registration{ls: ls, opts: o, addr: o.Peer.Unmap().WithZone(""), ifindex: ifindex, deliver: deliver}
	key := listenKey{port: o.listenPort(), vrf: o.VRF}

	ls.mu.Lock()
	defer ls.mu.Unlock()
	if ls.closed {
		return nil, &Error{Op: "register", Addr: o.Peer.String(), Kind: ErrClosed}
	}
	l := ls.byKey[key]
	if l == nil {
		if l, err = openListener(key, r); err != nil {
			return nil, err
		}
		ls.byKey[key] = l
	} else if err := l.add(r); err != nil {
		return nil, err
	}
	r.l = l
	return r, nil
}

// Close removes the peer from its listener: its address leaves the filter
// and its MD5 key the socket (connections already delivered are not
// touched). The listener closes with its last registration. Close is
// idempotent.
func (r *Registration) Close() error {
	r.ls.mu.Lock()
	defer r.ls.mu.Unlock()
	if r.closed {
		return nil
	}
	r.closed = true
	l := r.l
	err := l.remove(r)
	if l.empty() {
		delete(r.ls.byKey, l.key)
		l.shutdown()
	}
	return err
}

// Close closes every listener; registrations are then closed too. It waits
// for the accept loops to return.
func (ls *Listeners) Close() error {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	ls.closed = true
	for k, l := range ls.byKey {
		l.mu.Lock()
		for _, r := range l.regs {
			r.closed = true
		}
		l.regs = nil
		l.mu.Unlock()
		l.shutdown()
		delete(ls.byKey, k)
	}
	return nil
}

// zoneIndex resolves the zone of a link-local address to an interface
// index (0 for an address without zone).
func zoneIndex(a netip.Addr) (int, error) {
	z := a.Zone()
	if z == "" {
		return 0, nil
	}
	if n, err := strconv.Atoi(z); err == nil && n > 0 {
		return n, nil
	}
	ifi, err := net.InterfaceByName(z)
	if err != nil {
		return 0, &Error{Op: "register", Addr: a.String(), Kind: ErrNoDevice, Hint: fmt.Sprintf("no interface %q on this node", z), Err: err}
	}
	return ifi.Index, nil
}

// openListener opens the socket of key with first as its only peer: dual-
// stack when the node has IPv6, bound to the VRF device, sending with TTL
// 255 (the SYN-ACK to a GTSM peer must arrive with 255 too), and with the
// peer's MD5 key and filter in place before it listens, so no SYN finds it
// deaf to the peer.
//
// SO_REUSEPORT is what lets a socket bound to a device and an unbound one
// listen on the same port (without it the kernel refuses the second bind
// with EADDRINUSE). Its cost: another process of the same user that
// listens on the same port and device with SO_REUSEPORT too (FRR's bgpd
// sets it) shares the incoming connections instead of failing; bgpd runs
// as user frr, so it fails as it should.
func openListener(key listenKey, first *Registration) (*listener, error) {
	l := &listener{key: key, regs: []*Registration{first}, done: make(chan struct{})}
	filter, err := l.compileFilter()
	if err != nil {
		return nil, registerError(first, l, err)
	}
	lc := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
		return control(c, func(fd int) error {
			var err error
			if l.family, err = unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_DOMAIN); err != nil {
				return wrapSyscall("getsockopt SO_DOMAIN", err)
			}
			if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEPORT, 1); err != nil {
				return wrapSyscall("setsockopt SO_REUSEPORT", err)
			}
			if err := bindDevice(fd, key.vrf); err != nil {
				return err
			}
			if err := setTTL(fd, l.family, MaxTTL, 0); err != nil {
				return err
			}
			if l.family == unix.AF_INET && first.addr.Is6() {
				return noIPv6(first, l)
			}
			if first.opts.Password != "" {
				if err := setMD5(fd, l.family, first.addr, first.opts.Password); err != nil {
					return err
				}
			}
			return attachFilter(fd, filter)
		})
	}}
	ln, err := lc.Listen(context.Background(), "tcp", fmt.Sprintf(":%d", key.port))
	if err != nil {
		var e *Error
		if errors.As(err, &e) {
			return nil, e // from setMD5
		}
		return nil, listenError(key.port, key.vrf, err)
	}
	l.ln = ln.(*net.TCPListener)
	if l.raw, err = l.ln.SyscallConn(); err != nil {
		_ = l.ln.Close()
		return nil, listenError(key.port, key.vrf, err)
	}
	go l.acceptLoop()
	return l, nil
}

func rawFilter(raw []bpf.RawInstruction) []unix.SockFilter {
	out := make([]unix.SockFilter, len(raw))
	for i, r := range raw {
		out[i] = unix.SockFilter{Code: r.Op, Jt: r.Jt, Jf: r.Jf, K: r.K}
	}
	return out
}

// add puts r in the table: its MD5 key first, then the filter that lets
// its segments in.
func (l *listener) add(r *Registration) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	fail := func(hint string, err error) error {
		return &Error{Op: "register", Addr: r.opts.Peer.String() + " on " + l.key.String(), Kind: ErrDuplicatePeer, Hint: hint, Err: err}
	}
	if l.family == unix.AF_INET && r.addr.Is6() {
		return noIPv6(r, l)
	}
	for _, o := range l.regs {
		if o.addr != r.addr {
			continue
		}
		if o.ifindex == r.ifindex || o.ifindex == 0 || r.ifindex == 0 {
			return fail("the listener already has a registration for this address", nil)
		}
		// The same link-local address on two interfaces: the kernel keys
		// TCP MD5 by address alone, so they must agree on the password.
		if o.opts.Password != r.opts.Password {
			return fail("the same link-local address on two interfaces with different TCP MD5 passwords (the kernel keys them by address alone)", nil)
		}
	}
	if r.opts.Password != "" {
		if err := control(l.raw, func(fd int) error { return setMD5(fd, l.family, r.addr, r.opts.Password) }); err != nil {
			return registerError(r, l, err)
		}
	}
	l.regs = append(l.regs, r)
	if err := l.refilter(); err != nil {
		l.regs = l.regs[:len(l.regs)-1]
		return errors.Join(registerError(r, l, err), l.dropKey(r))
	}
	return nil
}

// remove takes r out of the table: the filter first, so no new SYN from
// the peer is answered once its key is gone.
func (l *listener) remove(r *Registration) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	for i, o := range l.regs {
		if o == r {
			l.regs = append(l.regs[:i], l.regs[i+1:]...)
			break
		}
	}
	if len(l.regs) == 0 {
		return l.dropKey(r) // the socket closes next: its filter no longer matters
	}
	return errors.Join(l.refilter(), l.dropKey(r))
}

// dropKey removes r's MD5 key unless another registration of the same
// address still uses it.
func (l *listener) dropKey(r *Registration) error {
	if r.opts.Password == "" {
		return nil
	}
	for _, o := range l.regs {
		if o.addr == r.addr {
			return nil
		}
	}
	return control(l.raw, func(fd int) error { return setMD5(fd, l.family, r.addr, "") })
}

func (l *listener) empty() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.regs) == 0
}

// refilter installs the filter of the current table.
func (l *listener) refilter() error {
	filter, err := l.compileFilter()
	if err != nil {
		return err
	}
	return control(l.raw, func(fd int) error { return attachFilter(fd, filter) })
}

// compileFilter builds the kernel program of the current table.
func (l *listener) compileFilter() ([]unix.SockFilter, error) {
	rows := make([]filterPeer, len(l.regs))
	for i, r := range l.regs {
		rows[i] = filterPeer{addr: r.addr, minTTL: r.opts.MinTTL}
	}
	prog, err := buildFilter(rows, skfNetOff)
	if err != nil {
		return nil, err
	}
	raw, err := bpf.Assemble(prog)
	if err != nil {
		return nil, err
	}
	return rawFilter(raw), nil
}

// shutdown closes the socket and waits for the accept loop to return.
// The caller must not hold l.mu.
func (l *listener) shutdown() {
	_ = l.ln.Close()
	<-l.done
}

// noIPv6 is the error for an IPv6 peer on a listener that could only open
// an IPv4 socket.
func noIPv6(r *Registration, l *listener) error {
	return &Error{Op: "register", Addr: r.opts.Peer.String() + " on " + l.key.String(), Kind: ErrInvalidOptions,
		Hint: "IPv6 is disabled on this node: the listener is IPv4 only"}
}

func registerError(r *Registration, l *listener, err error) error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	kind := ErrSocket
	if errors.Is(err, ErrTooManyPeers) {
		kind = ErrTooManyPeers
	}
	return &Error{Op: "register", Addr: r.opts.Peer.String() + " on " + l.key.String(), Kind: kind, Err: err}
}

// acceptLoop accepts until the socket is closed. A failing Accept (out of
// file descriptors, a connection aborted before it was accepted) is retried
// after a pause that grows from 5 ms to 1 s, as net/http's server does.
func (l *listener) acceptLoop() {
	defer close(l.done)
	var pause time.Duration
	for {
		c, err := l.ln.AcceptTCP()
		if errors.Is(err, net.ErrClosed) {
			return
		}
		if err != nil {
			pause = min(max(2*pause, 5*time.Millisecond), time.Second)
			time.Sleep(pause)
			continue
		}
		pause = 0
		l.handle(c)
	}
}

// handle matches an accepted connection to its registration, applies the
// peer's TTL settings and delivers it, or resets it.
func (l *listener) handle(c *net.TCPConn) {
	raw, err := c.SyscallConn()
	if err != nil {
		_ = c.Close()
		return
	}
	var addr netip.Addr
	var ifindex int
	if err := control(raw, func(fd int) error {
		var err error
		addr, _, ifindex, err = peerName(fd)
		return err
	}); err != nil {
		_ = c.Close()
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	r := l.match(addr, ifindex)
	if r == nil {
		refuse(c, raw)
		return
	}
	if err := control(raw, func(fd int) error {
		return setTTL(fd, l.family, r.opts.sendTTL(), int(r.opts.MinTTL))
	}); err != nil {
		refuse(c, raw)
		return
	}
	r.deliver(newConn(c, l.key.vrf, r.opts.Peer.Zone()))
}

// match finds the registration of a remote address: the same address and,
// for a link-local one, the same interface.
func (l *listener) match(addr netip.Addr, ifindex int) *Registration {
	for _, r := range l.regs {
		if r.addr == addr && (!addr.IsLinkLocalUnicast() || r.ifindex == ifindex) {
			return r
		}
	}
	return nil
}

// refuse closes an accepted connection with a reset.
func refuse(c *net.TCPConn, raw syscall.RawConn) {
	_ = control(raw, resetOnClose)
	_ = c.Close()
}

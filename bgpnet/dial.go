package bgpnet

import (
	"context"
	"net"
	"net/netip"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Conn is an established TCP connection to or from a peer. It is a
// *net.TCPConn (read, write, close, deadlines) with its addresses as
// netip values; a link-local address carries the zone of the peer's
// Options.Peer (the same link on both ends).
type Conn struct {
	*net.TCPConn
	Local, Remote netip.AddrPort
	// vrf is the device the socket is bound to, for NextHops.
	vrf string
}

// newConn wraps c. Link-local addresses get zone, the interface named in
// the peer's options: Go's own zone names come from a process-wide cache
// of one network namespace's interfaces, which a socket made in another
// namespace (the tests') does not match.
func newConn(c *net.TCPConn, vrf, zone string) *Conn {
	return &Conn{TCPConn: c, Local: addrPortOf(c.LocalAddr(), zone), Remote: addrPortOf(c.RemoteAddr(), zone), vrf: vrf}
}

func addrPortOf(a net.Addr, zone string) netip.AddrPort {
	ta, ok := a.(*net.TCPAddr)
	if !ok {
		return netip.AddrPort{}
	}
	ap := ta.AddrPort()
	addr := ap.Addr().Unmap()
	if addr.IsLinkLocalUnicast() && addr.Is6() {
		addr = addr.WithZone(zone)
	} else {
		addr = addr.WithZone("")
	}
	return netip.AddrPortFrom(addr, ap.Port())
}

// Dial opens a TCP connection to the peer with o's settings and returns it
// once it is established. In order, before the SYN leaves: the socket is
// bound to o.VRF (SO_BINDTODEVICE), the MD5 key is installed for o.Peer,
// the TTL and minimum TTL are set, and the socket is bound to o.Source.
//
// ctx bounds the attempt: without a deadline the kernel gives up after its
// SYN retries (net.ipv4.tcp_syn_retries, about two minutes by default). The
// peer actor passes a context it cancels when the peer's state machine
// abandons the dial. Errors are *Error: ErrRefused, ErrTimeout (whose text
// says that a TCP MD5 or GTSM mismatch looks the same), ErrUnreachable,
// ErrSourceAddress, ErrNoDevice, ErrPermission, ErrInvalidOptions,
// ErrMD5Unsupported, context.Canceled or ErrSocket.
func Dial(ctx context.Context, o Options) (*Conn, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	family, network := unix.AF_INET6, "tcp6"
	if o.Peer.Is4() {
		family, network = unix.AF_INET, "tcp4"
	}
	d := net.Dialer{
		Control: func(_, _ string, c syscall.RawConn) error {
			return control(c, func(fd int) error { return prepareDial(fd, family, o) })
		},
	}
	if o.Source.IsValid() {
		d.LocalAddr = net.TCPAddrFromAddrPort(netip.AddrPortFrom(o.Source, 0))
	}
	start := time.Now()
	c, err := d.DialContext(ctx, network, netip.AddrPortFrom(o.Peer, o.peerPort()).String())
	if err != nil {
		return nil, dialError(o, time.Since(start), err)
	}
	return newConn(c.(*net.TCPConn), o.VRF, o.Peer.Zone()), nil
}

// prepareDial sets a fresh socket up for o before it is bound and
// connected.
func prepareDial(fd, family int, o Options) error {
	if err := bindDevice(fd, o.VRF); err != nil {
		return err
	}
	if o.Password != "" {
		if err := setMD5(fd, family, o.Peer, o.Password); err != nil {
			return err
		}
	}
	return setTTL(fd, family, o.sendTTL(), int(o.MinTTL))
}

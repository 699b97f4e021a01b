package bgpnet

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"syscall"
	"time"
)

// Sentinel errors: every error this package returns wraps one of them (or
// context.Canceled), so a caller can tell with errors.Is what went wrong and
// what a user can do about it. The cause (a syscall.Errno, a net.OpError)
// is wrapped too.
var (
	// ErrInvalidOptions: Options that Dial or Register cannot use.
	ErrInvalidOptions = errors.New("invalid options")
	// ErrRefused: the peer answered the SYN with a reset.
	ErrRefused = errors.New("connection refused")
	// ErrTimeout: no answer in time. With a TCP MD5 password, or GTSM, a
	// mismatch looks exactly like this: the kernel drops segments whose
	// signature or TTL is wrong without a word.
	ErrTimeout = errors.New("timed out")
	// ErrUnreachable: no route to the peer (in the VRF, or through the
	// bound device).
	ErrUnreachable = errors.New("peer unreachable")
	// ErrPermission: the kernel refused for want of a privilege (a port
	// below 1024 without CAP_NET_BIND_SERVICE, SO_BINDTODEVICE without
	// CAP_NET_RAW) or a firewall rule.
	ErrPermission = errors.New("permission denied")
	// ErrSourceAddress: the source address is not configured on this node.
	ErrSourceAddress = errors.New("source address not available")
	// ErrAddressInUse: another socket already listens on the port.
	ErrAddressInUse = errors.New("address in use")
	// ErrNoDevice: the VRF (or interface) does not exist.
	ErrNoDevice = errors.New("no such device")
	// ErrMD5Unsupported: the kernel has no TCP MD5 (CONFIG_TCP_MD5SIG).
	ErrMD5Unsupported = errors.New("TCP MD5 signatures not supported by the kernel")
	// ErrDuplicatePeer: a listener already has a registration for the
	// address.
	ErrDuplicatePeer = errors.New("peer already registered")
	// ErrTooManyPeers: a listener's filter program would exceed the
	// kernel's limit.
	ErrTooManyPeers = errors.New("too many peers on one listener")
	// ErrClosed: the Listeners or Unnumbered was closed.
	ErrClosed = errors.New("closed")
	// ErrNoNeighbour: no neighbour answered on the interface.
	ErrNoNeighbour = errors.New("no neighbour found")
	// ErrAmbiguousNeighbour: more than one neighbour answered on an
	// interface that should be a point-to-point link.
	ErrAmbiguousNeighbour = errors.New("more than one neighbour")
	// ErrSocket: any other failure of a socket call.
	ErrSocket = errors.New("socket error")
)

// Error is what Dial, Listeners and Unnumbered return: the operation, what
// it was about, the sentinel (Kind), a hint a user can act on and the cause.
// errors.Is matches both Kind and the cause.
type Error struct {
	Op   string // "dial", "listen", "register", "options", "unnumbered", ...
	Addr string // the peer, port or interface the operation was about
	Kind error  // a sentinel of this package, or context.Canceled
	Hint string // what it likely means, for a user; may be empty
	Err  error  // the cause; may be nil
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("bgpnet: ")
	b.WriteString(e.Op)
	if e.Addr != "" {
		b.WriteString(" ")
		b.WriteString(e.Addr)
	}
	if e.Kind != nil {
		b.WriteString(": ")
		b.WriteString(e.Kind.Error())
	}
	if e.Hint != "" {
		b.WriteString(": ")
		b.WriteString(e.Hint)
	}
	if e.Err != nil {
		b.WriteString(" (")
		b.WriteString(e.Err.Error())
		b.WriteString(")")
	}
	return b.String()
}

// Unwrap returns the sentinel and the cause.
func (e *Error) Unwrap() []error {
	var out []error
	if e.Kind != nil {
		out = append(out, e.Kind)
	}
	if e.Err != nil {
		out = append(out, e.Err)
	}
	return out
}

// dialError turns the failure of a dial to o, after waiting waited, into an
// Error a user can act on.
func dialError(o Options, waited time.Duration, cause error) *Error {
	e := &Error{Op: "dial", Addr: dialDescription(o), Err: cause}
	var errno syscall.Errno
	errors.As(cause, &errno)
	var ne net.Error
	isTimeout := errors.Is(cause, context.DeadlineExceeded) || errno == syscall.ETIMEDOUT ||
		(errors.As(cause, &ne) && ne.Timeout())
	switch {
	case errors.Is(cause, ErrInvalidOptions), errors.Is(cause, ErrMD5Unsupported):
		var inner *Error
		if errors.As(cause, &inner) {
			return inner
		}
		e.Kind = ErrInvalidOptions
	case errors.Is(cause, context.Canceled):
		e.Kind = context.Canceled
		e.Hint = "the dial was abandoned"
	case isTimeout:
		e.Kind = ErrTimeout
		e.Hint = timeoutHint(o, waited)
	case errno == syscall.ECONNREFUSED:
		e.Kind = ErrRefused
		e.Hint = fmt.Sprintf("nothing listens on port %d at the peer, or it refuses connections from this address (is this node configured as its neighbour?)", o.peerPort())
	case errno == syscall.ECONNRESET:
		e.Kind = ErrRefused
		e.Hint = "the peer reset the connection as soon as it was set up: it does not take this address for one of its neighbours"
	case errno == syscall.ENETUNREACH, errno == syscall.EHOSTUNREACH:
		e.Kind = ErrUnreachable
		e.Hint = "no route to the peer"
		if o.VRF != "" {
			e.Hint += " through " + o.VRF
		}
		if errno == syscall.EHOSTUNREACH {
			e.Hint = "the peer does not answer neighbour discovery, or a router or firewall on the way rejects the connection"
		}
	case errno == syscall.EADDRNOTAVAIL:
		e.Kind = ErrSourceAddress
		e.Hint = "the source address is not configured on this node"
		if o.Source.IsValid() {
			e.Hint = fmt.Sprintf("source address %s is not configured on this node", o.Source)
		}
		if o.VRF != "" {
			e.Hint += " (in " + o.VRF + ")"
		}
	case errno == syscall.ENODEV:
		e.Kind = ErrNoDevice
		e.Hint = fmt.Sprintf("no device %q on this node", o.VRF)
		if o.Peer.Zone() != "" && o.VRF == "" {
			e.Hint = fmt.Sprintf("no interface %q on this node", o.Peer.Zone())
		}
	case errno == syscall.EACCES, errno == syscall.EPERM:
		e.Kind = ErrPermission
		e.Hint = "a firewall rule on this node rejects the connection"
		if o.VRF != "" {
			e.Hint = "binding to a device needs CAP_NET_RAW, or a firewall rule on this node rejects the connection"
		}
	default:
		e.Kind = ErrSocket
	}
	return e
}

// timeoutHint says why a dial may have had no answer, naming the settings
// of o that make a silent drop likely.
func timeoutHint(o Options, waited time.Duration) string {
	var b strings.Builder
	b.WriteString("no answer from the peer")
	if waited > 0 {
		fmt.Fprintf(&b, " within %v", waited.Round(time.Millisecond))
	}
	if o.Password != "" {
		b.WriteString("; a TCP MD5 password is set, and a password that differs from the peer's (or a peer with none) looks exactly like this: the kernel drops segments whose signature does not match")
	} else {
		b.WriteString("; the peer may be down, a firewall may drop the connection, or the peer may expect a TCP MD5 password (it then drops unsigned segments)")
	}
	if o.MinTTL > 0 {
		fmt.Fprintf(&b, "; GTSM is on: segments from the peer arriving with a TTL below %d are dropped, so the peer must send with TTL 255 (FRR: neighbor ttl-security hops 1)", o.MinTTL)
	}
	return b.String()
}

func dialDescription(o Options) string {
	s := netip.AddrPortFrom(o.Peer, o.peerPort()).String()
	if o.Source.IsValid() {
		s += " from " + o.Source.String()
	}
	if o.VRF != "" {
		s += " in " + o.VRF
	}
	return s
}

// listenError turns a failure to open a listener into an Error.
func listenError(port uint16, vrf string, cause error) *Error {
	addr := fmt.Sprintf("port %d", port)
	if vrf != "" {
		addr += " in " + vrf
	}
	e := &Error{Op: "listen", Addr: addr, Err: cause}
	var errno syscall.Errno
	errors.As(cause, &errno)
	switch errno {
	case syscall.EACCES, syscall.EPERM:
		e.Kind = ErrPermission
		if port < 1024 {
			e.Hint = fmt.Sprintf("port %d needs CAP_NET_BIND_SERVICE (or net.ipv4.ip_unprivileged_port_start <= %d); give the speaker the capability or listen on a port above 1023", port, port)
		} else {
			e.Hint = "binding to a device needs CAP_NET_RAW"
		}
	case syscall.EADDRINUSE:
		e.Kind = ErrAddressInUse
		e.Hint = fmt.Sprintf("another process listens on port %d (another BGP daemon on this node?)", port)
	case syscall.ENODEV:
		e.Kind = ErrNoDevice
		e.Hint = fmt.Sprintf("no device %q on this node", vrf)
	case syscall.ENOPROTOOPT:
		e.Kind = ErrMD5Unsupported
	default:
		e.Kind = ErrSocket
	}
	return e
}

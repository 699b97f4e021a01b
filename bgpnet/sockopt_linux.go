package bgpnet

import (
	"errors"
	"net/netip"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// control runs f on the socket behind c and returns the first error.
func control(c syscall.RawConn, f func(fd int) error) error {
	var ferr error
	if err := c.Control(func(fd uintptr) { ferr = f(int(fd)) }); err != nil {
		return err
	}
	return ferr
}

// bindDevice binds the socket to a device (a VRF or an interface), so it
// only sends through it and only receives what arrives on it.
func bindDevice(fd int, dev string) error {
	if dev == "" {
		return nil
	}
	return wrapSyscall("setsockopt SO_BINDTODEVICE", unix.BindToDevice(fd, dev))
}

// setTTL sets the TTL every segment is sent with and, when minTTL > 0, the
// lowest TTL a received segment may arrive with. On an AF_INET6 socket both
// the IPv6 and the IPv4 options are set: a dual-stack socket carries IPv4
// peers' segments (as IPv4-mapped addresses) and the kernel checks those
// against the IPv4 ones.
func setTTL(fd, family, ttl, minTTL int) error {
	type opt struct {
		level, name int
		what        string
		value       int
	}
	opts := []opt{{unix.IPPROTO_IP, unix.IP_TTL, "IP_TTL", ttl}}
	if minTTL > 0 {
		opts = append(opts, opt{unix.IPPROTO_IP, unix.IP_MINTTL, "IP_MINTTL", minTTL})
	}
	if family == unix.AF_INET6 {
		opts = append(opts, opt{unix.IPPROTO_IPV6, unix.IPV6_UNICAST_HOPS, "IPV6_UNICAST_HOPS", ttl})
		if minTTL > 0 {
			opts = append(opts, opt{unix.IPPROTO_IPV6, unix.IPV6_MINHOPCOUNT, "IPV6_MINHOPCOUNT", minTTL})
		}
	}
	for _, o := range opts {
		if err := unix.SetsockoptInt(fd, o.level, o.name, o.value); err != nil {
			return wrapSyscall("setsockopt "+o.what, err)
		}
	}
	return nil
}

// setMD5 installs the TCP MD5 key for the peer address on the socket, or
// removes the address's key when key is empty. family is the socket's: an
// IPv4 peer of an AF_INET6 (dual-stack) socket is given to the kernel as an
// IPv4-mapped address, which it files as an IPv4 key. TCP_MD5SIG_EXT with a
// full-length prefix is tried first, then TCP_MD5SIG (kernels before 4.13);
// both name exactly one address. No ifindex is given: a key then applies in
// any L3 domain, and the socket's SO_BINDTODEVICE already confines it.
func setMD5(fd, family int, peer netip.Addr, key string) error {
	sig := unix.TCPMD5Sig{Keylen: uint16(len(key))}
	copy(sig.Key[:], key)
	putSockaddr(&sig.Addr, family, peer)
	sig.Flags = unix.TCP_MD5SIG_FLAG_PREFIX
	if peer.Unmap().Is4() { // also on an AF_INET6 socket, where the address is mapped
		sig.Prefixlen = 32
	} else {
		sig.Prefixlen = 128
	}
	err := unix.SetsockoptTCPMD5Sig(fd, unix.IPPROTO_TCP, unix.TCP_MD5SIG_EXT, &sig)
	if errors.Is(err, unix.ENOPROTOOPT) {
		sig.Flags, sig.Prefixlen = 0, 0
		err = unix.SetsockoptTCPMD5Sig(fd, unix.IPPROTO_TCP, unix.TCP_MD5SIG, &sig)
	}
	switch {
	case err == nil:
		return nil
	case key == "" && errors.Is(err, unix.ENOENT):
		return nil // there was no key to remove
	case errors.Is(err, unix.ENOPROTOOPT):
		return &Error{Op: "set TCP MD5 key", Addr: peer.String(), Kind: ErrMD5Unsupported,
			Hint: "the kernel was built without CONFIG_TCP_MD5SIG; remove the password or use another kernel", Err: err}
	}
	return wrapSyscall("setsockopt TCP_MD5SIG_EXT", err)
}

// putSockaddr writes a sockaddr_in or sockaddr_in6 (port 0) into ss, in the
// kernel's layout: family in host order, then the address in network order.
func putSockaddr(ss *unix.SockaddrStorage, family int, a netip.Addr) {
	ss.Family = uint16(family)
	var raw []byte
	var at int
	if family == unix.AF_INET {
		b := a.Unmap().As4()
		raw, at = b[:], 2 // after sin_port
	} else {
		b := a.As16()     // IPv4 comes out mapped
		raw, at = b[:], 6 // after sin6_port and sin6_flowinfo
	}
	for i, c := range raw {
		ss.Data[at+i] = c
	}
}

// peerName is the remote address of a connected socket, IPv4-mapped
// addresses unmapped, with the interface index for a link-local one.
func peerName(fd int) (netip.Addr, uint16, int, error) {
	sa, err := unix.Getpeername(fd)
	if err != nil {
		return netip.Addr{}, 0, 0, wrapSyscall("getpeername", err)
	}
	switch sa := sa.(type) {
	case *unix.SockaddrInet4:
		return netip.AddrFrom4(sa.Addr), uint16(sa.Port), 0, nil
	case *unix.SockaddrInet6:
		a := netip.AddrFrom16(sa.Addr)
		if a.Is4In6() {
			return a.Unmap(), uint16(sa.Port), 0, nil
		}
		return a, uint16(sa.Port), int(sa.ZoneId), nil
	}
	return netip.Addr{}, 0, 0, wrapSyscall("getpeername", unix.EAFNOSUPPORT)
}

// resetOnClose makes Close send a RST rather than a FIN (SO_LINGER 0): a
// connection refused after accept is torn down at once, without TIME_WAIT.
func resetOnClose(fd int) error {
	return wrapSyscall("setsockopt SO_LINGER", unix.SetsockoptLinger(fd, unix.SOL_SOCKET, unix.SO_LINGER, &unix.Linger{Onoff: 1, Linger: 0}))
}

// attachFilter replaces the socket's classic BPF filter.
func attachFilter(fd int, prog []unix.SockFilter) error {
	fprog := unix.SockFprog{Len: uint16(len(prog)), Filter: &prog[0]}
	return wrapSyscall("setsockopt SO_ATTACH_FILTER", unix.SetsockoptSockFprog(fd, unix.SOL_SOCKET, unix.SO_ATTACH_FILTER, &fprog))
}

func wrapSyscall(call string, err error) error { return os.NewSyscallError(call, err) }

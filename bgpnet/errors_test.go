package bgpnet

import (
	"context"
	"errors"
	"net"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
)

// opError is what net.Dialer returns for a failed connect.
func opError(errno syscall.Errno) error {
	return &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", errno)}
}

type timeoutError struct{}

func (timeoutError) Error() string   { return "i/o timeout" }
func (timeoutError) Timeout() bool   { return true }
func (timeoutError) Temporary() bool { return true }

func TestDialErrors(t *testing.T) {
	peer := Options{Peer: mustAddr("192.0.2.1"), Port: 1790}
	withPassword := peer
	withPassword.Password = "s3cret"
	gtsm := peer
	gtsm.MinTTL = 254
	sourced := peer
	sourced.Source, sourced.VRF = mustAddr("192.0.2.9"), "red"
	for _, c := range []struct {
		name      string
		o         Options
		waited    time.Duration
		cause     error
		kind      error
		fragments []string
	}{
		{"refused", peer, 0, opError(syscall.ECONNREFUSED), ErrRefused,
			[]string{"bgpnet: dial 192.0.2.1:1790: connection refused", "nothing listens on port 1790"}},
		{"reset at once", peer, 0, opError(syscall.ECONNRESET), ErrRefused,
			[]string{"does not take this address for one of its neighbours"}},
		{"timeout with a password", withPassword, 30 * time.Second, &net.OpError{Op: "dial", Err: timeoutError{}}, ErrTimeout,
			[]string{"no answer from the peer within 30s", "TCP MD5 password is set", "does not match"}},
		{"timeout without a password", peer, time.Second, context.DeadlineExceeded, ErrTimeout,
			[]string{"may expect a TCP MD5 password"}},
		{"kernel gave up on the SYN", peer, 0, opError(syscall.ETIMEDOUT), ErrTimeout, []string{"no answer from the peer;"}},
		{"timeout with GTSM", gtsm, time.Second, context.DeadlineExceeded, ErrTimeout,
			[]string{"GTSM is on", "below 254", "ttl-security hops 1"}},
		{"abandoned", peer, 0, &net.OpError{Op: "dial", Err: context.Canceled}, context.Canceled, []string{"abandoned"}},
		{"no route", sourced, 0, opError(syscall.ENETUNREACH), ErrUnreachable,
			[]string{"dial 192.0.2.1:1790 from 192.0.2.9 in red", "no route to the peer through red"}},
		{"host unreachable", peer, 0, opError(syscall.EHOSTUNREACH), ErrUnreachable, []string{"neighbour discovery"}},
		{"source not here", sourced, 0, opError(syscall.EADDRNOTAVAIL), ErrSourceAddress,
			[]string{"192.0.2.9 is not configured on this node (in red)"}},
		{"no VRF", sourced, 0, opError(syscall.ENODEV), ErrNoDevice, []string{`no device "red"`}},
		{"firewall", peer, 0, opError(syscall.EPERM), ErrPermission, []string{"firewall"}},
		{"bind to device denied", sourced, 0, opError(syscall.EPERM), ErrPermission, []string{"CAP_NET_RAW"}},
		{"something else", peer, 0, opError(syscall.EMFILE), ErrSocket, []string{"too many open files"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := dialError(c.o, c.waited, c.cause)
			if !errors.Is(err, c.kind) {
				t.Fatalf("%v: want kind %v", err, c.kind)
			}
			if !errors.Is(err, c.cause) {
				t.Errorf("%v does not wrap its cause", err)
			}
			for _, f := range c.fragments {
				if !strings.Contains(err.Error(), f) {
					t.Errorf("%q does not say %q", err, f)
				}
			}
		})
	}
}

func TestListenErrors(t *testing.T) {
	for _, c := range []struct {
		name      string
		port      uint16
		vrf       string
		errno     syscall.Errno
		kind      error
		fragments []string
	}{
		{"port 179 without the capability", 179, "", syscall.EACCES, ErrPermission,
			[]string{"bgpnet: listen port 179: permission denied", "needs CAP_NET_BIND_SERVICE", "ip_unprivileged_port_start <= 179"}},
		{"device binding without the capability", 1790, "red", syscall.EPERM, ErrPermission,
			[]string{"listen port 1790 in red", "CAP_NET_RAW"}},
		{"port taken", 179, "", syscall.EADDRINUSE, ErrAddressInUse, []string{"another process listens on port 179"}},
		{"no VRF", 1790, "red", syscall.ENODEV, ErrNoDevice, []string{`no device "red"`}},
	} {
		t.Run(c.name, func(t *testing.T) {
			cause := &net.OpError{Op: "listen", Err: os.NewSyscallError("bind", c.errno)}
			err := listenError(c.port, c.vrf, cause)
			if !errors.Is(err, c.kind) || !errors.Is(err, c.errno) {
				t.Fatalf("%v: want kind %v wrapping %v", err, c.kind, c.errno)
			}
			for _, f := range c.fragments {
				if !strings.Contains(err.Error(), f) {
					t.Errorf("%q does not say %q", err, f)
				}
			}
		})
	}
}

//go:build !linux

package bfdnet

import (
	"errors"
	"net/netip"
)

// OSNetwork opens the kernel's sockets; only Linux is supported (the TTL
// and packet-information socket options and Echo's packet socket are
// Linux's).
type OSNetwork struct {
	ListenAddr4, ListenAddr6 netip.Addr
	NetNS                    string
}

var errUnsupported = errors.New("bfdnet: kernel sockets are implemented for Linux only")

// Listen fails: not Linux.
func (OSNetwork) Listen(Family, uint16) (RecvConn, error) { return nil, errUnsupported }

// OpenSender fails: not Linux.
func (OSNetwork) OpenSender(SenderSpec) (SendConn, error) { return nil, errUnsupported }

// OpenEcho fails: not Linux.
func (OSNetwork) OpenEcho(EchoSpec) (EchoConn, error) {
	return nil, errors.Join(ErrNoEcho, errUnsupported)
}

// InterfaceIndex fails: not Linux.
func (OSNetwork) InterfaceIndex(string) (int, error) { return 0, errUnsupported }

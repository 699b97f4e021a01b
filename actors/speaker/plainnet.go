package speaker

import (
	"context"
	"net"
	"net/netip"

	"github.com/heraldlb/herald/bgpwire/peer"
	"github.com/heraldlb/herald/config"
)

// plainNet dials with the standard library only: the address, port and
// source address of the BGPPeer, none of TCP MD5, GTSM or VRFs. Tests use
// it; the speaker uses bgpnet.
type plainNet struct{}

func (plainNet) Dial(ctx context.Context, p *config.Peer) (net.Conn, error) {
	var d net.Dialer
	if p.SourceAddress.IsValid() {
		d.LocalAddr = net.TCPAddrFromAddrPort(netip.AddrPortFrom(p.SourceAddress, 0))
	}
	return d.DialContext(ctx, "tcp", peerAddr(p))
}

func (plainNet) LocalAddrs(c net.Conn) peer.LocalAddrs {
	return peer.LocalAddrs{Transport: addrOf(c.LocalAddr())}
}

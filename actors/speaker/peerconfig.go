package speaker

import (
	"errors"
	"fmt"
	"net"

	"github.com/heraldlb/herald/api/v1beta2"
	"github.com/heraldlb/herald/bgpwire/peer"
	"github.com/heraldlb/herald/config"
)

// errNoRouterID: a peer without spec.routerID on a node without an IPv4
// InternalIP has no BGP identifier to send.
var errNoRouterID = errors.New("no BGP router ID")

// peerConfig is the BGP Peer's configuration for a compiled BGPPeer on this
// node. restarted says the speaker process has just started (the Restart
// State bit of graceful restart).
func (e *env) peerConfig(p *config.Peer, restarted bool) (peer.Config, error) {
	c := peer.Config{
		MyAS: p.MyASN, LocalAS: p.LocalASN, PeerAS: p.ASN,
		RouterID:    p.RouterID,
		HoldTime:    p.HoldTime,
		NoHoldTime:  p.HoldTime == 0,
		ConnectTime: p.ConnectTime,
		DualStack:   p.DualStackAddressFamily,
		// An eBGP peer more than one hop away gets no link-local next
		// hop; neither does one reached through a routed source address.
		Multihop:        p.EBGPMultiHop,
		GracefulRestart: p.EnableGracefulRestart,
		Restarted:       restarted && p.EnableGracefulRestart,
		RestartTime:     e.restartTime,
	}
	if p.HoldTime != 0 {
		c.KeepaliveTime = p.KeepaliveTime
	}
	switch p.DynamicASN {
	case v1beta2.InternalASNMode:
		c.DynamicAS = peer.DynamicInternal
	case v1beta2.ExternalASNMode:
		c.DynamicAS = peer.DynamicExternal
	}
	if !c.RouterID.IsValid() {
		if n, ok := e.inf.Node(e.node); ok {
			c.RouterID, _ = nodeAddresses(n)
		}
	}
	if !c.RouterID.IsValid() || !c.RouterID.Is4() {
		return c, fmt.Errorf("BGPPeer %s: %w: set spec.routerID, or give Node %s an IPv4 InternalIP", p.Name, errNoRouterID, e.node)
	}
	return c, c.Validate()
}

// peerAddr names a peer in logs and metric labels the way MetalLB does: its
// address and port, or its interface for an unnumbered session.
func peerAddr(p *config.Peer) string {
	if p.Interface != "" {
		return p.Interface
	}
	return net.JoinHostPort(p.Address.String(), fmt.Sprint(p.Port))
}

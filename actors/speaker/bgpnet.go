package speaker

import (
	"context"
	"log/slog"
	"net"

	"github.com/heraldlb/herald/bgpnet"
	"github.com/heraldlb/herald/bgpwire/peer"
	"github.com/heraldlb/herald/config"
)

// BGPNet is the speaker's sessionNet: package bgpnet's dialer, listeners
// shared by every session, and unnumbered neighbour discovery.
type BGPNet struct {
	// ListenPort is where sessions accept the peers' connections; 0 does
	// not listen (the sessions only dial). Port 179 needs
	// CAP_NET_BIND_SERVICE.
	ListenPort uint16
	Log        *slog.Logger

	listeners *bgpnet.Listeners
}

// NewBGPNet returns the speaker's sessionNet.
func NewBGPNet(listenPort uint16, log *slog.Logger) *BGPNet {
	return &BGPNet{ListenPort: listenPort, Log: log, listeners: bgpnet.NewListeners()}
}

// Open registers the session with the listener of its port (if the
// speaker listens) and, for an unnumbered peer, starts looking for it.
func (n *BGPNet) Open(p *config.Peer, deliver func(net.Conn)) (sessionTransport, error) {
	t := &bgpnetTransport{p: p, o: bgpnet.OptionsFor(p)}
	t.o.ListenPort = n.ListenPort
	if p.Interface != "" {
		u, err := bgpnet.OpenUnnumbered(p.Interface, bgpnet.UnnumberedOptions{})
		if err != nil {
			return nil, err
		}
		t.unnumbered = u
	}
	if n.ListenPort != 0 && t.unnumbered == nil {
		reg, err := n.listeners.Register(t.o, func(c *bgpnet.Conn) { deliver(c) })
		if err != nil {
			t.Close()
			return nil, err
		}
		t.reg = reg
	}
	return t, nil
}

// Close closes the shared listeners.
func (n *BGPNet) Close() error { return n.listeners.Close() }

type bgpnetTransport struct {
	p          *config.Peer
	o          bgpnet.Options
	reg        *bgpnet.Registration
	unnumbered *bgpnet.Unnumbered
}

func (t *bgpnetTransport) Dial(ctx context.Context) (net.Conn, error) {
	o := t.o
	if t.unnumbered != nil {
		addr, err := t.unnumbered.Neighbour(ctx)
		if err != nil {
			return nil, err
		}
		o.Peer = addr
	}
	return bgpnet.Dial(ctx, o)
}

func (t *bgpnetTransport) LocalAddrs(c net.Conn) peer.LocalAddrs {
	if bc, ok := c.(*bgpnet.Conn); ok {
		if local, err := bc.NextHops(); err == nil {
			return local
		}
		return peer.LocalAddrs{Transport: bc.Local.Addr()}
	}
	return peer.LocalAddrs{Transport: addrOf(c.LocalAddr())}
}

func (t *bgpnetTransport) Close() error {
	if t.reg != nil {
		_ = t.reg.Close()
	}
	if t.unnumbered != nil {
		_ = t.unnumbered.Close()
	}
	return nil
}

package bgpnet

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/heraldlb/herald/config"
)

// Ports.
const (
	// BGPPort is the port BGP speakers listen on (RFC 4271). Listening on
	// it needs CAP_NET_BIND_SERVICE (or net.ipv4.ip_unprivileged_port_start
	// at most 179).
	BGPPort = 179
	// DefaultListenPort is the local port a listener takes when
	// Options.ListenPort is 0: an unprivileged one, so the speaker and its
	// tests need no capability. Routers must then be told to connect to it
	// (FRR: `neighbor X port 1790`), or the speaker listens on BGPPort.
	DefaultListenPort = 1790
)

// TTL values.
const (
	// MaxTTL is the TTL (IPv6: hop limit) every Herald BGP socket sends
	// with: whatever the number of hops, a segment reaches the peer, and a
	// GTSM peer sees it arrive untouched by any router.
	MaxTTL = 255
	// GTSMMinTTL is the lowest TTL a single-hop eBGP session accepts
	// (RFC 5082's check with the value the task fixed for Herald: one
	// routed hop is tolerated, as Cisco's `ttl-security hops 1` does; FRR's
	// `ttl-security hops 1` demands 255). Set Options.MinTTL to 255 for the
	// strict form.
	GTSMMinTTL = 254
)

// md5MaxKeyLen is the kernel's limit on a TCP MD5 key (TCP_MD5SIG_MAXKEYLEN).
const md5MaxKeyLen = 80

// ifNameMax is the longest interface name Linux accepts (IFNAMSIZ - 1).
const ifNameMax = 15

// Options are one peer's transport settings, used both ways: by Dial for the
// connection Herald opens and by Listeners.Register for the connection the
// peer opens. OptionsFor derives them from a compiled BGPPeer.
type Options struct {
	// Peer is the peer's address. An IPv6 link-local address must carry its
	// zone, the interface it is on (what Unnumbered.Neighbour returns); no
	// other address may have one.
	Peer netip.Addr
	// Port is the peer's port, the one Dial connects to; 0 means BGPPort.
	Port uint16
	// Source, when valid, is the local address Dial binds to before it
	// connects (BGPPeer sourceAddress); it must be of Peer's family and
	// configured on this node. Invalid lets the kernel choose. Accepted
	// connections keep the address the peer connected to.
	Source netip.Addr
	// VRF is the network device every socket of the peer is bound to with
	// SO_BINDTODEVICE (BGPPeer vrf): a VRF device, or any interface, which
	// then confines the session to that interface. Empty for the default
	// VRF. Connections to and from the peer use the listener of
	// (ListenPort, VRF).
	VRF string
	// Password is the TCP MD5 signature key (RFC 2385, BGPPeer password), at
	// most 80 bytes; empty for none. The kernel then silently drops every
	// segment of the connection that is not signed with it.
	Password string
	// TTL is the IP TTL (IPv6 hop limit) of every segment sent to the peer;
	// 0 means MaxTTL.
	TTL uint8
	// MinTTL makes the kernel drop every segment from the peer that arrives
	// with a lower TTL (IP_MINTTL, IPV6_MINHOPCOUNT): the Generalized TTL
	// Security Mechanism (RFC 5082). 0 accepts any TTL. It only works if
	// the peer sends with TTL 255 (FRR: `neighbor X ttl-security hops 1`).
	MinTTL uint8
	// ListenPort is the local port the peer connects to; 0 means
	// DefaultListenPort. Peers of one (ListenPort, VRF) share one socket.
	ListenPort uint16
}

// OptionsFor returns the transport options of a compiled BGPPeer. For an
// unnumbered peer (p.Interface set) Peer is left invalid: the caller sets it
// to the neighbour Unnumbered finds. ListenPort is left 0 for the speaker to
// set. The TTL policy is TTLFor's.
func OptionsFor(p *config.Peer) Options {
	ttl, minTTL := TTLFor(p)
	return Options{
		Peer:     p.Address,
		Port:     p.Port,
		Source:   p.SourceAddress,
		VRF:      p.VRF,
		Password: p.Password,
		TTL:      ttl,
		MinTTL:   minTTL,
	}
}

// TTLFor is Herald's TTL policy for a peer. Every session sends with TTL 255.
// What it accepts:
//   - eBGP with ebgpMultiHop: any TTL (the peer is any number of hops away).
//   - iBGP: any TTL. iBGP peers are commonly several hops away (loopback to
//     loopback, route reflectors), and FRR, BIRD and GoBGP enable no TTL
//     check for them by default either; MetalLB has no field to ask for one.
//   - single-hop eBGP: any TTL, unless the BGPPeer asks for ttlSecurity:
//     then GTSM, nothing below GTSMMinTTL. The peer must send with TTL 255
//     for that (FRR `neighbor X ttl-security hops 1`, BIRD `ttl security
//     yes`); FRR and most routers send eBGP with TTL 1 by default, which
//     GTSM drops, so a MetalLB configuration moved to Herald as it is keeps
//     working.
func TTLFor(p *config.Peer) (ttl, minTTL uint8) {
	if p.TTLSecurity && !p.EBGPMultiHop && !p.IBGP() {
		return MaxTTL, GTSMMinTTL
	}
	return MaxTTL, 0
}

// Validate reports the first problem that would keep Dial or Register from
// using o, wrapped in ErrInvalidOptions.
func (o Options) Validate() error {
	bad := func(format string, args ...any) error {
		return &Error{Op: "options", Addr: o.Peer.String(), Kind: ErrInvalidOptions, Hint: fmt.Sprintf(format, args...)}
	}
	switch {
	case !o.Peer.IsValid():
		return bad("no peer address (an unnumbered peer's comes from Unnumbered.Neighbour)")
	case o.Peer.Is4In6():
		return bad("peer address %s is an IPv4-mapped IPv6 address; give the IPv4 address", o.Peer)
	case o.Peer.IsUnspecified(), o.Peer.IsMulticast():
		return bad("peer address %s cannot be a BGP peer", o.Peer)
	case o.Peer.Is6() && o.Peer.IsLinkLocalUnicast() && o.Peer.Zone() == "":
		return bad("link-local peer address %s needs its interface as zone (%s%%eth0)", o.Peer, o.Peer)
	case o.Peer.Zone() != "" && !o.Peer.IsLinkLocalUnicast():
		return bad("peer address %s has a zone but is not link-local", o.Peer)
	}
	if o.Source.IsValid() {
		switch {
		case o.Source.Is4In6():
			return bad("source address %s is an IPv4-mapped IPv6 address; give the IPv4 address", o.Source)
		case o.Source.Is4() != o.Peer.Is4():
			return bad("source address %s is not of the peer address %s's family", o.Source, o.Peer)
		case o.Source.IsUnspecified(), o.Source.IsMulticast():
			return bad("source address %s cannot be bound", o.Source)
		case o.Source.Is6() && o.Source.IsLinkLocalUnicast() && o.Source.Zone() == "":
			return bad("source address %s needs its interface as zone", o.Source)
		case o.Source.Zone() != "" && !o.Source.IsLinkLocalUnicast():
			return bad("source address %s has a zone but is not link-local", o.Source)
		}
	}
	if len(o.Password) > md5MaxKeyLen {
		return bad("TCP MD5 password is %d bytes; the kernel takes at most %d", len(o.Password), md5MaxKeyLen)
	}
	if o.VRF != "" {
		if err := checkIfName(o.VRF); err != nil {
			return bad("vrf: %v", err)
		}
	}
	return nil
}

// checkIfName rejects what Linux would not accept as an interface name.
func checkIfName(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("empty interface name")
	case len(name) > ifNameMax:
		return fmt.Errorf("interface name %q is longer than %d bytes", name, ifNameMax)
	case name == "." || name == "..", strings.ContainsAny(name, "/: \t\n"):
		return fmt.Errorf("%q is not a valid interface name", name)
	}
	return nil
}

func (o Options) peerPort() uint16 {
	if o.Port == 0 {
		return BGPPort
	}
	return o.Port
}

func (o Options) listenPort() uint16 {
	if o.ListenPort == 0 {
		return DefaultListenPort
	}
	return o.ListenPort
}

func (o Options) sendTTL() int {
	if o.TTL == 0 {
		return MaxTTL
	}
	return int(o.TTL)
}

package bgpnet

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strconv"

	"github.com/heraldlb/herald/bgpwire/peer"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// NextHops returns this node's addresses for the routes announced over c,
// as the peer package takes them (peer.Event.Local of Connected and
// Accepted):
//   - Transport: the connection's local address (with its zone when
//     link-local).
//   - IPv4 and IPv6: the transport itself for its own family (a
//     link-local IPv6 transport is not a global next hop); for the other
//     family, an address of that family on the interface the connection
//     uses (dual-stack sessions, and IPv4 routes over IPv6 with RFC 8950).
//   - LinkLocal: the interface's IPv6 link-local address (the transport
//     when it is one), for the RFC 2545 pair of IPv6 next hops.
//
// The interface is the one that holds the transport address; when that is
// a loopback or no interface holds it (a source address on lo for a
// multihop session), it is the interface the route to the peer leaves
// through. Among several candidate addresses it takes, in the kernel's
// order, one with a shorter prefix than a host route before a /32 or /128
// (those are often service or virtual IPs), skipping IPv4 secondaries
// while there is a primary and IPv6 addresses that are tentative,
// deprecated or failed DAD. An address it finds none for stays invalid.
//
// NextHops reads the kernel's tables through netlink in the calling
// thread's network namespace: call it from the namespace the connection
// lives in (the speaker runs in the host's).
func (c *Conn) NextHops() (peer.LocalAddrs, error) {
	local, remote := c.Local.Addr(), c.Remote.Addr()
	ifindex, err := nextHopInterface(local, remote, c.vrf)
	if err != nil {
		return peer.LocalAddrs{Transport: local}, &Error{Op: "next hops", Addr: local.String(), Kind: ErrSocket, Err: err}
	}
	link, err := netlink.LinkByIndex(ifindex)
	if err != nil {
		return peer.LocalAddrs{Transport: local}, &Error{Op: "next hops", Addr: local.String(), Kind: ErrSocket, Err: err}
	}
	addrs, err := interfaceAddrs(link)
	if err != nil {
		return peer.LocalAddrs{Transport: local}, &Error{Op: "next hops", Addr: local.String(), Kind: ErrSocket, Err: err}
	}
	return chooseNextHops(local, link.Attrs().Name, addrs), nil
}

// ifAddr is one address of an interface with its IFA_F_* flags.
type ifAddr struct {
	prefix netip.Prefix
	flags  int
}

// chooseNextHops is NextHops' choice among the addresses of the interface
// named ifname.
func chooseNextHops(transport netip.Addr, ifname string, addrs []ifAddr) peer.LocalAddrs {
	out := peer.LocalAddrs{Transport: transport}
	usable := func(a ifAddr) bool {
		return a.flags&(unix.IFA_F_TENTATIVE|unix.IFA_F_DADFAILED|unix.IFA_F_DEPRECATED) == 0
	}
	// pick returns the first usable address keep accepts, preferring
	// non-host prefixes, then primaries.
	pick := func(keep func(netip.Addr) bool) netip.Addr {
		ranked := slices.Clone(addrs)
		rank := func(a ifAddr) int {
			r := 0
			if a.prefix.IsSingleIP() {
				r += 2
			}
			if a.flags&unix.IFA_F_SECONDARY != 0 {
				r++
			}
			return r
		}
		slices.SortStableFunc(ranked, func(a, b ifAddr) int { return rank(a) - rank(b) })
		for _, a := range ranked {
			if usable(a) && keep(a.prefix.Addr()) {
				return a.prefix.Addr()
			}
		}
		return netip.Addr{}
	}
	global6 := func(a netip.Addr) bool {
		return a.Is6() && !a.Is4In6() && a.IsGlobalUnicast() && !a.IsLinkLocalUnicast()
	}
	switch {
	case transport.Is4():
		out.IPv4 = transport
		out.IPv6 = pick(global6)
	case transport.IsLinkLocalUnicast():
		out.IPv4 = pick(netip.Addr.Is4)
		out.IPv6 = pick(global6)
		out.LinkLocal = transport
	default:
		out.IPv6 = transport
		out.IPv4 = pick(netip.Addr.Is4)
	}
	if !out.LinkLocal.IsValid() {
		if ll := pick(func(a netip.Addr) bool { return a.Is6() && a.IsLinkLocalUnicast() }); ll.IsValid() {
			out.LinkLocal = ll.WithZone(ifname)
		}
	}
	return out
}

// nextHopInterface is the index of the interface whose addresses NextHops
// reads (see NextHops).
func nextHopInterface(local, remote netip.Addr, vrf string) (int, error) {
	if z := local.Zone(); z != "" {
		if n, err := strconv.Atoi(z); err == nil {
			return n, nil
		}
		ifi, err := net.InterfaceByName(z)
		if err != nil {
			return 0, err
		}
		return ifi.Index, nil
	}
	family := netlink.FAMILY_V6
	if local.Is4() {
		family = netlink.FAMILY_V4
	}
	all, err := netlink.AddrList(nil, family)
	if err != nil {
		return 0, fmt.Errorf("list addresses: %w", err)
	}
	for _, a := range all {
		if p, ok := prefixOf(a); ok && p.Addr() == local {
			link, err := netlink.LinkByIndex(a.LinkIndex)
			if err == nil && link.Attrs().Flags&net.FlagLoopback == 0 {
				return a.LinkIndex, nil
			}
			break
		}
	}
	opts := &netlink.RouteGetOptions{SrcAddr: local.AsSlice(), Oif: vrf}
	routes, err := netlink.RouteGetWithOptions(remote.AsSlice(), opts)
	if err != nil {
		return 0, fmt.Errorf("route to %s: %w", remote, err)
	}
	if len(routes) == 0 || routes[0].LinkIndex == 0 {
		return 0, errors.New("no route to " + remote.String())
	}
	return routes[0].LinkIndex, nil
}

func interfaceAddrs(link netlink.Link) ([]ifAddr, error) {
	all, err := netlink.AddrList(link, netlink.FAMILY_ALL)
	if err != nil {
		return nil, fmt.Errorf("list addresses of %s: %w", link.Attrs().Name, err)
	}
	out := make([]ifAddr, 0, len(all))
	for _, a := range all {
		if p, ok := prefixOf(a); ok {
			out = append(out, ifAddr{prefix: p, flags: a.Flags})
		}
	}
	return out, nil
}

func prefixOf(a netlink.Addr) (netip.Prefix, bool) {
	if a.IPNet == nil {
		return netip.Prefix{}, false
	}
	ip, ok := netip.AddrFromSlice(a.IP)
	if !ok {
		return netip.Prefix{}, false
	}
	ones, _ := a.Mask.Size()
	return netip.PrefixFrom(ip.Unmap(), ones), true
}

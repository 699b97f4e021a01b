package l2

import (
	"errors"
	"fmt"
	"net"

	"github.com/mdlayher/ndp"
	"github.com/mdlayher/packet"
	"golang.org/x/net/bpf"
	"golang.org/x/net/ipv6"
)

// Interface names the link a responder opens its sockets on.
type Interface struct {
	Name  string
	Index int
	MAC   MAC
}

// OpenOptions choose the families and the gratuitous settings for Open.
type OpenOptions struct {
	NoIPv4 bool // open no ARP socket
	NoIPv6 bool // open no NDP sockets (use on a link with IPv6 disabled)
	Options
}

// Open opens the real sockets on ifi and starts a responder over them.
// Every socket needs CAP_NET_RAW and nothing else:
//   - ARP: an AF_PACKET SOCK_RAW socket bound to ifi and EtherType 0x0806,
//     with a BPF filter that passes only ARP requests received on ifi
//     itself (not frames this host sends, not frames the kernel hands on to
//     a VLAN interface on top of ifi).
//   - NDP: an AF_PACKET SOCK_RAW socket bound to ifi and EtherType 0x86dd,
//     with a BPF filter that passes only ICMPv6 Neighbor Solicitations with
//     hop limit 255 received on ifi. A packet socket sees a unicast NS for
//     a service IP that the kernel would drop or forward because the IP is
//     not one of its addresses.
//   - Multicast memberships: an ICMPv6 raw socket (ndp.Listen on the
//     unspecified address, so the link needs no IPv6 address and no
//     finished DAD) whose ICMPv6 filter blocks every type; it exists only
//     to join solicited-node groups, which makes the kernel program the
//     NIC's multicast filter and send the MLD reports that snooping
//     switches need.
func Open(ifi Interface, opts OpenOptions) (*Responder, error) {
	cfg := Config{Name: ifi.Name, MAC: ifi.MAC, Options: opts.Options}
	nif := &net.Interface{Index: ifi.Index, Name: ifi.Name, HardwareAddr: ifi.MAC[:]}
	closeAll := func() {
		for _, c := range []interface{ Close() error }{cfg.ARP, cfg.NDP, cfg.Groups} {
			if c != nil {
				_ = c.Close()
			}
		}
	}
	if !opts.NoIPv4 {
		c, err := listenFiltered(nif, etherTypeARP, arpFilter(ifi.Index))
		if err != nil {
			return nil, fmt.Errorf("interface %q: open ARP socket: %w", ifi.Name, err)
		}
		cfg.ARP = c
	}
	if !opts.NoIPv6 {
		c, err := listenFiltered(nif, etherTypeIP6, nsFilter(ifi.Index))
		if err != nil {
			closeAll()
			return nil, fmt.Errorf("interface %q: open NDP socket: %w", ifi.Name, err)
		}
		cfg.NDP = c
		g, _, err := ndp.Listen(nif, ndp.Unspecified)
		if err != nil {
			closeAll()
			return nil, fmt.Errorf("interface %q: open ICMPv6 socket for multicast memberships: %w", ifi.Name, err)
		}
		cfg.Groups = g
		var block ipv6.ICMPFilter
		block.SetAll(true)
		if err := g.SetICMPFilter(&block); err != nil {
			closeAll()
			return nil, fmt.Errorf("interface %q: filter ICMPv6 membership socket: %w", ifi.Name, err)
		}
	}
	r, err := New(cfg)
	if err != nil {
		closeAll()
		return nil, err
	}
	return r, nil
}

func listenFiltered(ifi *net.Interface, etherType int, filter []bpf.Instruction) (*packet.Conn, error) {
	raw, err := bpf.Assemble(filter)
	if err != nil {
		return nil, errors.Join(ErrConfig, err)
	}
	// The filter is attached before bind, so no unfiltered frame is queued.
	return packet.Listen(ifi, packet.Raw, etherType, &packet.Config{Filter: raw})
}

const (
	packetOutgoing = 4      // skb->pkt_type of a frame this host sends (PACKET_OUTGOING)
	snapAll        = 0xffff // accept the whole frame
)

// receivedOn starts a filter: drop frames this host sends and frames whose
// device is not ifindex (the kernel also delivers to a socket bound to a
// link the frames it then hands on to a VLAN interface on top of it).
func receivedOn(ifindex int, drop uint8) []bpf.Instruction {
	return []bpf.Instruction{
		bpf.LoadExtension{Num: bpf.ExtType},
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: packetOutgoing, SkipTrue: drop - 2},
		bpf.LoadExtension{Num: bpf.ExtInterfaceIndex},
		bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: uint32(ifindex), SkipTrue: drop - 4},
	}
}

// arpFilter passes ARP requests received on ifindex.
func arpFilter(ifindex int) []bpf.Instruction {
	const drop = 7 // instructions from the first to the drop
	return append(receivedOn(ifindex, drop),
		bpf.LoadAbsolute{Off: ethHeaderLen + 6, Size: 2},
		bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: arpOpRequest, SkipTrue: 1},
		bpf.RetConstant{Val: snapAll},
		bpf.RetConstant{Val: 0},
	)
}

// nsFilter passes ICMPv6 Neighbor Solicitations with hop limit 255 and no
// extension headers, received on ifindex.
func nsFilter(ifindex int) []bpf.Instruction {
	const drop = 11
	return append(receivedOn(ifindex, drop),
		bpf.LoadAbsolute{Off: ethHeaderLen + 6, Size: 1},
		bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: protoICMPv6, SkipTrue: 5},
		bpf.LoadAbsolute{Off: ethHeaderLen + 7, Size: 1},
		bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: ndpHopLimit, SkipTrue: 3},
		bpf.LoadAbsolute{Off: ethHeaderLen + ip6HeaderLen, Size: 1},
		bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: icmpNSType, SkipTrue: 1},
		bpf.RetConstant{Val: snapAll},
		bpf.RetConstant{Val: 0},
	)
}

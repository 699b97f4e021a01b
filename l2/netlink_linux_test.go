package l2

import (
	"net"
	"testing"

	"github.com/vishvananda/netlink"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

func TestLinkFromNetlink(t *testing.T) {
	mac := net.HardwareAddr(selfMAC[:])
	up := uint32(unix.IFF_UP | unix.IFF_RUNNING | unix.IFF_BROADCAST | unix.IFF_MULTICAST | unix.IFF_LOWER_UP)
	tests := []struct {
		name  string
		attrs netlink.LinkAttrs
		kind  string
		want  Link
	}{
		{
			name:  "NIC up with carrier",
			attrs: netlink.LinkAttrs{Index: 2, Name: "eth0", HardwareAddr: mac, EncapType: "ether", RawFlags: up},
			kind:  "device",
			want:  Link{Index: 2, Name: "eth0", Kind: "device", MAC: selfMAC, Ethernet: true, AdminUp: true, OperUp: true},
		},
		{
			name:  "configured up, no carrier",
			attrs: netlink.LinkAttrs{Index: 3, Name: "eth1", HardwareAddr: mac, EncapType: "ether", RawFlags: unix.IFF_UP | unix.IFF_BROADCAST},
			kind:  "device",
			want:  Link{Index: 3, Name: "eth1", Kind: "device", MAC: selfMAC, Ethernet: true, AdminUp: true},
		},
		{
			name:  "bond slave",
			attrs: netlink.LinkAttrs{Index: 4, Name: "eth2", HardwareAddr: mac, EncapType: "ether", RawFlags: up | unix.IFF_SLAVE, MasterIndex: 9},
			kind:  "device",
			want:  Link{Index: 4, Name: "eth2", Kind: "device", MAC: selfMAC, Ethernet: true, AdminUp: true, OperUp: true, MasterIndex: 9},
		},
		{
			name:  "loopback",
			attrs: netlink.LinkAttrs{Index: 1, Name: "lo", HardwareAddr: make(net.HardwareAddr, 6), EncapType: "loopback", RawFlags: unix.IFF_UP | unix.IFF_RUNNING | unix.IFF_LOOPBACK},
			kind:  "device",
			want:  Link{Index: 1, Name: "lo", Kind: "device", AdminUp: true, OperUp: true, Loopback: true},
		},
		{
			name:  "dummy with NOARP",
			attrs: netlink.LinkAttrs{Index: 6, Name: "kube-ipvs0", HardwareAddr: mac, EncapType: "ether", RawFlags: unix.IFF_BROADCAST | unix.IFF_NOARP},
			kind:  "dummy",
			want:  Link{Index: 6, Name: "kube-ipvs0", Kind: "dummy", MAC: selfMAC, Ethernet: true, NoARP: true},
		},
		{
			name:  "wireguard: no hardware address",
			attrs: netlink.LinkAttrs{Index: 7, Name: "wg0", EncapType: "none", RawFlags: up | unix.IFF_NOARP | unix.IFF_POINTOPOINT},
			kind:  "wireguard",
			want:  Link{Index: 7, Name: "wg0", Kind: "wireguard", AdminUp: true, OperUp: true, NoARP: true},
		},
		{
			name:  "InfiniBand: 20-byte address",
			attrs: netlink.LinkAttrs{Index: 8, Name: "ib0", HardwareAddr: make(net.HardwareAddr, 20), EncapType: "infiniband", RawFlags: up},
			kind:  "ipoib",
			want:  Link{Index: 8, Name: "ib0", Kind: "ipoib", AdminUp: true, OperUp: true},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := linkFromNetlink(&tt.attrs, tt.kind)
			if !sameAttrs(got, tt.want) {
				t.Fatalf("linkFromNetlink = %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

// TestSocketFiltersJumpToDrop: every conditional jump's "skip" lands on
// the final drop, and the programs assemble. (The kernel-only loads of
// the first instructions keep x/net/bpf's VM from running them whole;
// TestSocketFilterTails runs the rest.)
func TestSocketFiltersJumpToDrop(t *testing.T) {
	for name, prog := range map[string][]bpf.Instruction{"arp": arpFilter(7), "ns": nsFilter(7)} {
		t.Run(name, func(t *testing.T) {
			if _, err := bpf.Assemble(prog); err != nil {
				t.Fatal(err)
			}
			drop := len(prog) - 1
			if prog[drop] != (bpf.RetConstant{Val: 0}) || prog[drop-1] != (bpf.RetConstant{Val: snapAll}) {
				t.Fatalf("program must end in accept, drop: %v", prog[drop-1:])
			}
			for i, ins := range prog {
				j, ok := ins.(bpf.JumpIf)
				if !ok {
					continue
				}
				if to := i + 1 + int(j.SkipTrue); to != drop || j.SkipFalse != 0 {
					t.Errorf("instruction %d (%v) jumps to %d, want %d", i, j, to, drop)
				}
			}
		})
	}
}

func TestSocketFilterTails(t *testing.T) {
	na := nsFrame(t, nsSpec{})
	na[ethHeaderLen+ip6HeaderLen] = icmpNAType
	tests := []struct {
		name   string
		filter []bpf.Instruction
		frame  []byte
		accept bool
	}{
		{"ARP request", arpFilter(7), arpRequest(t, svc4), true},
		{"ARP reply", arpFilter(7), arpFrame(t, selfMAC, peerMAC, 2, peerMAC, peer4, selfMAC, svc4), false},
		{"NS", nsFilter(7), nsFrame(t, nsSpec{}), true},
		{"NS with hop limit 254", nsFilter(7), nsFrame(t, nsSpec{hopLimit: 254}), false},
		{"NA", nsFilter(7), na, false},
		{"UDP", nsFilter(7), func() []byte { b := nsFrame(t, nsSpec{}); b[ethHeaderLen+6] = 17; return b }(), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			vm, err := bpf.NewVM(tt.filter[4:]) // past the kernel-only ifindex and pkttype checks
			if err != nil {
				t.Fatal(err)
			}
			n, err := vm.Run(tt.frame)
			if err != nil {
				t.Fatal(err)
			}
			if (n > 0) != tt.accept {
				t.Fatalf("filter returned %d, want accept=%v", n, tt.accept)
			}
		})
	}
}

package l2

import (
	"fmt"
	"net/netip"
	"testing"

	"github.com/mdlayher/arp"
)

func TestHandleARP(t *testing.T) {
	zero4 := netip.IPv4Unspecified()
	tests := []struct {
		name  string
		frame func(testing.TB) []byte
		want  verdict
		// for replies: who the reply goes to and which IPs it carries
		ethDst   MAC
		replyTPA netip.Addr
	}{
		{
			name:  "broadcast request for an owned IP",
			frame: func(t testing.TB) []byte { return arpRequest(t, svc4) },
			want:  verdictReply, ethDst: peerMAC, replyTPA: peer4,
		},
		{
			name: "unicast request to our MAC (a cache refresh)",
			frame: func(t testing.TB) []byte {
				return arpFrame(t, selfMAC, peerMAC, arp.OperationRequest, peerMAC, peer4, selfMAC, svc4)
			},
			want: verdictReply, ethDst: peerMAC, replyTPA: peer4,
		},
		{
			name: "probe from 0.0.0.0 is answered to the prober",
			frame: func(t testing.TB) []byte {
				return arpFrame(t, broadcastMAC, peerMAC, arp.OperationRequest, peerMAC, zero4, MAC{}, svc4)
			},
			want: verdictReply, ethDst: peerMAC, replyTPA: zero4,
		},
		{
			name: "the reply goes to the ARP sender address, not the frame source",
			frame: func(t testing.TB) []byte {
				return arpFrame(t, broadcastMAC, otherMAC, arp.OperationRequest, peerMAC, peer4, MAC{}, svc4)
			},
			want: verdictReply, ethDst: peerMAC, replyTPA: peer4,
		},
		{
			name:  "request for an IP not owned",
			frame: func(t testing.TB) []byte { return arpRequest(t, netip.MustParseAddr("192.0.2.99")) },
			want:  dropNotOwned,
		},
		{
			name: "our own gratuitous request",
			frame: func(t testing.TB) []byte {
				return arpFrame(t, broadcastMAC, selfMAC, arp.OperationRequest, selfMAC, svc4, MAC{}, svc4)
			},
			want: dropOwnFrame,
		},
		{
			name: "another host's announcement of an owned IP",
			frame: func(t testing.TB) []byte {
				return arpFrame(t, broadcastMAC, peerMAC, arp.OperationRequest, peerMAC, svc4, MAC{}, svc4)
			},
			want: dropAnnouncement,
		},
		{
			name: "a reply is not a question",
			frame: func(t testing.TB) []byte {
				return arpFrame(t, selfMAC, peerMAC, arp.OperationReply, peerMAC, svc4, selfMAC, svc4)
			},
			want: dropNotQuestion,
		},
		{
			name: "request unicast to another station",
			frame: func(t testing.TB) []byte {
				return arpFrame(t, otherMAC, peerMAC, arp.OperationRequest, peerMAC, peer4, MAC{}, svc4)
			},
			want: dropNotAddressed,
		},
		{
			name: "sender hardware address is broadcast",
			frame: func(t testing.TB) []byte {
				return arpFrame(t, broadcastMAC, peerMAC, arp.OperationRequest, broadcastMAC, peer4, MAC{}, svc4)
			},
			want: dropBadSender,
		},
		{
			name:  "truncated",
			frame: func(t testing.TB) []byte { return arpRequest(t, svc4)[:41] },
			want:  dropMalformed,
		},
		{
			name: "not IPv4 over Ethernet",
			frame: func(t testing.TB) []byte {
				b := arpRequest(t, svc4)
				b[ethHeaderLen+1] = 6 // hardware type 6 (IEEE 802)
				return b
			},
			want: dropMalformed,
		},
		{
			name: "wrong EtherType",
			frame: func(t testing.TB) []byte {
				b := arpRequest(t, svc4)
				b[12], b[13] = 0x08, 0x00
				return b
			},
			want: dropMalformed,
		},
	}
	owned := owning(svc4, svc4b)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out [arpFrameLen]byte
			e, v := handleARP(tt.frame(t), selfMAC, owned, &out)
			if v != tt.want {
				t.Fatalf("verdict %v, want %v", v, tt.want)
			}
			if v != verdictReply {
				if e != nil {
					t.Fatalf("dropped frame returned entry for %v", e.ip)
				}
				return
			}
			if e == nil || e.ip != svc4 {
				t.Fatalf("entry %v, want the one for %v", e, svc4)
			}
			got := parseARP(t, out[:])
			want := arp.Packet{
				HardwareType: 1, ProtocolType: 0x0800, HardwareAddrLength: 6, IPLength: 4,
				Operation:          arp.OperationReply,
				SenderHardwareAddr: hw(selfMAC), SenderIP: svc4,
				TargetHardwareAddr: hw(tt.ethDst), TargetIP: tt.replyTPA,
			}
			if got.ethDst != tt.ethDst || got.ethSrc != selfMAC {
				t.Errorf("Ethernet %v -> %v, want %v -> %v", got.ethSrc, got.ethDst, selfMAC, tt.ethDst)
			}
			if fmt.Sprintf("%+v", got.p) != fmt.Sprintf("%+v", want) {
				t.Errorf("reply\n got %+v\nwant %+v", got.p, want)
			}
		})
	}
}

func TestGratuitousARPForms(t *testing.T) {
	var out [arpFrameLen]byte
	putGratuitousARPRequest(&out, selfMAC, svc4)
	req := parseARP(t, out[:])
	putGratuitousARPReply(&out, selfMAC, svc4)
	rep := parseARP(t, out[:])
	tests := []struct {
		name string
		got  parsedARP
		op   arp.Operation
		tha  MAC
	}{
		{"request form (RFC 5227 announcement)", req, arp.OperationRequest, MAC{}},
		{"reply form (RFC 5944 §4.6)", rep, arp.OperationReply, selfMAC},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := tt.got.p
			if tt.got.ethDst != broadcastMAC || tt.got.ethSrc != selfMAC {
				t.Errorf("Ethernet %v -> %v, want %v -> broadcast", tt.got.ethSrc, tt.got.ethDst, selfMAC)
			}
			if p.Operation != tt.op || MAC(p.SenderHardwareAddr) != selfMAC || MAC(p.TargetHardwareAddr) != tt.tha ||
				p.SenderIP != svc4 || p.TargetIP != svc4 {
				t.Errorf("packet %+v: want op %v, sender %v/%v, target %v/%v", p, tt.op, selfMAC, svc4, tt.tha, svc4)
			}
		})
	}
	// Our own gratuitous frames come back on the socket; neither is answered.
	for _, f := range [][]byte{req.frame(t), rep.frame(t)} {
		if _, v := handleARP(f, selfMAC, owning(svc4), &out); v != dropOwnFrame {
			t.Errorf("own gratuitous frame: verdict %v, want %v", v, dropOwnFrame)
		}
	}
}

func (p parsedARP) frame(t testing.TB) []byte {
	return arpFrame(t, p.ethDst, p.ethSrc, p.p.Operation, MAC(p.p.SenderHardwareAddr), p.p.SenderIP, MAC(p.p.TargetHardwareAddr), p.p.TargetIP)
}

func TestHandleARPNilSnapshotOwnsNothing(t *testing.T) {
	var out [arpFrameLen]byte
	if _, v := handleARP(arpRequest(t, svc4), selfMAC, nil, &out); v != dropNotOwned {
		t.Fatalf("verdict %v, want %v", v, dropNotOwned)
	}
}

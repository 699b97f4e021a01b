package l2

import (
	"flag"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"testing"

	"github.com/mdlayher/arp"
	"github.com/mdlayher/ethernet"
)

// The fuzz targets feed arbitrary frames to the handlers and check what
// an answer must always be. Their seed corpora in testdata/fuzz/ run in
// plain go test; go test -run TestWriteFuzzSeeds -write-seeds rewrites
// them from fuzzSeeds.
var writeSeeds = flag.Bool("write-seeds", false, "rewrite testdata/fuzz seed corpora")

func FuzzHandleARP(f *testing.F) {
	owned := owning(svc4, svc4b)
	f.Fuzz(func(t *testing.T, frame []byte) {
		var out [arpFrameLen]byte
		e, v := handleARP(frame, selfMAC, owned, &out)
		var again [arpFrameLen]byte
		if e2, v2 := handleARP(frame, selfMAC, owned, &again); e2 != e || v2 != v || again != out {
			t.Fatal("handleARP is not deterministic")
		}
		if v != verdictReply {
			if e != nil {
				t.Fatalf("verdict %v with entry %v", v, e.ip)
			}
			return
		}
		// What was answered must be, to mdlayher's parser, an ARP request
		// for an owned IP from someone else.
		var q arp.Packet
		if err := q.UnmarshalBinary(frame[ethHeaderLen:]); err != nil {
			t.Fatalf("answered a frame mdlayher/arp rejects: %v", err)
		}
		if q.Operation != arp.OperationRequest || owned.lookup(q.TargetIP) != e || MAC(frame[6:12]) == selfMAC || q.SenderIP == q.TargetIP {
			t.Fatalf("answered %+v (entry %v)", q, e.ip)
		}
		r := parseARP(t, out[:])
		if r.p.Operation != arp.OperationReply || MAC(r.p.SenderHardwareAddr) != selfMAC || r.p.SenderIP != e.ip ||
			r.ethSrc != selfMAC || r.ethDst != MAC(q.SenderHardwareAddr) || !r.ethDst.IsUnicast() || r.p.TargetIP != q.SenderIP {
			t.Fatalf("reply %+v to %v for request %+v", r.p, r.ethDst, q)
		}
	})
}

func FuzzHandleNS(f *testing.F) {
	owned := owning(svc6, svc6b)
	f.Fuzz(func(t *testing.T, frame []byte) {
		var out [naFrameLen]byte
		e, v := handleNS(frame, selfMAC, owned, &out)
		var again [naFrameLen]byte
		if e2, v2 := handleNS(frame, selfMAC, owned, &again); e2 != e || v2 != v || again != out {
			t.Fatal("handleNS is not deterministic")
		}
		if v != verdictReply {
			if e != nil {
				t.Fatalf("verdict %v with entry %v", v, e.ip)
			}
			return
		}
		ip := frame[ethHeaderLen:]
		src := netip.AddrFrom16([16]byte(ip[8:24]))
		target := netip.AddrFrom16([16]byte(ip[ip6HeaderLen+8 : ip6HeaderLen+24]))
		if ip[7] != 255 || owned.lookup(target) != e || MAC(frame[6:12]) == selfMAC {
			t.Fatalf("answered hop limit %d, target %v, from %v", ip[7], target, MAC(frame[6:12]))
		}
		na := parseNA(t, out[:]) // checks the checksum with x/net/icmp
		dst, ethDst := src, na.ethDst
		if src.IsUnspecified() {
			dst, ethDst = allNodesIP, allNodesMAC
		}
		if !src.IsUnspecified() && !ethDst.IsUnicast() {
			t.Fatalf("solicited NA sent to %v", ethDst)
		}
		checkNA(t, na, e.ip, ethDst, dst, !src.IsUnspecified())
	})
}

// fuzzSeeds are the committed corpora: one frame per rule of the handlers.
func fuzzSeeds(t testing.TB) map[string]map[string][]byte {
	eth := func(p *arp.Packet, dst, src MAC) []byte {
		pb, err := p.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		b, err := (&ethernet.Frame{Destination: hw(dst), Source: hw(src), EtherType: ethernet.EtherTypeARP, Payload: pb}).MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	var garp [arpFrameLen]byte
	putGratuitousARPReply(&garp, selfMAC, svc4)
	var na [naFrameLen]byte
	putUnsolicitedNA(&na, selfMAC, svc6)
	return map[string]map[string][]byte{
		"FuzzHandleARP": {
			"request_owned":       arpRequest(t, svc4),
			"request_not_owned":   arpRequest(t, netip.MustParseAddr("192.0.2.99")),
			"probe":               arpFrame(t, broadcastMAC, peerMAC, arp.OperationRequest, peerMAC, netip.IPv4Unspecified(), MAC{}, svc4),
			"announcement":        arpFrame(t, broadcastMAC, peerMAC, arp.OperationRequest, peerMAC, svc4, MAC{}, svc4),
			"unicast_refresh":     arpFrame(t, selfMAC, peerMAC, arp.OperationRequest, peerMAC, peer4, selfMAC, svc4b),
			"own_gratuitous":      garp[:],
			"reply":               eth(&arp.Packet{HardwareType: 1, ProtocolType: 0x800, HardwareAddrLength: 6, IPLength: 4, Operation: arp.OperationReply, SenderHardwareAddr: hw(peerMAC), SenderIP: peer4, TargetHardwareAddr: hw(selfMAC), TargetIP: svc4}, selfMAC, peerMAC),
			"truncated":           arpRequest(t, svc4)[:30],
			"broadcast_sender_hw": arpFrame(t, broadcastMAC, peerMAC, arp.OperationRequest, broadcastMAC, peer4, MAC{}, svc4),
		},
		"FuzzHandleNS": {
			"multicast_ns":        nsFrame(t, nsSpec{}),
			"multicast_ns_ll_src": nsFrame(t, nsSpec{src: peerLL, target: svc6b}),
			"unicast_nud_probe":   nsFrame(t, nsSpec{dst: svc6, noOptions: true}),
			"dad_probe":           nsFrame(t, nsSpec{src: netip.IPv6Unspecified()}),
			"not_owned":           nsFrame(t, nsSpec{target: netip.MustParseAddr("2001:db8::99")}),
			"hop_limit_64":        nsFrame(t, nsSpec{hopLimit: 64}),
			"bad_checksum":        nsFrame(t, nsSpec{corrupt: true}),
			"own_unsolicited_na":  na[:],
			"zero_length_option":  nsFrame(t, nsSpec{rawICMP: append(nsBytes(t, svc6, peer6, SolicitedNodeGroup(svc6)), 1, 0, 0, 0, 0, 0, 0, 0)}),
			"truncated":           nsFrame(t, nsSpec{})[:60],
		},
	}
}

func TestWriteFuzzSeeds(t *testing.T) {
	for target, seeds := range fuzzSeeds(t) {
		dir := filepath.Join("testdata", "fuzz", target)
		for name, frame := range seeds {
			path := filepath.Join(dir, name)
			want := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", frame)
			if *writeSeeds {
				if err := os.MkdirAll(dir, 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, []byte(want), 0o644); err != nil {
					t.Fatal(err)
				}
				continue
			}
			got, err := os.ReadFile(path)
			if err != nil || string(got) != want {
				t.Errorf("seed %s is missing or stale (go test -run TestWriteFuzzSeeds -write-seeds): %v", path, err)
			}
		}
	}
}

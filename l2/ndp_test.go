package l2

import (
	"net/netip"
	"testing"

	"github.com/mdlayher/ndp"
)

func TestHandleNS(t *testing.T) {
	unspec := netip.IPv6Unspecified()
	type reply struct {
		ethDst    MAC
		dst       netip.Addr
		solicited bool
	}
	tests := []struct {
		name string
		spec nsSpec
		want verdict
		rep  reply
	}{
		{
			name: "multicast NS to the solicited-node group",
			spec: nsSpec{},
			want: verdictReply, rep: reply{peerMAC, peer6, true},
		},
		{
			name: "multicast NS from a link-local source",
			spec: nsSpec{src: peerLL},
			want: verdictReply, rep: reply{peerMAC, peerLL, true},
		},
		{
			name: "unicast NUD probe to the IP itself, no source link-layer option",
			spec: nsSpec{dst: svc6, noOptions: true},
			want: verdictReply, rep: reply{peerMAC, peer6, true},
		},
		{
			name: "unicast NUD probe with a source link-layer option: the reply goes to the option's MAC",
			spec: nsSpec{dst: svc6, ethSrc: otherMAC, options: []ndp.Option{&ndp.LinkLayerAddress{Direction: ndp.Source, Addr: hw(peerMAC)}}},
			want: verdictReply, rep: reply{peerMAC, peer6, true},
		},
		{
			name: "DAD probe from :: is answered to all-nodes, not solicited",
			spec: nsSpec{src: unspec},
			want: verdictReply, rep: reply{allNodesMAC, allNodesIP, false},
		},
		{
			name: "other options are skipped",
			spec: nsSpec{options: []ndp.Option{
				&ndp.RawOption{Type: 14, Length: 1, Value: []byte{1, 2, 3, 4, 5, 6}}, // nonce
				&ndp.LinkLayerAddress{Direction: ndp.Source, Addr: hw(peerMAC)},
			}},
			want: verdictReply, rep: reply{peerMAC, peer6, true},
		},
		{name: "target not owned", spec: nsSpec{target: netip.MustParseAddr("2001:db8::99")}, want: dropNotOwned},
		{name: "sent by this interface", spec: nsSpec{ethSrc: selfMAC}, want: dropOwnFrame},
		{name: "hop limit 64 (routed from off-link)", spec: nsSpec{hopLimit: 64}, want: dropHopLimit},
		{name: "bad checksum", spec: nsSpec{corrupt: true}, want: dropChecksum},
		{name: "code 1", spec: nsSpec{code: 1}, want: dropInvalidNS},
		{
			name: "multicast target",
			spec: nsSpec{target: netip.MustParseAddr("ff02::1"), dst: SolicitedNodeGroup(netip.MustParseAddr("ff02::1"))},
			want: dropInvalidNS,
		},
		{
			name: "DAD probe carrying a source link-layer option",
			spec: nsSpec{src: unspec, options: []ndp.Option{&ndp.LinkLayerAddress{Direction: ndp.Source, Addr: hw(peerMAC)}}},
			want: dropInvalidNS,
		},
		{name: "DAD probe not sent to the solicited-node group", spec: nsSpec{src: unspec, dst: svc6}, want: dropInvalidNS},
		{
			name: "option of length zero",
			spec: nsSpec{rawICMP: append(nsBytes(t, svc6, peer6, SolicitedNodeGroup(svc6)), 1, 0, 0, 0, 0, 0, 0, 0)},
			want: dropInvalidNS,
		},
		{
			name: "multicast NS to another target's group",
			spec: nsSpec{dst: SolicitedNodeGroup(netip.MustParseAddr("2001:db8::abcd"))},
			want: dropNotAddressed,
		},
		{name: "multicast NS to all-nodes", spec: nsSpec{dst: allNodesIP}, want: dropNotAddressed},
		{name: "unicast NS to another station's MAC", spec: nsSpec{dst: svc6, ethDst: otherMAC}, want: dropNotAddressed},
		{name: "unicast NS to our MAC for another address", spec: nsSpec{dst: svc6b}, want: dropNotAddressed},
		{
			name: "source link-layer option holds a multicast MAC",
			spec: nsSpec{options: []ndp.Option{&ndp.LinkLayerAddress{Direction: ndp.Source, Addr: hw(allNodesMAC)}}},
			want: dropBadSender,
		},
	}
	owned := owning(svc6, svc6b)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			frame := nsFrame(t, tt.spec)
			var out [naFrameLen]byte
			e, v := handleNS(frame, selfMAC, owned, &out)
			if v != tt.want {
				t.Fatalf("verdict %v, want %v", v, tt.want)
			}
			if v != verdictReply {
				return
			}
			target := tt.spec.target
			if !target.IsValid() {
				target = svc6
			}
			if e == nil || e.ip != target {
				t.Fatalf("entry %v, want the one for %v", e, target)
			}
			na := parseNA(t, out[:])
			checkNA(t, na, target, tt.rep.ethDst, tt.rep.dst, tt.rep.solicited)
		})
	}
}

// checkNA checks what every Herald NA promises, and its addressing.
func checkNA(t testing.TB, na parsedNA, target netip.Addr, ethDst MAC, dst netip.Addr, solicited bool) {
	t.Helper()
	if na.ethSrc != selfMAC || na.ethDst != ethDst {
		t.Errorf("Ethernet %v -> %v, want %v -> %v", na.ethSrc, na.ethDst, selfMAC, ethDst)
	}
	if na.src != target || na.dst != dst || na.hopLimit != 255 {
		t.Errorf("IPv6 %v -> %v hop limit %d, want %v -> %v hop limit 255", na.src, na.dst, na.hopLimit, target, dst)
	}
	if na.na.TargetAddress != target || na.na.Solicited != solicited || !na.na.Override || na.na.Router {
		t.Errorf("NA target %v S=%v O=%v R=%v, want target %v S=%v O=true R=false",
			na.na.TargetAddress, na.na.Solicited, na.na.Override, na.na.Router, target, solicited)
	}
	if na.tlla != selfMAC {
		t.Errorf("target link-layer option %v, want %v", na.tlla, selfMAC)
	}
}

func nsBytes(t testing.TB, target, src, dst netip.Addr) []byte {
	b, err := ndp.MarshalMessageChecksum(&ndp.NeighborSolicitation{TargetAddress: target}, src, dst)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestHandleNSMalformed(t *testing.T) {
	good := nsFrame(t, nsSpec{})
	tests := []struct {
		name  string
		frame []byte
		want  verdict
	}{
		{"empty", nil, dropMalformed},
		{"Ethernet header only", good[:ethHeaderLen], dropMalformed},
		{"IPv6 header cut", good[:ethHeaderLen+20], dropMalformed},
		{"NS shorter than 24 bytes", good[:ethHeaderLen+ip6HeaderLen+20], dropMalformed},
		{"payload length past the frame", good[:len(good)-1], dropMalformed},
		{"IPv4 version nibble", func() []byte { b := clone(good); b[ethHeaderLen] = 0x45; return b }(), dropMalformed},
		{"ARP EtherType", func() []byte { b := clone(good); b[12], b[13] = 0x08, 0x06; return b }(), dropMalformed},
		{"an NA is not a question", func() []byte { b := clone(good); b[ethHeaderLen+ip6HeaderLen] = icmpNAType; return b }(), dropNotQuestion},
		{"behind a hop-by-hop extension header", func() []byte { b := clone(good); b[ethHeaderLen+6] = 0; return b }(), dropNotQuestion},
		{"padding after the payload is ignored", append(clone(good), 0, 0, 0, 0), verdictReply},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out [naFrameLen]byte
			if _, v := handleNS(tt.frame, selfMAC, owning(svc6), &out); v != tt.want {
				t.Fatalf("verdict %v, want %v", v, tt.want)
			}
		})
	}
}

func clone(b []byte) []byte { return append([]byte(nil), b...) }

func TestUnsolicitedNA(t *testing.T) {
	var out [naFrameLen]byte
	putUnsolicitedNA(&out, selfMAC, svc6)
	na := parseNA(t, out[:])
	checkNA(t, na, svc6, allNodesMAC, allNodesIP, false)
	// It comes back on our socket (multicast loops to packet sockets); it
	// is not a question and it is ours.
	if _, v := handleNS(out[:], selfMAC, owning(svc6), &out); v != dropOwnFrame {
		t.Fatalf("own NA: verdict %v, want %v", v, dropOwnFrame)
	}
}

func TestSolicitedNodeGroup(t *testing.T) {
	tests := []struct{ ip, want string }{
		{"2001:db8::10", "ff02::1:ff00:10"},
		{"2001:db8::1:2:3", "ff02::1:ff02:3"},
		{"fe80::aabb:ccdd:eeff:1234", "ff02::1:ffff:1234"},
	}
	for _, tt := range tests {
		ip := netip.MustParseAddr(tt.ip)
		got := SolicitedNodeGroup(ip)
		want, err := ndp.SolicitedNodeMulticast(ip)
		if err != nil {
			t.Fatal(err)
		}
		if got.String() != tt.want || got != want {
			t.Errorf("SolicitedNodeGroup(%v) = %v, want %v (ndp says %v)", ip, got, tt.want, want)
		}
	}
	if g := SolicitedNodeGroup(svc4); g.IsValid() {
		t.Errorf("SolicitedNodeGroup(%v) = %v, want invalid", svc4, g)
	}
}

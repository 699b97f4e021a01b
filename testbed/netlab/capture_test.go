package netlab

import (
	"context"
	"encoding/binary"
	"errors"
	"net/netip"
	"slices"
	"testing"
	"time"
)

// pcapFile builds a little-endian pcap with Ethernet frames.
func pcapFile(frames ...[]byte) []byte {
	b := binary.LittleEndian.AppendUint32(nil, 0xa1b2c3d4)
	b = binary.LittleEndian.AppendUint16(b, 2)
	b = binary.LittleEndian.AppendUint16(b, 4)
	b = append(b, make([]byte, 8)...)
	b = binary.LittleEndian.AppendUint32(b, 65535)
	b = binary.LittleEndian.AppendUint32(b, 1)
	for i, f := range frames {
		b = binary.LittleEndian.AppendUint32(b, uint32(1000+i))
		b = binary.LittleEndian.AppendUint32(b, 5)
		b = binary.LittleEndian.AppendUint32(b, uint32(len(f)))
		b = binary.LittleEndian.AppendUint32(b, uint32(len(f)))
		b = append(b, f...)
	}
	return b
}

func tcpHeader(sport, dport uint16, seq uint32, flags uint8) []byte {
	h := binary.BigEndian.AppendUint16(nil, sport)
	h = binary.BigEndian.AppendUint16(h, dport)
	h = binary.BigEndian.AppendUint32(h, seq)
	h = append(h, 0, 0, 0, 0, 5<<4, flags, 0, 0, 0, 0, 0, 0)
	return h
}

func ethernet(etherType uint16, payload []byte) []byte {
	f := append(make([]byte, 12), byte(etherType>>8), byte(etherType))
	return append(f, payload...)
}

func TestReadPcap(t *testing.T) {
	data := []byte("hello")
	tcp4 := append(tcpHeader(40000, 179, 7, TCPAck|0x08), data...)
	ip4 := []byte{0x45, 0, 0, byte(20 + len(tcp4)), 0, 0, 0, 0, 64, 6, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2}
	tcp6 := tcpHeader(179, 40001, 9, TCPSyn|TCPAck)
	ip6 := append([]byte{0x60, 0, 0, 0, 0, byte(len(tcp6)), 6, 255}, netip.MustParseAddr("fd00::1").AsSlice()...)
	ip6 = append(ip6, netip.MustParseAddr("fd00::2").AsSlice()...)
	udp4 := []byte{0x45, 0, 0, 28, 0, 0, 0, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0}
	file := pcapFile(ethernet(0x0800, append(ip4, tcp4...)), ethernet(0x0800, udp4), ethernet(0x86dd, append(ip6, tcp6...)))
	file = append(file, 1, 2, 3) // a record tcpdump is still writing

	segs, err := ReadPcap(file)
	if err != nil {
		t.Fatal(err)
	}
	if len(segs) != 2 {
		t.Fatalf("%d segments, want 2 (the UDP packet skipped): %+v", len(segs), segs)
	}
	want := []Segment{
		{Time: time.Unix(1000, 5000), Src: netip.MustParseAddrPort("10.0.0.1:40000"), Dst: netip.MustParseAddrPort("10.0.0.2:179"),
			Flags: TCPAck | 0x08, Seq: 7, TTL: 64, Payload: data},
		{Time: time.Unix(1002, 5000), Src: netip.MustParseAddrPort("[fd00::1]:179"), Dst: netip.MustParseAddrPort("[fd00::2]:40001"),
			Flags: TCPSyn | TCPAck, Seq: 9, TTL: 255, Payload: []byte{}},
	}
	for i, w := range want {
		g := segs[i]
		if !g.Time.Equal(w.Time) || g.Src != w.Src || g.Dst != w.Dst || g.Flags != w.Flags || g.Seq != w.Seq || g.TTL != w.TTL || string(g.Payload) != string(w.Payload) {
			t.Errorf("segment %d: got %+v, want %+v", i, g, w)
		}
	}
	for _, bad := range [][]byte{nil, make([]byte, 24)} {
		if _, err := ReadPcap(bad); !errors.Is(err, ErrPcap) {
			t.Errorf("ReadPcap(%d bytes): %v, want ErrPcap", len(bad), err)
		}
	}
}

// TestCapture: a capture on node1's eth0 sees the client's TCP connection
// to a backend, SYN first, and the request in a segment's payload.
func TestCapture(t *testing.T) {
	t.Parallel()
	l := NewForTest(t, Options{Nodes: 1})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	node := l.Nodes[0]
	addr := netip.AddrPortFrom(node.LAN4, 8080)
	if _, err := l.StartBackend(ctx, node.Name, addr); err != nil {
		t.Fatal(err)
	}
	c, err := l.StartCapture(node.Name, "eth0", "tcp port 8080", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Stop()
	if _, err := l.HTTPGetFromClient(ctx, ServiceURL(addr)+"/captured"); err != nil {
		t.Fatal(err)
	}
	var segs []Segment
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if segs, err = c.Segments(); err == nil && slices.ContainsFunc(segs, func(s Segment) bool { return s.Flags&TCPFin != 0 }) {
			break
		}
	}
	c.Stop()
	if len(segs) == 0 || segs[0].Flags&TCPSyn == 0 || segs[0].Src.Addr() != l.Client.LAN4 || segs[0].Dst != addr {
		t.Fatalf("first segment %+v, want the client's SYN to %v", segs, addr)
	}
	if !slices.ContainsFunc(segs, func(s Segment) bool { return string(s.Payload) != "" && string(s.Payload[:4]) == "GET " }) {
		t.Errorf("no segment carries the request: %+v", segs)
	}
}

package l2

import (
	"net"
	"net/netip"
	"testing"
)

// TestReplyPathDoesNotAllocate: deciding and building an answer costs no
// allocation, for either family, whatever the snapshot size.
func TestReplyPathDoesNotAllocate(t *testing.T) {
	owned := bigOwnedSet(4096)
	arpReq, ns, nud := arpRequest(t, svc4), nsFrame(t, nsSpec{}), nsFrame(t, nsSpec{dst: svc6, noOptions: true})
	var out4 [arpFrameLen]byte
	var out6 [naFrameLen]byte
	tests := []struct {
		name string
		run  func() verdict
	}{
		{"ARP request", func() verdict { _, v := handleARP(arpReq, selfMAC, owned, &out4); return v }},
		{"multicast NS", func() verdict { _, v := handleNS(ns, selfMAC, owned, &out6); return v }},
		{"unicast NUD probe", func() verdict { _, v := handleNS(nud, selfMAC, owned, &out6); return v }},
		{"gratuitous ARP", func() verdict { putGratuitousARPRequest(&out4, selfMAC, svc4); return verdictReply }},
		{"unsolicited NA", func() verdict { putUnsolicitedNA(&out6, selfMAC, svc6); return verdictReply }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if v := tt.run(); v != verdictReply {
				t.Fatalf("verdict %v, want a reply", v)
			}
			if n := testing.AllocsPerRun(100, func() { tt.run() }); n != 0 {
				t.Fatalf("%v allocations per answer, want 0", n)
			}
		})
	}
}

// bigOwnedSet owns svc4, svc6 and n-2 other addresses.
func bigOwnedSet(n int) *ownedSet {
	s := owning(svc4, svc6)
	ip4, ip6 := netip.MustParseAddr("198.51.100.0"), netip.MustParseAddr("2001:db8:1::")
	for i := 2; i < n; i += 2 {
		ip4, ip6 = ip4.Next(), ip6.Next()
		s.ips[ip4] = &ipEntry{ip: ip4}
		s.ips[ip6] = &ipEntry{ip: ip6}
	}
	return s
}

func BenchmarkHandleARP(b *testing.B) {
	owned := bigOwnedSet(4096)
	frame := arpRequest(b, svc4)
	var out [arpFrameLen]byte
	b.ReportAllocs()
	for b.Loop() {
		if _, v := handleARP(frame, selfMAC, owned, &out); v != verdictReply {
			b.Fatal(v)
		}
	}
}

func BenchmarkHandleNS(b *testing.B) {
	owned := bigOwnedSet(4096)
	frame := nsFrame(b, nsSpec{})
	var out [naFrameLen]byte
	b.ReportAllocs()
	for b.Loop() {
		if _, v := handleNS(frame, selfMAC, owned, &out); v != verdictReply {
			b.Fatal(v)
		}
	}
}

// benchConn is a FrameConn that hands one frame to the reader and signals
// when the reply is written, without allocating.
type benchConn struct {
	in     chan []byte
	out    chan int
	closed chan struct{}
}

func newBenchConn() *benchConn {
	return &benchConn{in: make(chan []byte), out: make(chan int, 1), closed: make(chan struct{})}
}

func (c *benchConn) ReadFrom(b []byte) (int, net.Addr, error) {
	select {
	case f := <-c.in:
		return copy(b, f), nil, nil
	case <-c.closed:
		return 0, nil, net.ErrClosed
	}
}

func (c *benchConn) WriteTo(b []byte, _ net.Addr) (int, error) {
	c.out <- len(b)
	return len(b), nil
}

func (c *benchConn) Close() error {
	close(c.closed)
	return nil
}

// benchmarkRequestToReply measures from handing a question to the reader
// goroutine to its reply being written, through the Responder with 4,096
// owned IPs: the path a real request takes minus the kernel.
func benchmarkRequestToReply(b *testing.B, frame []byte, pick func(arp, ndp *benchConn) *benchConn) {
	arpC, ndpC := newBenchConn(), newBenchConn()
	r, err := New(Config{Name: "bench0", MAC: selfMAC, ARP: arpC, NDP: ndpC, Groups: newFakeGroups()})
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close()
	r.owned.Store(bigOwnedSet(4096)) // skip Set: no gratuitous frames in the way
	c := pick(arpC, ndpC)
	b.ReportAllocs()
	for b.Loop() {
		c.in <- frame
		<-c.out
	}
}

func BenchmarkResponderARPRequestToReply(b *testing.B) {
	benchmarkRequestToReply(b, arpRequest(b, svc4), func(a, _ *benchConn) *benchConn { return a })
}

func BenchmarkResponderNSRequestToReply(b *testing.B) {
	benchmarkRequestToReply(b, nsFrame(b, nsSpec{}), func(_, n *benchConn) *benchConn { return n })
}

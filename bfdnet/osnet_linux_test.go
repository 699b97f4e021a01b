package bfdnet

import (
	"errors"
	"net"
	"net/netip"
	"syscall"
	"testing"
	"unsafe"

	"github.com/heraldlb/herald/bgpwire/bfd"
	"golang.org/x/sys/unix"
)

// Ports for tests on the host's own loopback, away from BFD's: a BFD
// daemon of the host (or of a lab) may hold those.
var loopbackPorts = Options{SingleHopPort: 23784, MultihopPort: 24784, EchoPort: 23785}

var (
	lo1 = netip.MustParseAddr("127.0.0.1")
	lo2 = netip.MustParseAddr("127.0.0.2")
)

// newLoopbackManager is a Manager on the kernel's sockets, listening on
// one loopback address.
func newLoopbackManager(t testing.TB, listen netip.Addr, notify func(Change)) *Manager {
	t.Helper()
	o := loopbackPorts
	o.Network = OSNetwork{ListenAddr4: listen}
	o.Notify = notify
	o.Log = quietLog
	m, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Close() })
	return m
}

// sendWithTTL sends b from a plain UDP socket bound to from, with the TTL.
func sendWithTTL(t testing.TB, from netip.Addr, to netip.AddrPort, ttl int, b []byte) {
	t.Helper()
	lc := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
		return setsockopts(c, func(fd int) error { return unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_TTL, ttl) })
	}}
	pc, err := lc.ListenPacket(t.Context(), "udp4", netip.AddrPortFrom(from, 0).String())
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	if _, err := pc.(*net.UDPConn).WriteToUDPAddrPort(b, to); err != nil {
		t.Fatal(err)
	}
}

// Two Managers on the kernel's UDP sockets over the loopback: the socket
// options, control messages and source ports, without privileges.
func TestOSNetworkLoopback(t *testing.T) {
	a := newLoopbackManager(t, lo1, nil)
	b := newLoopbackManager(t, lo2, nil)
	p := profile(50, 3)
	sa, err := a.Add(SessionConfig{Key: Key{Peer: lo2, Local: lo1}, Profile: p})
	if err != nil {
		t.Fatal(err)
	}
	sb, err := b.Add(SessionConfig{Key: Key{Peer: lo1, Local: lo2}, Profile: p})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "both sessions up", func() bool { return sa.State() == bfd.Up && sb.State() == bfd.Up })
	st := sa.Stats()
	if st.SourcePort < SourcePortMin || st.Drops.Total()+st.TTLDrops+st.Malformed.Total() != 0 {
		t.Errorf("source port %d, drops %v TTL %d malformed %v", st.SourcePort, st.Drops, st.TTLDrops, st.Malformed)
	}

	// The peer's own packet, sent again with TTL 254 from its address: it
	// is dropped for its TTL and counted on the session.
	stb := sb.Stats()
	raw, err := bfd.AppendPacket(nil, &bfd.Packet{State: bfd.Up, DetectMult: 3, MyDiscr: stb.LocalDiscr,
		YourDiscr: stb.RemoteDiscr, DesiredMinTx: 50_000, RequiredMinRx: 50_000})
	if err != nil {
		t.Fatal(err)
	}
	to := netip.AddrPortFrom(lo1, loopbackPorts.SingleHopPort)
	sendWithTTL(t, lo2, to, 254, raw)
	waitFor(t, "the TTL drop", func() bool { return sa.Stats().TTLDrops == 1 })
	sendWithTTL(t, lo2, to, 255, raw[:10])
	waitFor(t, "the malformed packet", func() bool { m := sa.Stats().Malformed; return m.Of(bfd.DropBadLength) == 1 })
	if sa.State() != bfd.Up {
		t.Errorf("state %s after the bad packets", sa.State())
	}

	// A second Manager cannot take the same ports.
	o := loopbackPorts
	o.Network = OSNetwork{ListenAddr4: lo1}
	m2, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	defer m2.Close()
	if _, err := m2.Add(SessionConfig{Key: Key{Peer: lo2}, Profile: p}); !errors.Is(err, unix.EADDRINUSE) {
		t.Errorf("second Manager on the same port: %v", err)
	}
}

func TestParseControl(t *testing.T) {
	var oob []byte
	add := func(level, typ int32, data []byte) {
		h := make([]byte, unix.CmsgSpace(len(data)))
		c := (*unix.Cmsghdr)(unsafePointer(h))
		c.Level, c.Type = level, typ
		c.SetLen(unix.CmsgLen(len(data)))
		copy(h[unix.CmsgLen(0):], data)
		oob = append(oob, h...)
	}
	le := func(v uint32) []byte { return []byte{byte(v), byte(v >> 8), byte(v >> 16), byte(v >> 24)} }
	add(unix.IPPROTO_IP, unix.IP_TTL, le(254))
	pi := append(le(7), 0, 0, 0, 0, 192, 0, 2, 1)
	add(unix.IPPROTO_IP, unix.IP_PKTINFO, pi)
	add(unix.SOL_SOCKET, unix.SO_RXQ_OVFL, le(12))
	var info PacketInfo
	info.TTL = -1
	parseControl(oob, &info)
	if info.TTL != 254 || info.IfIndex != 7 || info.Dst != netip.MustParseAddr("192.0.2.1") || info.QueueDrops != 12 {
		t.Errorf("IPv4: %+v", info)
	}
	oob = oob[:0]
	a6 := netip.MustParseAddr("2001:db8::1").As16()
	add(unix.IPPROTO_IPV6, unix.IPV6_PKTINFO, append(a6[:], le(3)...))
	add(unix.IPPROTO_IPV6, unix.IPV6_HOPLIMIT, le(255))
	info = PacketInfo{TTL: -1}
	parseControl(oob, &info)
	if info.TTL != 255 || info.IfIndex != 3 || info.Dst != netip.MustParseAddr("2001:db8::1") {
		t.Errorf("IPv6: %+v", info)
	}
	// Truncated and garbage control data is ignored.
	for _, bad := range [][]byte{oob[:5], oob[:unix.CmsgLen(0)+2], make([]byte, 64)} {
		info = PacketInfo{TTL: -1}
		parseControl(bad, &info)
		if info.TTL != -1 && info.TTL != 255 {
			t.Errorf("garbage gave TTL %d", info.TTL)
		}
	}
}

func TestEchoFrame(t *testing.T) {
	var f [ethLen + ipv4Len + udpLen + echoLen]byte
	local := netip.MustParseAddr("192.0.2.1")
	buildEchoHeaders(f[:], [6]byte{2, 0, 0, 0, 0, 1}, local, bfd.EchoPort)
	payload := []byte{1, 16, 0, 0, 0, 0, 0, 42, 0, 0, 0, 0, 0, 0, 0, 99}
	finishEcho(f[:], payload)
	ip := f[ethLen:]
	if f[12] != 0x08 || f[13] != 0 || ip[0] != 0x45 || ip[8] != 255 || ip[9] != 17 {
		t.Fatalf("headers % x", f[:ethLen+ipv4Len])
	}
	// A header with its checksum sums to 0xffff; so does the UDP datagram
	// with its pseudo-header.
	if s := onesSum(0, ip[:ipv4Len]); s != 0xffff {
		t.Errorf("IPv4 header checksum does not verify: %#x", s)
	}
	pseudo := append(append([]byte{}, ip[12:20]...), 0, 17, 0, udpLen+echoLen)
	if s := onesSum(uint32(onesSum(0, pseudo)), ip[ipv4Len:]); s != 0xffff {
		t.Errorf("UDP checksum does not verify: %#x", s)
	}
	if got := ip[ipv4Len+udpLen:]; string(got) != string(payload) {
		t.Errorf("payload % x", got)
	}
	// What the packet socket reads back parses to the same payload and
	// addresses; a damaged header or a short frame does not parse.
	got, info, ok := parseEchoFrame(f[:])
	if !ok || string(got) != string(payload) || info.Src != netip.AddrPortFrom(local, bfd.EchoPort) || info.Dst != local || info.TTL != 255 {
		t.Errorf("parsed: ok %v payload % x info %+v", ok, got, info)
	}
	bad := f
	bad[ethLen+8] = 254 // TTL changed without the checksum
	if _, _, ok := parseEchoFrame(bad[:]); ok {
		t.Error("a header with a wrong checksum parsed")
	}
	if _, _, ok := parseEchoFrame(f[:ethLen+ipv4Len+4]); ok {
		t.Error("a truncated frame parsed")
	}
}

func unsafePointer(b []byte) unsafe.Pointer { return unsafe.Pointer(&b[0]) }

// The kernel sockets send and receive without allocating: from the bound
// port, with TTL 255, and the receive side reports TTL and destination.
func TestOSSocketsDoNotAllocate(t *testing.T) {
	n := OSNetwork{}
	recv, err := n.Listen(IPv4, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer recv.Close()
	port := uint16(recv.(*osRecv).c.LocalAddr().(*net.UDPAddr).Port)
	var snd SendConn
	for p := uint16(SourcePortMin + 1000); snd == nil; p++ {
		if snd, err = n.OpenSender(SenderSpec{Family: IPv4, Local: lo1, Port: p}); err != nil && !errors.Is(err, ErrPortInUse) {
			t.Fatal(err)
		}
	}
	defer snd.Close()
	dst := netip.AddrPortFrom(lo1, port)
	payload := []byte("bfd")
	if allocs := testing.AllocsPerRun(100, func() {
		if err := snd.WritePacket(payload, dst); err != nil {
			t.Fatal(err)
		}
	}); allocs != 0 {
		t.Errorf("%v allocations per send", allocs)
	}
	b := make([]byte, 64)
	m, info, err := recv.ReadPacket(b)
	if err != nil || string(b[:m]) != "bfd" || info.Src != netip.AddrPortFrom(lo1, snd.LocalPort()) || info.TTL != 255 || info.Dst != lo1 {
		t.Errorf("received %q from %v to %v TTL %d: %v", b[:m], info.Src, info.Dst, info.TTL, err)
	}
	// Reading (with the control messages) allocates nothing either; 100
	// of the 101 packets sent are still queued.
	if allocs := testing.AllocsPerRun(99, func() {
		if _, _, err := recv.ReadPacket(b); err != nil {
			t.Fatal(err)
		}
	}); allocs != 0 {
		t.Errorf("%v allocations per receive", allocs)
	}
}

package bfdnet

import (
	"bytes"
	"net/netip"
	"testing"

	"github.com/heraldlb/herald/bgpwire/bfd"
	"golang.org/x/sys/unix"
)

// FuzzParseControl: whatever control data the kernel (or a fuzzer)
// hands over, parsing stays within it and never panics.
func FuzzParseControl(f *testing.F) {
	le := func(v uint32) []byte { return []byte{byte(v), byte(v >> 8), byte(v >> 16), byte(v >> 24)} }
	msg := func(level, typ int32, data []byte) []byte {
		b := make([]byte, unix.CmsgSpace(len(data)))
		c := (*unix.Cmsghdr)(unsafePointer(b))
		c.Level, c.Type = level, typ
		c.SetLen(unix.CmsgLen(len(data)))
		copy(b[unix.CmsgLen(0):], data)
		return b
	}
	a6 := netip.MustParseAddr("2001:db8::1").As16()
	f.Add(append(msg(unix.IPPROTO_IP, unix.IP_TTL, le(255)), msg(unix.IPPROTO_IP, unix.IP_PKTINFO, append(le(2), 0, 0, 0, 0, 192, 0, 2, 1))...))
	f.Add(append(msg(unix.IPPROTO_IPV6, unix.IPV6_PKTINFO, append(a6[:], le(2)...)), msg(unix.IPPROTO_IPV6, unix.IPV6_HOPLIMIT, le(64))...))
	f.Add(msg(unix.IPPROTO_IP, unix.IP_TTL, nil))
	f.Fuzz(func(t *testing.T, oob []byte) {
		// The kernel's buffer is 8-byte aligned; so is a fresh copy.
		b := make([]byte, len(oob))
		copy(b, oob)
		info := PacketInfo{TTL: -1}
		parseControl(b, &info)
		if info.Dst.IsValid() && !info.Dst.Is4() && !info.Dst.Is6() {
			t.Fatalf("destination %v", info.Dst)
		}
	})
}

// FuzzParseEchoFrame: a frame parses only if its headers hold together,
// and then the payload lies within the frame and the addresses and TTL
// are its header's.
func FuzzParseEchoFrame(f *testing.F) {
	var frame [ethLen + ipv4Len + udpLen + echoLen]byte
	buildEchoHeaders(frame[:], [6]byte{2, 0, 0, 0, 0, 1}, netip.MustParseAddr("192.0.2.1"), bfd.EchoPort)
	finishEcho(frame[:], []byte{1, 16, 0, 0, 0, 0, 0, 42, 0, 0, 0, 0, 0, 0, 0, 99})
	f.Add(frame[:])
	f.Add(frame[:ethLen+ipv4Len])
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		payload, info, ok := parseEchoFrame(b)
		if !ok {
			return
		}
		if len(payload) > len(b) || (len(payload) > 0 && !bytes.Contains(b, payload)) {
			t.Fatalf("payload of %d bytes not within the %d-byte frame", len(payload), len(b))
		}
		if info.TTL != int(b[ethLen+8]) || info.Dst != netip.AddrFrom4([4]byte(b[ethLen+16:ethLen+20])) {
			t.Fatalf("info %+v from header % x", info, b[ethLen:ethLen+ipv4Len])
		}
	})
}

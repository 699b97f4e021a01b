package bgpnet

import (
	"errors"
	"net/netip"
	"testing"

	"golang.org/x/net/bpf"
	"pgregory.net/rapid"
)

// The listener's filter runs here in x/net/bpf's interpreter, on bare IP
// headers (network offset 0), against a model written apart from it: a
// packet is kept when its version is 4 or 6 and some peer has the source
// address read at that version's offset, with a minimum TTL no higher than
// the packet's.

// ipHeader builds the first bytes of an IPv4 or IPv6 header: version, TTL
// (hop limit) and source address where the filter reads them.
func ipHeader(src netip.Addr, ttl uint8, version byte) []byte {
	if src.Is4() {
		b := make([]byte, 20)
		b[0] = version<<4 | 5
		b[8] = ttl
		a := src.As4()
		copy(b[12:16], a[:])
		return b
	}
	b := make([]byte, 40)
	b[0] = version << 4
	b[7] = ttl
	a := src.As16()
	copy(b[8:24], a[:])
	return b
}

// fataler is what runFilter needs of a *testing.T or a *rapid.T.
type fataler interface {
	Helper()
	Fatal(args ...any)
	Fatalf(format string, args ...any)
}

func runFilter(t fataler, peers []filterPeer, packet []byte) bool {
	t.Helper()
	prog, err := buildFilter(peers, 0)
	if err != nil {
		t.Fatal(err)
	}
	vm, err := bpf.NewVM(prog)
	if err != nil {
		t.Fatalf("the interpreter refuses the program: %v", err)
	}
	n, err := vm.Run(packet)
	if err != nil {
		t.Fatal(err)
	}
	switch uint32(n) {
	case dropPacket:
		return false
	case keepPacket:
		return true
	}
	t.Fatalf("verdict %d is neither drop nor keep", n)
	return false
}

// model reads the packet as its version says and looks the source up.
func model(peers []filterPeer, packet []byte) bool {
	var src netip.Addr
	var ttl uint8
	switch packet[0] >> 4 {
	case 4:
		if len(packet) < 20 {
			return false // a load past the end drops the packet
		}
		src, ttl = netip.AddrFrom4([4]byte(packet[12:16])), packet[8]
	case 6:
		if len(packet) < 40 {
			return false
		}
		src, ttl = netip.AddrFrom16([16]byte(packet[8:24])), packet[7]
	default:
		return false
	}
	for _, p := range peers {
		if p.addr.Unmap().WithZone("") == src && ttl >= p.minTTL {
			return true
		}
	}
	return false
}

func TestFilterCases(t *testing.T) {
	peers := []filterPeer{
		{addr: mustAddr("192.0.2.1"), minTTL: 254},
		{addr: mustAddr("192.0.2.2")},
		{addr: mustAddr("2001:db8::1"), minTTL: 255},
		{addr: mustAddr("fe80::1%eth0"), minTTL: 254},
		{addr: mustAddr("fe80::1%eth1")}, // same address elsewhere: the looser minimum wins
	}
	for _, c := range []struct {
		name    string
		src     string
		ttl     uint8
		version byte
		keep    bool
	}{
		{"GTSM peer at 255", "192.0.2.1", 255, 4, true},
		{"GTSM peer at 254", "192.0.2.1", 254, 4, true},
		{"GTSM peer at 253", "192.0.2.1", 253, 4, false},
		{"GTSM peer at 1", "192.0.2.1", 1, 4, false},
		{"multihop peer at 1", "192.0.2.2", 1, 4, true},
		{"unknown IPv4", "192.0.2.3", 255, 4, false},
		{"IPv6 strict GTSM at 255", "2001:db8::1", 255, 6, true},
		{"IPv6 strict GTSM at 254", "2001:db8::1", 254, 6, false},
		{"IPv6 differing in the last word", "2001:db8::2", 255, 6, false},
		{"IPv6 differing in the first word", "2001:db9::1", 255, 6, false},
		{"link-local on two interfaces, looser minimum", "fe80::1", 3, 6, true},
		{"unknown IPv6", "2001:db8::99", 255, 6, false},
		{"IPv4 address in an IPv6-versioned header", "192.0.2.2", 255, 6, false},
		{"unknown IP version", "192.0.2.2", 255, 5, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			src := mustAddr(c.src)
			if got := runFilter(t, peers, ipHeader(src, c.ttl, c.version)); got != c.keep {
				t.Errorf("kept = %v, want %v", got, c.keep)
			}
		})
	}
	t.Run("no peers drops everything", func(t *testing.T) {
		for _, p := range [][]byte{ipHeader(mustAddr("192.0.2.1"), 255, 4), ipHeader(mustAddr("::1"), 255, 6)} {
			if runFilter(t, nil, p) {
				t.Error("kept a packet with no peers")
			}
		}
	})
}

// The filter agrees with the model on random peer tables and packets,
// drawn from a small address pool so hits are common.
func TestFilterMatchesModel(t *testing.T) {
	pool := []netip.Addr{
		mustAddr("10.0.0.1"), mustAddr("10.0.0.2"), mustAddr("10.0.1.1"), mustAddr("255.255.255.255"),
		mustAddr("2001:db8::1"), mustAddr("2001:db8::2"), mustAddr("2001:db8:1::1"), mustAddr("fe80::1"),
		mustAddr("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"),
	}
	rapid.Check(t, func(t *rapid.T) {
		peers := rapid.SliceOfN(rapid.Custom(func(t *rapid.T) filterPeer {
			return filterPeer{
				addr:   rapid.SampledFrom(pool).Draw(t, "addr"),
				minTTL: rapid.SampledFrom([]uint8{0, 1, 64, 253, 254, 255}).Draw(t, "minTTL"),
			}
		}), 0, 12).Draw(t, "peers")
		for range 8 {
			src := rapid.SampledFrom(pool).Draw(t, "src")
			ttl := rapid.Uint8().Draw(t, "ttl")
			version := byte(4)
			if src.Is6() {
				version = 6
			}
			version = rapid.SampledFrom([]byte{version, version, version, 4, 6, 0, 15}).Draw(t, "version")
			packet := ipHeader(src, ttl, version)
			want := model(peers, packet)
			if got := runFilter(t, peers, packet); got != want {
				t.Fatalf("src %v ttl %d version %d: kept = %v, model says %v", src, ttl, version, got, want)
			}
		}
	})
}

// A table too large for one classic program is refused with
// ErrTooManyPeers, not truncated.
func TestFilterTooManyPeers(t *testing.T) {
	table := func(n int, base string, minTTL uint8) []filterPeer {
		out := make([]filterPeer, n)
		a := mustAddr(base)
		for i := range out {
			out[i] = filterPeer{addr: a, minTTL: minTTL}
			a = a.Next()
		}
		return out
	}
	for _, c := range []struct {
		name  string
		peers []filterPeer
		fits  bool
	}{
		{"340 IPv6 GTSM peers", table(340, "2001:db8::1", 254), true},
		{"341 IPv6 GTSM peers", table(341, "2001:db8::1", 254), false},
		{"681 IPv4 GTSM peers", table(681, "10.0.0.1", 254), true},
		{"682 IPv4 GTSM peers", table(682, "10.0.0.1", 254), false},
		{"1000 IPv4 multihop peers", table(1000, "10.0.0.1", 0), true},
	} {
		t.Run(c.name, func(t *testing.T) {
			prog, err := buildFilter(c.peers, skfNetOff)
			if c.fits {
				if err != nil {
					t.Fatal(err)
				}
				if len(prog) > bpfMaxInsns {
					t.Fatalf("%d instructions", len(prog))
				}
				if _, err := bpf.Assemble(prog); err != nil {
					t.Fatalf("assemble: %v", err)
				}
				return
			}
			if !errors.Is(err, ErrTooManyPeers) {
				t.Fatalf("error %v, want ErrTooManyPeers", err)
			}
		})
	}
}

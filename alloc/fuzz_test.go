package alloc

import (
	"encoding/binary"
	"net/netip"
	"testing"
)

// FuzzParseRange: whatever parses is a well-formed range of one family whose
// String parses back to the same range; nothing panics.
func FuzzParseRange(f *testing.F) {
	for _, s := range []string{"10.0.0.0/24", "10.0.0.1-10.0.0.9", " 10.0.0.1 - 10.0.0.9 ", "2001:db8::/64",
		"2001:db8::1-2001:db8::ff", "::/0", "0.0.0.0/0", "::ffff:10.0.0.0/120", "10.0.0.9-10.0.0.1", "fe80::1%eth0/64"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParseRange(s)
		if err != nil {
			return
		}
		if err := r.validate(); err != nil {
			t.Fatalf("ParseRange(%q) = %v, invalid: %v", s, r, err)
		}
		if (r.First.Is4In6() && r.Last.Is4In6()) || r.First.Is4() != r.Last.Is4() {
			t.Fatalf("ParseRange(%q) = %v: mapped or mixed families", s, r)
		}
		back, err := ParseRange(r.String())
		if err != nil || back != r {
			t.Fatalf("ParseRange(%q) = %v; String %q parses to %v, %v", s, r, r.String(), back, err)
		}
	})
}

// FuzzAddrSpace: for IPv4 spaces built from fuzzed ranges (with and without
// avoidBuggyIPs), ordinal and addrAt are inverse, monotonic, and agree with
// a direct count of usable addresses.
func FuzzAddrSpace(f *testing.F) {
	f.Add([]byte{10, 0, 0, 250, 0, 20, 10, 0, 1, 0, 1, 0}, true, uint16(300))
	f.Add([]byte{192, 168, 0, 0, 1, 0}, false, uint16(17))
	f.Fuzz(func(t *testing.T, spec []byte, avoid bool, probe uint16) {
		var rs []Range
		for len(spec) >= 6 && len(rs) < 8 {
			start := binary.BigEndian.Uint32(spec[:4])
			n := uint32(binary.BigEndian.Uint16(spec[4:6])) % 2048
			spec = spec[6:]
			if start+n < start {
				continue
			}
			rs = append(rs, Range{u128ToAddr(IPv4, u64(uint64(start))), u128ToAddr(IPv4, u64(uint64(start+n)))})
		}
		s := newAddrSpace(IPv4, avoid, rs)
		if s == nil {
			return
		}
		// Walk ordinals from 0 up to probe, checking each maps back and that
		// addresses strictly increase and are usable members of some range.
		var prev netip.Addr
		for o := uint64(0); o <= uint64(probe) && !s.lastOrd.less(u64(o)); o++ {
			x := s.addrAt(u64(o))
			ip := u128ToAddr(IPv4, x)
			if back, ok := s.ordinal(x); !ok || back != u64(o) {
				t.Fatalf("addrAt(%d) = %v, ordinal back %v %v", o, ip, back, ok)
			}
			if prev.IsValid() && !prev.Less(ip) {
				t.Fatalf("addrAt not increasing: %v then %v", prev, ip)
			}
			if avoid && buggy(x) {
				t.Fatalf("avoided address %v handed out", ip)
			}
			in := false
			for _, r := range rs {
				in = in || (!ip.Less(r.First) && !r.Last.Less(ip))
			}
			if !in {
				t.Fatalf("addrAt(%d) = %v is outside every range %v", o, ip, rs)
			}
			prev = ip
		}
	})
}

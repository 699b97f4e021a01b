package alloc

import (
	"errors"
	"math/big"
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseRange(t *testing.T) {
	tests := []struct {
		in      string
		want    Range
		wantStr string
		wantErr bool
	}{
		{in: "10.0.0.0/24", want: Range{netip.MustParseAddr("10.0.0.0"), netip.MustParseAddr("10.0.0.255")}, wantStr: "10.0.0.0/24"},
		{in: "10.0.0.7/24", want: Range{netip.MustParseAddr("10.0.0.0"), netip.MustParseAddr("10.0.0.255")}, wantStr: "10.0.0.0/24"},
		{in: "10.0.0.1-10.0.0.5", want: Range{netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.5")}, wantStr: "10.0.0.1-10.0.0.5"},
		{in: " 10.0.0.4 - 10.0.0.7 ", want: Range{netip.MustParseAddr("10.0.0.4"), netip.MustParseAddr("10.0.0.7")}, wantStr: "10.0.0.4/30"},
		{in: "2001:db8::/64", want: Range{netip.MustParseAddr("2001:db8::"), netip.MustParseAddr("2001:db8::ffff:ffff:ffff:ffff")}, wantStr: "2001:db8::/64"},
		{in: "2001:db8::1-2001:db8::100", want: Range{netip.MustParseAddr("2001:db8::1"), netip.MustParseAddr("2001:db8::100")}, wantStr: "2001:db8::1-2001:db8::100"},
		{in: "::/0", want: Range{netip.MustParseAddr("::"), netip.MustParseAddr("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff")}, wantStr: "::/0"},
		{in: "::ffff:10.0.0.0/120", want: Range{netip.MustParseAddr("10.0.0.0"), netip.MustParseAddr("10.0.0.255")}, wantStr: "10.0.0.0/24"},
		{in: "::ffff:10.0.0.1-::ffff:10.0.0.2", want: Range{netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2")}, wantStr: "10.0.0.1-10.0.0.2"},
		{in: "10.0.0.5-10.0.0.1", wantErr: true},
		{in: "10.0.0.1-2001:db8::1", wantErr: true},
		{in: "fe80::1%eth0-fe80::2%eth0", wantErr: true},
		{in: "10.0.0.0/33", wantErr: true},
		{in: "banana", wantErr: true},
		{in: "", wantErr: true},
		{in: "10.0.0.1-", wantErr: true},
	}
	for _, tt := range tests {
		got, err := ParseRange(tt.in)
		if tt.wantErr {
			if !errors.Is(err, ErrInvalidPool) {
				t.Errorf("ParseRange(%q) = %v, %v; want ErrInvalidPool", tt.in, got, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseRange(%q): %v", tt.in, err)
			continue
		}
		if diff := cmp.Diff(tt.want, got, cmp.Comparer(func(a, b netip.Addr) bool { return a == b })); diff != "" {
			t.Errorf("ParseRange(%q) (-want +got):\n%s", tt.in, diff)
		}
		if s := got.String(); s != tt.wantStr {
			t.Errorf("ParseRange(%q).String() = %q, want %q", tt.in, s, tt.wantStr)
		}
	}
}

func pow2(n uint) *big.Int { return new(big.Int).Lsh(big.NewInt(1), n) }

func TestCapacity(t *testing.T) {
	tests := []struct {
		name       string
		ranges     []string
		avoidBuggy bool
		want4      int64
		want6      *big.Int
	}{
		{"v4 /24", []string{"10.0.0.0/24"}, false, 256, big.NewInt(0)},
		{"v4 /24 buggy", []string{"10.0.0.0/24"}, true, 254, big.NewInt(0)},
		{"v4 /15 buggy", []string{"10.0.0.0/15"}, true, 512 * 254, big.NewInt(0)},
		{"v4 /30 at start of /24, buggy", []string{"10.0.0.0/30"}, true, 3, big.NewInt(0)},
		{"v4 /30 at end of /24, buggy", []string{"10.0.0.252/30"}, true, 3, big.NewInt(0)},
		{"v4 range across /24, buggy", []string{"10.0.0.250-10.0.1.5"}, true, 10, big.NewInt(0)},
		{"v4 only buggy addresses", []string{"10.0.0.255-10.0.1.0"}, true, 0, big.NewInt(0)},
		{"v4 overlapping ranges merge", []string{"10.0.0.0/25", "10.0.0.64-10.0.0.200", "10.0.0.201/32"}, false, 202, big.NewInt(0)},
		{"v6 buggy unaffected", []string{"2001:db8::/120"}, true, 0, big.NewInt(256)},
		{"v6 /64", []string{"2001:db8::/64"}, false, 0, pow2(64)},
		{"v6 /48 + v4", []string{"2001:db8::/48", "10.0.0.0/31"}, false, 2, pow2(80)},
		{"v6 everything saturates", []string{"::/0"}, false, 0, new(big.Int).Sub(pow2(128), big.NewInt(1))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := pool(t, "p", tt.ranges...)
			p.AvoidBuggyIPs = tt.avoidBuggy
			a := newAlloc(t, p)
			st := a.Stats()[0]
			if got := st.IPv4.Capacity.Uint64(); got != uint64(tt.want4) {
				t.Errorf("IPv4 capacity %d, want %d", got, tt.want4)
			}
			if got := st.IPv6.Capacity.Big(); got.Cmp(tt.want6) != 0 {
				t.Errorf("IPv6 capacity %s, want %s", got, tt.want6)
			}
			if st.IPv4.Available != st.IPv4.Capacity || st.IPv6.Available != st.IPv6.Capacity {
				t.Errorf("empty pool: available %v/%v, capacity %v/%v", st.IPv4.Available, st.IPv6.Available, st.IPv4.Capacity, st.IPv6.Capacity)
			}
		})
	}
}

// Every usable address maps to an ordinal and back, in order, and unusable
// ones map to none; checked exhaustively on small spaces.
func TestOrdinalRoundTrip(t *testing.T) {
	for _, buggy := range []bool{false, true} {
		rs := ranges(t, "10.0.0.250-10.0.2.3", "10.0.3.255/32", "10.0.5.0/30", "10.0.6.200-10.0.6.255")
		s := newAddrSpace(IPv4, buggy, rs)
		next := u128{}
		for x := addrToU128(netip.MustParseAddr("10.0.0.0")); x.less(addrToU128(netip.MustParseAddr("10.0.8.0"))); x = x.inc() {
			in := false
			for _, r := range rs {
				if !x.less(addrToU128(r.First)) && !addrToU128(r.Last).less(x) {
					in = true
				}
			}
			want := in && !(buggy && buggy4(x))
			o, ok := s.ordinal(x)
			if ok != want {
				t.Fatalf("buggy=%v ordinal(%v) ok=%v want %v", buggy, u128ToAddr(IPv4, x), ok, want)
			}
			if !ok {
				continue
			}
			if o != next {
				t.Fatalf("buggy=%v ordinal(%v) = %v want %v", buggy, u128ToAddr(IPv4, x), o, next)
			}
			if back := s.addrAt(o); back != x {
				t.Fatalf("buggy=%v addrAt(%v) = %v want %v", buggy, o, u128ToAddr(IPv4, back), u128ToAddr(IPv4, x))
			}
			next = next.inc()
		}
		if s.lastOrd != next.dec() || s.capacity != next {
			t.Fatalf("buggy=%v lastOrd %v capacity %v, counted %v", buggy, s.lastOrd, s.capacity, next)
		}
	}
}

func buggy4(x u128) bool { return buggy(x) }

func TestIntervalSet(t *testing.T) {
	var s intervalSet
	present := map[uint64]bool{}
	seq := []int64{5, 3, 4, 9, 0, 1, 2, -4, 7, 8, 6, -0, -9, -5, 5, 10, -1, -7, -2, -3, -6, -8, -10, 11}
	for _, v := range seq {
		x := uint64(v)
		if v < 0 || (v == 0 && present[0] && len(present) > 5) {
			x = uint64(-v)
			if got := s.remove(u64(x)); got != present[x] {
				t.Fatalf("remove(%d) = %v", x, got)
			}
			delete(present, x)
		} else {
			if got := s.add(u64(x)); got == present[x] {
				t.Fatalf("add(%d) = %v", x, got)
			}
			present[x] = true
		}
		var lowest uint64
		for present[lowest] {
			lowest++
		}
		if got := s.lowestAbsent(); got != u64(lowest) {
			t.Fatalf("after %d: lowestAbsent %v want %d", v, got, lowest)
		}
		runs := 0
		prevHi := int64(-2)
		s.ascend(func(lo, hi u128) bool {
			if int64(lo.lo) <= prevHi+1 {
				t.Fatalf("runs not coalesced: [%d..] after %d", lo.lo, prevHi)
			}
			for i := lo.lo; i <= hi.lo; i++ {
				if !present[i] {
					t.Fatalf("%d in set but not present", i)
				}
			}
			prevHi = int64(hi.lo)
			runs++
			return true
		})
		if runs != s.intervals {
			t.Fatalf("intervals %d, counted %d", s.intervals, runs)
		}
	}
}

package config_test

import (
	"errors"
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/heraldlb/herald/config"
)

func TestParseAddressRange(t *testing.T) {
	tests := []struct {
		in       string
		want     string // String() of the result
		shortest int
		err      error
	}{
		{"192.168.10.0/24", "192.168.10.0/24", 24, nil},
		{"192.168.10.7/24", "192.168.10.0/24", 24, nil}, // host bits cleared, as MetalLB does
		{"192.168.9.1-192.168.9.5", "192.168.9.1-192.168.9.5", 31, nil},
		{"192.168.9.0 - 192.168.9.255", "192.168.9.0-192.168.9.255", 24, nil},
		{"10.0.0.1-10.0.0.1", "10.0.0.1-10.0.0.1", 32, nil},
		{"0.0.0.0-255.255.255.255", "0.0.0.0-255.255.255.255", 0, nil},
		{"fc00:f853:0ccd:e799::/124", "fc00:f853:ccd:e799::/124", 124, nil},
		{"2001:100:4::200-2001:100:4::400", "2001:100:4::200-2001:100:4::400", 119, nil},
		{"10.0.0.9-10.0.0.1", "", 0, config.ErrRangeReversed},
		{"10.0.0.1-fd00::1", "", 0, config.ErrMixedFamily},
		{"10.0.0.1", "", 0, config.ErrInvalidAddress},
		{"10.0.0.0/33", "", 0, config.ErrInvalidAddress},
		{"bogus", "", 0, config.ErrInvalidAddress},
		{"x-10.0.0.1", "", 0, config.ErrInvalidAddress},
		{"10.0.0.1-y", "", 0, config.ErrInvalidAddress},
		{"fe80::1%eth0-fe80::2", "", 0, config.ErrInvalidAddress},
		{"::ffff:10.0.0.1-::ffff:10.0.0.2", "", 0, config.ErrInvalidAddress},
		{"::ffff:10.0.0.0/120", "", 0, config.ErrInvalidAddress},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			r, err := config.ParseAddressRange(tt.in)
			if !errors.Is(err, tt.err) {
				t.Fatalf("error %v, want %v", err, tt.err)
			}
			if err != nil {
				return
			}
			got := struct {
				S        string
				Shortest int
			}{r.String(), r.ShortestPrefixLen()}
			want := struct {
				S        string
				Shortest int
			}{tt.want, tt.shortest}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestAddrRangeRelations(t *testing.T) {
	mk := func(s string) config.AddrRange {
		r, err := config.ParseAddressRange(s)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	a, b, c, v6 := mk("10.0.0.0/24"), mk("10.0.0.255-10.0.1.3"), mk("10.0.1.4-10.0.1.9"), mk("::/0")
	got := []bool{a.Overlaps(b), b.Overlaps(c), a.Overlaps(v6), v6.Is6(), a.Is6(),
		a.Contains(netip.MustParseAddr("10.0.0.77")), a.Contains(netip.MustParseAddr("10.0.1.0")),
		v6.Contains(netip.MustParseAddr("10.0.0.1"))}
	want := []bool{true, false, false, true, false, true, false, false}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestParseCommunity(t *testing.T) {
	tests := []struct {
		in   string
		want config.Community
		err  bool
	}{
		{"65535:65282", config.NoAdvertise, false},
		{"8000:800", config.Community{Standard: 8000<<16 | 800}, false},
		{"0:0", config.Community{}, false},
		{"no-export", config.NoExport, false},
		{"NO_EXPORT_SUBCONFED", config.NoExportSubconfed, false},
		{"no-peer", config.NoPeer, false},
		{"blackhole", config.Blackhole, false},
		{"graceful-shutdown", config.GracefulShutdown, false},
		{"65535:666", config.Blackhole, false},
		{"large:4294967295:0:1", config.Community{Large: true, GlobalAdmin: 4294967295, LocalData1: 0, LocalData2: 1}, false},
		{"LARGE:1:2:3", config.Community{Large: true, GlobalAdmin: 1, LocalData1: 2, LocalData2: 3}, false},
		{"65536:1", config.Community{}, true},
		{"1:-1", config.Community{}, true},
		{"1:+1", config.Community{}, true},
		{":1", config.Community{}, true},
		{"1:2:3", config.Community{}, true},
		{"large:1:2:4294967296", config.Community{}, true},
		{"large:1:2", config.Community{}, true},
		{"no-exports", config.Community{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := config.ParseCommunity(tt.in)
			if (err != nil) != tt.err {
				t.Fatalf("error %v, want error %v", err, tt.err)
			}
			if err != nil {
				if !errors.Is(err, config.ErrInvalidCommunity) {
					t.Errorf("%v is not ErrInvalidCommunity", err)
				}
				return
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestCommunityString(t *testing.T) {
	got := []string{config.NoAdvertise.String(), config.Community{Large: true, GlobalAdmin: 1, LocalData1: 2, LocalData2: 3}.String()}
	if diff := cmp.Diff([]string{"65535:65282", "large:1:2:3"}, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

// FuzzParseAddressRange checks that whatever parses is a well-formed
// range that prints back to itself.
func FuzzParseAddressRange(f *testing.F) {
	for _, s := range []string{"10.0.0.0/24", "10.0.0.1-10.0.0.9", "fc00::/124", "fc00::1 - fc00::ff", "1.2.3.4"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := config.ParseAddressRange(s)
		if err != nil {
			return
		}
		if !r.First.IsValid() || r.First.Is4() != r.Last.Is4() || r.Last.Less(r.First) {
			t.Fatalf("%q: malformed %#v", s, r)
		}
		again, err := config.ParseAddressRange(r.String())
		if err != nil || again != r {
			t.Fatalf("%q: %s parses to %v, %v", s, r, again, err)
		}
		n := r.ShortestPrefixLen()
		if n < 0 || n > r.First.BitLen() || (r.Prefix.IsValid() && n != r.Prefix.Bits()) {
			t.Fatalf("%q: shortest prefix %d", s, n)
		}
		if !r.Contains(r.First) || !r.Contains(r.Last) || !r.Overlaps(again) {
			t.Fatalf("%q: range does not contain its ends", s)
		}
	})
}

// FuzzParseCommunity checks that every community that parses prints to a
// string that parses to the same value.
func FuzzParseCommunity(f *testing.F) {
	for _, s := range []string{"65535:65282", "8000:800", "no-export", "large:1:2:3", "1:2:3", "65536:1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, err := config.ParseCommunity(s)
		if err != nil {
			return
		}
		again, err := config.ParseCommunity(c.String())
		if err != nil || again != c {
			t.Fatalf("%q: %s parses to %v, %v", s, c, again, err)
		}
	})
}

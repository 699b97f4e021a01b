package bgpwire

import (
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// cmpOpts compares decoded values: netip types by value, empty and nil
// slices alike (a reused Update keeps empty non-nil slices), and the
// unexported backing stores not at all.
var cmpOpts = []cmp.Option{
	cmp.Comparer(func(a, b netip.Addr) bool { return a == b }),
	cmp.Comparer(func(a, b netip.Prefix) bool { return a == b }),
	cmpopts.EquateEmpty(),
	cmpopts.IgnoreUnexported(Update{}, Capabilities{}),
}

func pfx(s string) netip.Prefix { return netip.MustParsePrefix(s) }
func addr(s string) netip.Addr  { return netip.MustParseAddr(s) }

// hostPrefixes returns n host routes counting up from base.
func hostPrefixes(base string, n int) []netip.Prefix {
	a := netip.MustParseAddr(base)
	out := make([]netip.Prefix, n)
	for i := range out {
		out[i] = netip.PrefixFrom(a, a.BitLen())
		a = a.Next()
	}
	return out
}

// splitMessages frames a byte stream into messages by their headers.
func splitMessages(t testing.TB, b []byte, s Session) [][]byte {
	t.Helper()
	var out [][]byte
	for len(b) > 0 {
		h, err := ParseHeader(b, s.MaxLen())
		if err != nil {
			t.Fatalf("framing: %v", err)
		}
		if int(h.Length) > len(b) {
			t.Fatalf("framing: length %d past the end (%d left)", h.Length, len(b))
		}
		out = append(out, b[:h.Length])
		b = b[h.Length:]
	}
	return out
}

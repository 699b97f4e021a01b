package bgpwire

import (
	"bytes"
	"errors"
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// sameAsPrefixPath checks that the wire-form packers append exactly what the
// netip.Prefix packers append for the same inputs, errors included, and
// leave dst alone on error.
func sameAsPrefixPath(t testing.TB, s Session, a *Attributes, nh NextHop, prefixes []netip.Prefix) {
	t.Helper()
	dst := []byte("keep")
	want, wantErr := AppendAnnounce(dst, s, a, nh, prefixes)
	l, listErr := NewNLRIList(prefixes)
	if listErr != nil {
		if wantErr == nil {
			t.Fatalf("NewNLRIList: %v, but AppendAnnounce accepts the prefixes", listErr)
		}
		return
	}
	// AppendAnnounce reports a bad next hop with the first message; the
	// wire-form path reports it when the set is encoded, which needs a
	// family even for an empty list.
	fam := l.Family()
	if fam == 0 {
		fam = AFIIPv4
	}
	var w AttrSet
	got, gotErr := dst, w.Encode(s, a, nh, fam)
	if gotErr == nil {
		got, gotErr = AppendAnnounceNLRI(dst, &w, l)
	} else if l.Len() == 0 {
		gotErr = nil
	}
	if !errors.Is(gotErr, wantErr) {
		t.Fatalf("announce: error %v, AppendAnnounce %v", gotErr, wantErr)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("announce: %d bytes differ from AppendAnnounce's %d\nnlri % x\nwant % x", len(got), len(want), got, want)
	}
	if wantErr != nil && string(got) != "keep" {
		t.Fatalf("announce: dst changed on error")
	}
	want, wantErr = AppendWithdraw(dst, s, prefixes)
	got, gotErr = AppendWithdrawNLRI(dst, s, l)
	if !errors.Is(gotErr, wantErr) || !bytes.Equal(got, want) {
		t.Fatalf("withdraw: %v % x\nAppendWithdraw: %v % x", gotErr, got, wantErr, want)
	}
	if diff := cmp.Diff(prefixes, l.AppendPrefixes(nil), cmpOpts...); diff != "" {
		t.Fatalf("list contents (-want +got):\n%s", diff)
	}
}

func TestNLRIMatchesPrefixPath(t *testing.T) {
	withComms := minimalAttrs()
	withComms.Communities = []Community{NewCommunity(64512, 100), NewCommunity(64512, 200)}
	big := minimalAttrs()
	big.Unknown = []RawAttribute{{Flags: FlagOptional | FlagTransitive, Type: 99, Value: make([]byte, 4050)}}
	v4nh := NextHop{Addr: addr("192.0.2.1")}
	v6nh := NextHop{Addr: addr("2001:db8::1")}
	v6nhLL := NextHop{Addr: addr("2001:db8::1"), LinkLocal: addr("fe80::1")}
	mixedLengths := []netip.Prefix{pfx("10.0.0.0/8"), pfx("0.0.0.0/0"), pfx("192.0.2.0/25"), pfx("198.51.100.7/32"), pfx("172.16.0.0/12")}
	var manyMixed []netip.Prefix
	for range 400 {
		manyMixed = append(manyMixed, mixedLengths...)
	}
	tests := []struct {
		name     string
		s        Session
		attrs    *Attributes
		nh       NextHop
		prefixes []netip.Prefix
	}{
		{"808 IPv4 /32 with 2 communities", fourOctet, withComms, v4nh, hostPrefixes("10.0.0.0", 808)},
		{"809 IPv4 /32 split", fourOctet, withComms, v4nh, hostPrefixes("10.0.0.0", 809)},
		{"810 IPv4 /32 exactly full", fourOctet, minimalAttrs(), v4nh, hostPrefixes("10.0.0.0", 810)},
		{"5000 IPv4 /32", fourOctet, minimalAttrs(), v4nh, hostPrefixes("10.0.0.0", 5000)},
		{"236 IPv6 /128", fourOctet, withComms, v6nh, hostPrefixes("2001:db8:1::", 236)},
		{"1000 IPv6 /128 link-local next hop", fourOctet, minimalAttrs(), v6nhLL, hostPrefixes("2001:db8:1::", 1000)},
		{"IPv4 over IPv6 next hop", fourOctet, minimalAttrs(), v6nh, hostPrefixes("10.0.0.0", 808)},
		{"IPv4 over link-local next hop", fourOctet, withComms, v6nhLL, hostPrefixes("10.0.0.0", 3000)},
		{"extended message", Session{FourOctetAS: true, ExtendedMessage: true}, minimalAttrs(), v4nh, hostPrefixes("10.0.0.0", 13099)},
		{"2-octet AS session", Session{}, withComms, v4nh, hostPrefixes("10.0.0.0", 900)},
		{"mixed lengths", fourOctet, minimalAttrs(), v4nh, manyMixed},
		{"one prefix", fourOctet, withComms, v4nh, hostPrefixes("10.0.0.0", 1)},
		{"no prefixes", fourOctet, withComms, v4nh, nil},
		{"attributes leave no room", fourOctet, big, v4nh, hostPrefixes("10.0.0.0", 3)},
		{"IPv6 prefix, IPv4 next hop", fourOctet, minimalAttrs(), v4nh, hostPrefixes("2001:db8::", 3)},
		{"no next hop", fourOctet, minimalAttrs(), NextHop{}, hostPrefixes("10.0.0.0", 3)},
		{"IPv4 link-local", fourOctet, minimalAttrs(), NextHop{Addr: addr("2001:db8::1"), LinkLocal: addr("192.0.2.1")}, hostPrefixes("10.0.0.0", 3)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sameAsPrefixPath(t, tt.s, tt.attrs, tt.nh, tt.prefixes)
		})
	}
}

func TestNLRIListEditing(t *testing.T) {
	var l NLRIList
	if err := l.Add(netip.Prefix{}); !errors.Is(err, ErrInvalidPrefix) {
		t.Errorf("invalid prefix: %v", err)
	}
	// 10.0.0.8/32 encodes as 20 0a 00 00 08; the bytes 0a 00 00 08 also
	// appear inside other entries, which Remove must not take for it.
	in := []netip.Prefix{pfx("32.10.0.0/16"), pfx("10.0.0.0/8"), pfx("10.0.0.8/32"), pfx("0.0.0.0/0"), pfx("10.0.0.8/32")}
	for _, p := range in {
		if err := l.Add(p); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Add(pfx("2001:db8::/32")); !errors.Is(err, ErrMixedFamilies) {
		t.Errorf("IPv6 into an IPv4 list: %v", err)
	}
	if l.Remove(pfx("2001:db8::/32")) || l.Remove(pfx("10.0.0.0/16")) || l.Remove(pfx("0.10.0.0/16")) {
		t.Error("removed a prefix that is not there")
	}
	steps := []struct {
		remove netip.Prefix
		want   []netip.Prefix
	}{
		{pfx("10.0.0.8/32"), []netip.Prefix{pfx("32.10.0.0/16"), pfx("10.0.0.0/8"), pfx("0.0.0.0/0"), pfx("10.0.0.8/32")}},
		{pfx("32.10.0.0/16"), []netip.Prefix{pfx("10.0.0.0/8"), pfx("0.0.0.0/0"), pfx("10.0.0.8/32")}},
		{pfx("10.0.0.8/32"), []netip.Prefix{pfx("10.0.0.0/8"), pfx("0.0.0.0/0")}},
		{pfx("0.0.0.0/0"), []netip.Prefix{pfx("10.0.0.0/8")}},
		{pfx("10.0.0.0/8"), nil},
	}
	for _, st := range steps {
		if !l.Remove(st.remove) {
			t.Fatalf("Remove(%v) = false", st.remove)
		}
		if diff := cmp.Diff(st.want, l.AppendPrefixes(nil), cmpOpts...); diff != "" {
			t.Fatalf("after Remove(%v) (-want +got):\n%s", st.remove, diff)
		}
		if l.Len() != len(st.want) {
			t.Fatalf("Len %d, want %d", l.Len(), len(st.want))
		}
		// The boundary index must stay in step with the bytes.
		sameAsListPath(t, &l, st.want)
	}
	// Empty again, the list takes any family.
	if err := l.Add(pfx("2001:db8::/32")); err != nil || l.Family() != AFIIPv6 {
		t.Errorf("IPv6 into an emptied list: %v, family %v", err, l.Family())
	}
	l.Reset()
	if l.Len() != 0 || l.Family() != 0 {
		t.Errorf("after Reset: Len %d, family %v", l.Len(), l.Family())
	}
}

func TestAnnounceNLRIErrors(t *testing.T) {
	v4, _ := NewNLRIList(hostPrefixes("10.0.0.0", 3))
	var w6, unset AttrSet
	if err := w6.Encode(fourOctet, minimalAttrs(), NextHop{Addr: addr("2001:db8::1")}, AFIIPv6); err != nil {
		t.Fatal(err)
	}
	for name, w := range map[string]*AttrSet{"IPv4 list, IPv6 set": &w6, "set not encoded": &unset} {
		if out, err := AppendAnnounceNLRI([]byte("keep"), w, v4); !errors.Is(err, ErrNextHopFamily) || string(out) != "keep" {
			t.Errorf("%s: %q, %v; want dst unchanged, ErrNextHopFamily", name, out, err)
		}
	}
	if err := w6.Encode(fourOctet, minimalAttrs(), NextHop{Addr: addr("2001:db8::1")}, 3); !errors.Is(err, ErrInvalidPrefix) {
		t.Errorf("AFI 3: %v, want ErrInvalidPrefix", err)
	}
	if out, err := AppendAnnounceNLRI([]byte("keep"), &w6, v4); err == nil || string(out) != "keep" {
		t.Errorf("after a failed Encode: %q, %v; want an error", out, err)
	}
}

func sameAsListPath(t *testing.T, l *NLRIList, prefixes []netip.Prefix) {
	t.Helper()
	want, _ := AppendWithdraw(nil, fourOctet, prefixes)
	if got, _ := AppendWithdrawNLRI(nil, fourOctet, l); !bytes.Equal(got, want) {
		t.Fatalf("withdraw from the edited list\n got % x\nwant % x", got, want)
	}
}

func TestNLRIAllocations(t *testing.T) {
	attrs := minimalAttrs()
	attrs.Communities = []Community{NewCommunity(64512, 100), CommunityNoExport}
	buf := make([]byte, 0, 1<<16)
	v4, _ := NewNLRIList(hostPrefixes("10.0.0.0", 2000))
	v6, _ := NewNLRIList(hostPrefixes("2001:db8::", 500))
	var w4, w6, w46 AttrSet
	if err := w4.Encode(fourOctet, attrs, NextHop{Addr: addr("192.0.2.1")}, AFIIPv4); err != nil {
		t.Fatal(err)
	}
	if err := w6.Encode(fourOctet, attrs, NextHop{Addr: addr("2001:db8::1"), LinkLocal: addr("fe80::1")}, AFIIPv6); err != nil {
		t.Fatal(err)
	}
	if err := w46.Encode(fourOctet, attrs, NextHop{Addr: addr("2001:db8::1")}, AFIIPv4); err != nil {
		t.Fatal(err)
	}
	var edit NLRIList
	cases := map[string]func(){
		"announce IPv4":         func() { buf, _ = AppendAnnounceNLRI(buf[:0], &w4, v4) },
		"announce IPv6":         func() { buf, _ = AppendAnnounceNLRI(buf[:0], &w6, v6) },
		"announce IPv4 over v6": func() { buf, _ = AppendAnnounceNLRI(buf[:0], &w46, v4) },
		"withdraw IPv4":         func() { buf, _ = AppendWithdrawNLRI(buf[:0], fourOctet, v4) },
		"withdraw IPv6":         func() { buf, _ = AppendWithdrawNLRI(buf[:0], fourOctet, v6) },
		"re-encode attributes":  func() { _ = w4.Encode(fourOctet, attrs, NextHop{Addr: addr("192.0.2.1")}, AFIIPv4) },
		"add and remove": func() {
			_ = edit.Add(pfx("2001:db8::/48"))
			_ = edit.Add(pfx("2001:db8:1::/48"))
			edit.Remove(pfx("2001:db8::/48"))
			edit.Reset()
		},
	}
	for name, f := range cases {
		f() // warm reused storage
		if n := testing.AllocsPerRun(100, f); n != 0 {
			t.Errorf("%s: %v allocations per run, want 0", name, n)
		}
	}
}

// FuzzNLRIList is the differential target of the wire-form packers: for
// generated prefixes (n of them, lengths and addresses from seed, so that
// small inputs still split into several messages), next hops and sessions,
// AppendAnnounceNLRI and AppendWithdrawNLRI must append exactly what
// AppendAnnounce and AppendWithdraw append, before and after removing some
// prefixes from the list. nhKind picks the next hop (bits 0-1) and adds two
// communities (bit 2).
func FuzzNLRIList(f *testing.F) {
	f.Fuzz(func(t *testing.T, seed []byte, n uint16, v6 bool, nhKind uint8, extended, fourOctetAS bool) {
		prefixes := genPrefixes(seed, int(n%20000), v6)
		s := sessionOf(fourOctetAS, extended)
		a := minimalAttrs()
		if nhKind&4 != 0 {
			a.Communities = []Community{NewCommunity(64512, 100), NewCommunity(64512, 200)}
		}
		nh := [...]NextHop{
			{Addr: addr("192.0.2.1")},
			{Addr: addr("2001:db8::1")},
			{Addr: addr("2001:db8::1"), LinkLocal: addr("fe80::1")},
			{},
		}[nhKind%4]
		sameAsPrefixPath(t, s, a, nh, prefixes)
		if len(seed) == 0 {
			return
		}
		l, err := NewNLRIList(prefixes)
		if err != nil {
			t.Fatal(err)
		}
		// Remove every prefix whose index is k mod 7, from both sides.
		k := int(seed[len(seed)-1] % 7)
		var kept []netip.Prefix
		for i, p := range prefixes {
			if i%7 == k {
				if !l.Remove(p) {
					t.Fatalf("Remove(%v) = false", p)
				}
				continue
			}
			kept = append(kept, p)
		}
		// Duplicates make which occurrence goes ambiguous in order, not in
		// content; compare contents as multisets then, else exactly.
		got := l.AppendPrefixes(nil)
		if !sameMultiset(got, kept) {
			t.Fatalf("after removals: %v, want %v", got, kept)
		}
		wantW, _ := AppendWithdraw(nil, s, got)
		if gotW, _ := AppendWithdrawNLRI(nil, s, l); !bytes.Equal(gotW, wantW) {
			t.Fatalf("withdraw after removals differs")
		}
	})
}

// genPrefixes makes n prefixes of one family from seed: the lengths cycle
// through the seed bytes, the addresses count up from 10.0.0.0 or
// 2001:db8:: with the seed bytes after the first mixed in. A one-byte seed
// of 32 or 128 gives host routes.
func genPrefixes(seed []byte, n int, v6 bool) []netip.Prefix {
	if len(seed) == 0 {
		return nil
	}
	base := [16]byte{0x20, 0x01, 0x0d, 0xb8}
	if !v6 {
		base = [16]byte{10}
	}
	for j, b := range seed[1:min(len(seed), 17)] {
		base[j] ^= b
	}
	out := make([]netip.Prefix, n)
	for i := range out {
		a := base
		bits := int(seed[i%len(seed)])
		if v6 {
			a[15], a[14] = a[15]^byte(i), a[14]^byte(i>>8)
			out[i] = netip.PrefixFrom(netip.AddrFrom16(a), bits%129).Masked()
		} else {
			a[3], a[2] = a[3]^byte(i), a[2]^byte(i>>8)
			out[i] = netip.PrefixFrom(netip.AddrFrom4([4]byte(a[:4])), bits%33).Masked()
		}
	}
	return out
}

func sameMultiset(a, b []netip.Prefix) bool {
	if len(a) != len(b) {
		return false
	}
	count := map[netip.Prefix]int{}
	for _, p := range a {
		count[p]++
	}
	for _, p := range b {
		if count[p]--; count[p] < 0 {
			return false
		}
	}
	return true
}

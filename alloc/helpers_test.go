package alloc

import (
	"net/netip"
	"testing"

	"k8s.io/apimachinery/pkg/labels"
)

func ranges(t testing.TB, specs ...string) []Range {
	t.Helper()
	var out []Range
	for _, s := range specs {
		r, err := ParseRange(s)
		if err != nil {
			t.Fatalf("ParseRange(%q): %v", s, err)
		}
		out = append(out, r)
	}
	return out
}

func pool(t testing.TB, name string, specs ...string) Pool {
	return Pool{Name: name, Ranges: ranges(t, specs...), AutoAssign: true}
}

func ips(specs ...string) []netip.Addr {
	var out []netip.Addr
	for _, s := range specs {
		out = append(out, netip.MustParseAddr(s))
	}
	return out
}

func svc(ns, name string) Service { return Service{Key: ServiceKey{ns, name}} }

func sel(t testing.TB, s string) labels.Selector {
	t.Helper()
	x, err := labels.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return x
}

func newAlloc(t testing.TB, pools ...Pool) *Allocator {
	t.Helper()
	a := New()
	if ev, err := a.SetPools(pools); err != nil || len(ev) != 0 {
		t.Fatalf("SetPools: %v %v", ev, err)
	}
	return a
}

func mustAllocate(t testing.TB, a *Allocator, s Service) Assignment {
	t.Helper()
	got, err := a.Allocate(s)
	if err != nil {
		t.Fatalf("Allocate(%v): %v", s.Key, err)
	}
	return got
}

package informers

import (
	"strings"
	"testing"
)

func TestBehind(t *testing.T) {
	v := func(key, rv string) version { return version{key: key, rv: rv} }
	for _, tc := range []struct {
		name   string
		listRV string
		live   []version
		cached []version
		want   string // "" when current, else a part of the reason
	}{
		{"equal", "20", []version{v("a/x", "10"), v("a/y", "12")}, []version{v("a/y", "12"), v("a/x", "10")}, ""},
		{"cache newer than the list", "20", []version{v("a/x", "10")}, []version{v("a/x", "25")}, ""},
		{"created after the list", "20", []version{v("a/x", "10")}, []version{v("a/x", "10"), v("a/new", "21")}, ""},
		{"both empty", "20", nil, nil, ""},
		{"older in the cache", "20", []version{v("a/x", "15")}, []version{v("a/x", "10")},
			"a/x is cached at resourceVersion 10, the API server has 15"},
		{"not cached yet", "20", []version{v("a/x", "15")}, nil, "a/x is not cached yet"},
		{"deleted before the list", "20", nil, []version{v("a/gone", "12")}, "a/gone is cached but was gone at resourceVersion 20"},
		{"deleted at the list's version", "20", nil, []version{v("a/gone", "20")}, "a/gone is cached but was gone"},
		// Ten is later than nine: resource versions are compared as
		// numbers, not as strings.
		{"numeric, not lexical", "100", []version{v("a/x", "10")}, []version{v("a/x", "9")}, "cached at resourceVersion 9"},
		// Fakes leave object versions empty: only equality counts.
		{"unparsable and equal", "5", []version{v("a/x", "")}, []version{v("a/x", "")}, ""},
		{"unparsable and different", "5", []version{v("a/x", "b")}, []version{v("a/x", "a")}, "cached at resourceVersion a"},
		{"unparsable extra", "5", nil, []version{v("a/x", "")}, "a/x is cached but was gone"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := behind(tc.listRV, tc.live, tc.cached)
			if tc.want == "" && got != "" {
				t.Fatalf("behind = %q, want current", got)
			}
			if tc.want != "" && !strings.Contains(got, tc.want) {
				t.Fatalf("behind = %q, want it to say %q", got, tc.want)
			}
		})
	}
}

package layers

import (
	"slices"
	"testing"
)

// Herald's own tree keeps the rules.
func TestHeraldKeepsItsLayers(t *testing.T) {
	vs, err := Check("../..", Herald)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range vs {
		t.Error(v)
	}
}

// The check can fail: the fixture breaks each rule once, in files whose
// package names say where they stand, and keeps them in config/good.go.
func TestFixtureBreaksEachRule(t *testing.T) {
	rules := Herald
	rules.Module = "example.com/fixture"
	vs, err := Check("testdata/fixture", rules)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, v := range vs {
		got = append(got, v.String())
	}
	want := []string{
		"alloc/bad.go:5: alloc: a pure package imports net, which does network I/O",
		"alloc/bad.go:6: alloc: a pure package imports net/http, which does network I/O",
		"alloc/bad.go:8: alloc: a pure package imports os, which does I/O",
		"alloc/bad.go:9: alloc: a pure package imports sync, which synchronises goroutines",
		"alloc/bad.go:12: alloc: a pure package imports github.com/prometheus/client_golang/prometheus, which is not known to be pure",
		"alloc/bad.go:14: alloc: a pure package imports k8s.io/apimachinery/pkg/util/wait, which is not known to be pure",
		"alloc/bad.go:16: alloc: a pure package imports api/client, which is not pure",
		"alloc/bad.go:17: alloc: a pure package imports informers, which is not pure",
		"alloc/bad.go:17: alloc: imports informers (shell layer) from the core layer: dependencies point down",
		"alloc/bad.go:33: alloc: a pure package starts a goroutine",
		"alloc/bad.go:35: alloc: a pure package reads the clock (time.Now); time enters as an event",
		"alloc/bad.go:35: alloc: a pure package reads the clock (time.Since); time enters as an event",
		"api/v1beta1/types.go:4: api/v1beta1: imports config (core layer) from the api layer: dependencies point down",
		"informers/informers.go:7: informers: imports actors (trees layer) from the shell layer: dependencies point down",
	}
	for _, w := range want {
		if !slices.Contains(got, w) {
			t.Errorf("missing violation:\n\t%s", w)
		}
	}
	for _, g := range got {
		if !slices.Contains(want, g) {
			t.Errorf("unexpected violation:\n\t%s", g)
		}
	}
}

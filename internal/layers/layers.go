// Package layers checks the shape docs/architecture.md describes: the pure
// packages (the functional core) do no I/O, read no clock, start no
// goroutine and draw no randomness, and every package imports only from
// its own layer or the layers below it. The check reads the source with
// go/parser (no build, no go list), so it runs anywhere the tests run, and
// it is itself tested against fixture packages that break each rule.
package layers

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// Layer numbers, lowest first. A package may import packages of its own
// layer or of a lower one.
const (
	LayerAPI   = iota // api/...: the metallb.io types and their generated clients
	LayerCore         // the pure packages
	LayerShell        // I/O libraries: informers, l2, tracing, webhook
	LayerTrees        // actors and its trees
	LayerCmd          // binaries
)

var layerNames = []string{"api", "core", "shell", "trees", "cmd"}

// Rules say which package is in which layer (by import path relative to
// the module, longest prefix wins) and which packages are pure.
type Rules struct {
	Module string
	// Layers maps a package path prefix ("alloc", "bgpwire/", "api/") to
	// its layer; a path with no match is unchecked (test support).
	Layers map[string]int
	// Pure lists the pure packages' path prefixes.
	Pure []string
}

// Herald is the project's own rule set.
var Herald = Rules{
	Module: "github.com/heraldlb/herald",
	Layers: map[string]int{
		"api": LayerAPI, "api/": LayerAPI,
		"config": LayerCore, "config/manifest": LayerCore, "alloc": LayerCore, "announce": LayerCore,
		"servicestatus": LayerCore, "bgpwire": LayerCore, "bgpwire/": LayerCore, "liveness": LayerCore,
		"informers": LayerShell, "l2": LayerShell, "tracing": LayerShell, "webhook": LayerShell,
		"bgpnet": LayerShell, "bfdnet": LayerShell, "tracing/timeline": LayerShell, "inspect": LayerShell,
		"actors": LayerTrees, "actors/": LayerTrees,
		"cmd/": LayerCmd,
	},
	Pure: []string{"config", "config/manifest", "alloc", "announce", "servicestatus", "bgpwire", "bgpwire/", "liveness"},
}

// Violation is one broken rule, at a file and line.
type Violation struct {
	Pos     string // file:line, relative to the checked root
	Package string // module-relative package path
	What    string
}

func (v Violation) String() string { return fmt.Sprintf("%s: %s: %s", v.Pos, v.Package, v.What) }

// forbiddenStd are the standard packages a pure package may not import:
// they do I/O, synchronise goroutines or draw randomness. net/netip is the
// one part of net a pure package may use.
var forbiddenStd = map[string]string{
	"net": "does network I/O", "os": "does I/O", "os/exec": "does I/O", "os/signal": "does I/O",
	"syscall": "does I/O", "io/ioutil": "does I/O", "sync": "synchronises goroutines",
	"sync/atomic": "synchronises goroutines", "math/rand": "draws randomness",
	"math/rand/v2": "draws randomness", "crypto/rand": "draws randomness", "log": "writes logs",
	"log/slog": "writes logs", "runtime": "reaches into the runtime", "unsafe": "steps outside the type system",
}

// allowedThirdParty are the packages a pure package may import besides the
// standard library: API types and the pure helpers of apimachinery (each
// named: others of it watch, wait, dial or read the clock), and YAML/JSON
// decoding. A path ending in "/" allows everything below it.
var allowedThirdParty = []string{
	"k8s.io/api/",
	"k8s.io/apimachinery/pkg/apis/meta/v1",
	"k8s.io/apimachinery/pkg/labels",
	"k8s.io/apimachinery/pkg/types",
	"k8s.io/apimachinery/pkg/util/resourceversion",
	"k8s.io/apimachinery/pkg/util/validation",
	"k8s.io/apimachinery/pkg/util/yaml",
	"sigs.k8s.io/json",
	"sigs.k8s.io/yaml",
}

// pureAPI are the Herald API packages a pure package may import: the types,
// not the generated clients.
var pureAPI = []string{"api/v1beta1", "api/v1beta2"}

// clockCalls are the time functions that read the clock or wait on it.
var clockCalls = []string{"Now", "Since", "Until", "Sleep", "After", "AfterFunc", "NewTimer", "NewTicker", "Tick"}

// Check walks the Go packages under root (a module root whose module path is
// r.Module), skipping testdata, vendor and hidden directories and _test.go
// files, and returns every violation, sorted.
func Check(root string, r Rules) ([]Violation, error) {
	var out []Violation
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			return nil
		}
		name := d.Name()
		if path != root && (name == "testdata" || name == "vendor" || strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_")) {
			return filepath.SkipDir
		}
		if path != root {
			if _, err := os.Stat(filepath.Join(path, "go.mod")); err == nil {
				return filepath.SkipDir // another module (testbed)
			}
		}
		rel, err := filepath.Rel(root, path)
		if err != nil {
			return err
		}
		vs, err := checkDir(root, filepath.ToSlash(rel), path, r)
		out = append(out, vs...)
		return err
	})
	sort.Slice(out, func(i, j int) bool { return out[i].String() < out[j].String() })
	return out, err
}

func checkDir(root, rel, dir string, r Rules) ([]Violation, error) {
	layer, checked := r.layerOf(rel)
	if !checked {
		return nil, nil
	}
	pure := r.pure(rel)
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out []Violation
	fset := token.NewFileSet()
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".go") || strings.HasSuffix(e.Name(), "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, filepath.Join(dir, e.Name()), nil, parser.SkipObjectResolution)
		if err != nil {
			return nil, err
		}
		at := func(p token.Pos) string {
			pos := fset.Position(p)
			file, _ := filepath.Rel(root, pos.Filename)
			return fmt.Sprintf("%s:%d", filepath.ToSlash(file), pos.Line)
		}
		add := func(p token.Pos, format string, args ...any) {
			out = append(out, Violation{Pos: at(p), Package: rel, What: fmt.Sprintf(format, args...)})
		}
		timeName := ""
		for _, imp := range f.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			if path == "time" {
				timeName = "time"
				if imp.Name != nil {
					timeName = imp.Name.Name
				}
			}
			if own, ok := strings.CutPrefix(path, r.Module+"/"); ok || path == r.Module {
				to, checked := r.layerOf(own)
				if checked && to > layer {
					add(imp.Pos(), "imports %s (%s layer) from the %s layer: dependencies point down", own, layerNames[to], layerNames[layer])
				}
				if pure && checked && !r.pure(own) && !slices.Contains(pureAPI, own) {
					add(imp.Pos(), "a pure package imports %s, which is not pure", own)
				}
				continue
			}
			if !pure {
				continue
			}
			if why, bad := forbiddenStd[path]; bad {
				add(imp.Pos(), "a pure package imports %s, which %s", path, why)
				continue
			}
			if isStd(path) {
				if strings.HasPrefix(path, "net/") && path != "net/netip" {
					add(imp.Pos(), "a pure package imports %s, which does network I/O", path)
				}
				continue
			}
			if !slices.ContainsFunc(allowedThirdParty, func(p string) bool { return matches(path, p) }) {
				add(imp.Pos(), "a pure package imports %s, which is not known to be pure", path)
			}
		}
		if !pure {
			continue
		}
		ast.Inspect(f, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.GoStmt:
				add(n.Pos(), "a pure package starts a goroutine")
			case *ast.SelectorExpr:
				if id, ok := n.X.(*ast.Ident); ok && timeName != "" && id.Name == timeName && slices.Contains(clockCalls, n.Sel.Name) {
					add(n.Pos(), "a pure package reads the clock (time.%s); time enters as an event", n.Sel.Name)
				}
			}
			return true
		})
	}
	return out, nil
}

// layerOf returns the layer of a module-relative package path.
func (r Rules) layerOf(rel string) (int, bool) {
	best, layer := -1, 0
	for prefix, l := range r.Layers {
		if matches(rel, prefix) && len(prefix) > best {
			best, layer = len(prefix), l
		}
	}
	return layer, best >= 0
}

func (r Rules) pure(rel string) bool {
	return slices.ContainsFunc(r.Pure, func(p string) bool { return matches(rel, p) })
}

// matches: "x" names the package x exactly, "x/" every package below x.
func matches(rel, prefix string) bool {
	if strings.HasSuffix(prefix, "/") {
		return strings.HasPrefix(rel, prefix)
	}
	return rel == prefix
}

// isStd reports whether an import path is the standard library's: its
// first element has no dot.
func isStd(path string) bool {
	first, _, _ := strings.Cut(path, "/")
	return !strings.Contains(first, ".")
}

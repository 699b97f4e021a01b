package main

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// The linker leaves out the methods nothing can call, unless the binary
// can call a method by a name known only at run time (reflect's
// MethodByName, as text/template does): then it keeps every exported
// method of every type that can reach an interface. In herald that is the
// protobuf, deep-copy and String code of every Kubernetes API type
// client-go registers, about 43 MB of a 99 MB binary, and a running
// speaker maps nearly all of its binary into memory. gRPC's
// golang.org/x/net/trace brought such a call in (the Makefile's GO_TAGS
// leave it out). This builds herald with the tags make and the Dockerfile
// use and fails naming the calls that lead to any such method.
func TestNoMethodCalledByName(t *testing.T) {
	if testing.Short() {
		t.Skip("links the whole binary")
	}
	tags := buildTags(t, "../../Makefile", `(?m)^GO_TAGS\s*:=\s*(.*)$`)
	if docker := buildTags(t, "../../Dockerfile", `-tags\s+(\S+)`); docker != tags {
		t.Errorf("the Dockerfile builds with tags %q, the Makefile's GO_TAGS are %q", docker, tags)
	}
	cmd := exec.Command("go", "build", "-tags", tags, "-ldflags=-dumpdep", "-o", os.DevNull, ".")
	var dump bytes.Buffer
	cmd.Stderr = &dump
	if err := cmd.Run(); err != nil {
		t.Fatalf("go build -ldflags=-dumpdep: %v\n%.2000s", err, dump.String())
	}
	g := readDeps(&dump)
	if len(g.edges) < 1000 {
		t.Fatalf("the linker's dependency dump has %d edges; is -dumpdep still what it was?", len(g.edges))
	}
	for _, fn := range g.byName {
		t.Errorf("%s calls methods by name; reached through %s", fn, strings.Join(g.chainTo(fn), " → "))
	}
}

// buildTags returns the first match of pattern's group in file.
func buildTags(t *testing.T, file, pattern string) string {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(pattern).FindSubmatch(b)
	if m == nil {
		t.Fatalf("%s: no build tags (%s)", file, pattern)
	}
	return strings.TrimSpace(string(m[1]))
}

// deps is the linker's reachability graph as -dumpdep prints it: one
// "from -> to" line per edge, symbols marked with their attributes in
// angle brackets; "_" is the root.
type deps struct {
	edges  map[string][]string
	byName []string // symbols marked <ReflectMethod>
}

var depAttrs = regexp.MustCompile(` <[A-Za-z]+>`)

func readDeps(dump *bytes.Buffer) deps {
	g := deps{edges: map[string][]string{}}
	seen := map[string]bool{}
	sc := bufio.NewScanner(dump)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		from, to, ok := strings.Cut(sc.Text(), " -> ")
		if !ok {
			continue
		}
		for _, s := range []string{from, to} {
			if strings.Contains(s, "<ReflectMethod>") {
				if name := depAttrs.ReplaceAllString(s, ""); !seen[name] {
					seen[name] = true
					g.byName = append(g.byName, name)
				}
			}
		}
		from, to = depAttrs.ReplaceAllString(from, ""), depAttrs.ReplaceAllString(to, "")
		g.edges[from] = append(g.edges[from], to)
	}
	slices.Sort(g.byName)
	return g
}

// chainTo is the shortest chain of symbols from the root to target.
func (g deps) chainTo(target string) []string {
	prev := map[string]string{"_": ""}
	queue := []string{"_"}
	for len(queue) > 0 {
		x := queue[0]
		queue = queue[1:]
		if x == target {
			break
		}
		for _, y := range g.edges[x] {
			if _, ok := prev[y]; !ok {
				prev[y] = x
				queue = append(queue, y)
			}
		}
	}
	if _, ok := prev[target]; !ok {
		return []string{"(no chain found)"}
	}
	var chain []string
	for x := target; x != "_"; x = prev[x] {
		chain = append(chain, x)
	}
	slices.Reverse(chain)
	return chain
}

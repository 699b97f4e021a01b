package main

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

var (
	binariesOnce sync.Once
	binaries     []platformBinary
	binariesErr  error
)

// staticBinaries cross-compiles a small program for both platforms, as
// make image compiles herald: CGO_ENABLED=0, GOOS=linux. The tests share
// one build.
func staticBinaries(t *testing.T) []platformBinary {
	t.Helper()
	binariesOnce.Do(func() { binaries, binariesErr = buildStatic() })
	if binariesErr != nil {
		t.Fatal(binariesErr)
	}
	return slices.Clone(binaries)
}

func buildStatic() ([]platformBinary, error) {
	dir, err := os.MkdirTemp("", "herald-image-test-")
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module hello\n\ngo 1.26\n"), 0o644); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, "main.go"), []byte("package main\n\nfunc main() { println(\"herald\") }\n"), 0o644); err != nil {
		return nil, err
	}
	var bins []platformBinary
	for _, arch := range []string{"amd64", "arm64"} {
		out := filepath.Join(dir, "hello-"+arch)
		cmd := exec.Command("go", "build", "-trimpath", "-o", out, ".")
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+arch, "GOFLAGS=", "GOWORK=off")
		if b, err := cmd.CombinedOutput(); err != nil {
			return nil, fmt.Errorf("building for %s: %v\n%s", arch, err, b)
		}
		bins = append(bins, platformBinary{OS: "linux", Arch: arch, Path: out})
	}
	return bins, nil
}

func TestMain(m *testing.M) {
	code := m.Run()
	if len(binaries) > 0 {
		os.RemoveAll(filepath.Dir(binaries[0].Path))
	}
	os.Exit(code)
}

func testOptions(bins []platformBinary) buildOptions {
	return buildOptions{Binaries: bins, Version: "v0.1.0-test", Revision: "abc123",
		Created: time.Unix(1700000000, 0).UTC(), Source: "https://example.com/herald"}
}

// The archive holds one image per platform, each run by a numeric
// non-root user with herald as its entrypoint, over a base layer shared by
// the platforms and a top layer with the platform's own static binary.
func TestImage(t *testing.T) {
	bins := staticBinaries(t)
	certs := filepath.Join(t.TempDir(), "ca.crt")
	if err := os.WriteFile(certs, []byte("-----BEGIN CERTIFICATE-----\ntest\n-----END CERTIFICATE-----\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	opts := testOptions(bins)
	opts.CACerts = certs
	out := filepath.Join(t.TempDir(), "herald.tar")
	if err := build(out, opts); err != nil {
		t.Fatal(err)
	}
	ref, images, err := inspect(out)
	if err != nil {
		t.Fatal(err)
	}
	if ref != "v0.1.0-test" {
		t.Errorf("ref.name %q, want v0.1.0-test", ref)
	}
	var platforms []string
	for _, im := range images {
		platforms = append(platforms, im.Platform)
	}
	if !slices.Equal(platforms, []string{"linux/amd64", "linux/arm64"}) {
		t.Fatalf("platforms %v", platforms)
	}
	for i, im := range images {
		if im.User != "65532:65532" {
			t.Errorf("%s: user %q, want 65532:65532", im.Platform, im.User)
		}
		if !slices.Equal(im.Entrypoint, []string{"/usr/local/bin/herald"}) {
			t.Errorf("%s: entrypoint %v", im.Platform, im.Entrypoint)
		}
		if len(im.Layers) != 2 {
			t.Fatalf("%s: %d layers", im.Platform, len(im.Layers))
		}
		base, top := im.Layers[0], im.Layers[1]
		for _, f := range []string{"/etc/passwd", "/etc/group", certsPath} {
			if _, ok := base.Files[f]; !ok {
				t.Errorf("%s: base layer lacks %s (has %v)", im.Platform, f, base.Files)
			}
		}
		if m, ok := top.Files[binaryPath]; !ok || m.Perm() != 0o755 {
			t.Errorf("%s: top layer %s mode %v (present %v), want 0755", im.Platform, binaryPath, m, ok)
		}
		if len(top.Files) != 4 { // usr, usr/local, usr/local/bin, the binary
			t.Errorf("%s: top layer holds %v, want the binary and its directories only", im.Platform, top.Files)
		}
		if i > 0 {
			if base.Digest != images[0].Layers[0].Digest {
				t.Errorf("base layers differ between platforms: %s and %s", images[0].Layers[0].Digest, base.Digest)
			}
			if top.Digest == images[0].Layers[1].Digest {
				t.Error("both platforms have the same binary layer")
			}
		}
	}

	// The same inputs give the same bytes.
	again := filepath.Join(t.TempDir(), "again.tar")
	if err := build(again, opts); err != nil {
		t.Fatal(err)
	}
	if a, b := digestOf(t, out), digestOf(t, again); a != b {
		t.Errorf("two builds of the same inputs differ: %x and %x", a, b)
	}
}

func TestBuildRefuses(t *testing.T) {
	bins := staticBinaries(t)
	cases := []struct {
		name string
		bins []platformBinary
		want string
	}{
		{"a binary for the wrong machine", []platformBinary{{OS: "linux", Arch: "arm64", Path: bins[0].Path}}, "built for EM_X86_64"},
		{"two binaries for one platform", []platformBinary{bins[0], bins[0]}, "two binaries"},
		{"a platform with no known machine", []platformBinary{{OS: "linux", Arch: "riscv64", Path: bins[0].Path}}, "no ELF machine"},
		{"not linux", []platformBinary{{OS: "darwin", Arch: "arm64", Path: bins[1].Path}}, "only linux"},
	}
	// A dynamically linked program of this machine, where one is at hand.
	if runtime.GOOS == "linux" {
		if ls, err := exec.LookPath("ls"); err == nil {
			if err := checkStatic(mustRead(t, ls), "linux", runtime.GOARCH); err != nil {
				cases = append(cases, struct {
					name string
					bins []platformBinary
					want string
				}{"a dynamically linked binary", []platformBinary{{OS: "linux", Arch: runtime.GOARCH, Path: ls}}, "dynamically linked"})
			}
		}
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			opts := testOptions(c.bins)
			err := build(filepath.Join(t.TempDir(), "x.tar"), opts)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("build: %v, want an error containing %q", err, c.want)
			}
		})
	}
}

// inspect refuses an image that runs as root.
func TestInspectRefusesRoot(t *testing.T) {
	opts := testOptions(staticBinaries(t)[:1])
	opts.user = "0:0"
	out := filepath.Join(t.TempDir(), "root.tar")
	if err := build(out, opts); err != nil {
		t.Fatal(err)
	}
	if _, _, err := inspect(out); err == nil || !strings.Contains(err.Error(), "non-root") {
		t.Errorf("inspect: %v, want a refusal of user 0", err)
	}
}

func TestNonRoot(t *testing.T) {
	for u, want := range map[string]bool{"65532:65532": true, "1000": true, "0": false, "0:0": false, "root": false,
		"herald": false, "": false} {
		if got := nonRoot(u); got != want {
			t.Errorf("nonRoot(%q) = %v, want %v", u, got, want)
		}
	}
}

func digestOf(t *testing.T, path string) [32]byte {
	t.Helper()
	return sha256.Sum256(mustRead(t, path))
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return bytes.Clone(b)
}

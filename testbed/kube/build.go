package kube

import (
	"bufio"
	"bytes"
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"text/template"
	"time"

	"github.com/heraldlb/herald/testbed/internal/logtail"
)

// Pinned versions of the binaries the control plane runs.
const (
	// KubernetesVersion is the k8s.io/kubernetes module kube-apiserver and
	// kubectl are built from. The proxy here refuses the source of v1.37.2.
	KubernetesVersion = "v1.37.1"
	// StagingVersion is the version every k8s.io staging module is replaced
	// with; it matches KubernetesVersion.
	StagingVersion = "v0.37.1"
	// EtcdVersion is the go.etcd.io/etcd/server/v3 module etcd is built from.
	EtcdVersion = "v3.6.6"
)

// CacheDirEnv, when set, overrides the directory binaries are cached in.
const CacheDirEnv = "HERALD_TESTBED_CACHE"

//go:embed templates/*.tmpl
var templates embed.FS

// Paths are the locations of the cached binaries.
type Paths struct {
	KubeAPIServer string
	Etcd          string
	// Kubectl is built from the same generated module and version as
	// KubeAPIServer, so its client version matches the server's.
	Kubectl string
}

// Logf is the logger the package takes: printf-style, one message per call.
// A nil Logf discards.
type Logf func(format string, args ...any)

func (l Logf) printf(format string, args ...any) {
	if l != nil {
		l(format, args...)
	}
}

// CacheDir is where binaries are built and kept: $HERALD_TESTBED_CACHE if
// set, else <user cache dir>/herald-testbed ($XDG_CACHE_HOME or ~/.cache).
func CacheDir() (string, error) {
	if d := os.Getenv(CacheDirEnv); d != "" {
		return d, nil
	}
	d, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("kube: no cache directory (set %s): %w", CacheDirEnv, err)
	}
	return filepath.Join(d, "herald-testbed"), nil
}

// EnsureBinaries returns the cached kube-apiserver, etcd and kubectl,
// building them first if they are missing (about 5 minutes for
// kube-apiserver on 2 cores, and about a minute more for kubectl, built next
// from the same module; later calls return at once). It is safe to call from
// parallel tests and processes: builds are serialised by a file lock and
// binaries appear by atomic rename, so a reader never sees a half-written
// one.
func EnsureBinaries(ctx context.Context, logf Logf) (Paths, error) {
	root, err := CacheDir()
	if err != nil {
		return Paths{}, err
	}
	// etcd first: it is quick, and a control plane needs both anyway.
	etcd, err := ensureBinary(ctx, logf, filepath.Join(root, "etcd-"+EtcdVersion), "etcd", buildEtcd)
	if err != nil {
		return Paths{}, err
	}
	apiserver, err := ensureBinary(ctx, logf, filepath.Join(root, "kube-apiserver-"+KubernetesVersion), "kube-apiserver", buildKubeCommand("kube-apiserver"))
	if err != nil {
		return Paths{}, err
	}
	kubectl, err := ensureBinary(ctx, logf, filepath.Join(root, "kubectl-"+KubernetesVersion), "kubectl", buildKubeCommand("kubectl"))
	if err != nil {
		return Paths{}, err
	}
	return Paths{KubeAPIServer: apiserver, Etcd: etcd, Kubectl: kubectl}, nil
}

type buildFunc func(ctx context.Context, logf Logf, srcDir, out string, log *os.File) error

// ensureBinary returns dir/name, building it under dir/.lock if missing.
func ensureBinary(ctx context.Context, logf Logf, dir, name string, build buildFunc) (string, error) {
	bin := filepath.Join(dir, name)
	if isExecutable(bin) {
		return bin, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("kube: create cache dir for %s: %w", name, err)
	}
	unlock, err := lockFile(ctx, logf, filepath.Join(dir, ".lock"), name)
	if err != nil {
		return "", err
	}
	defer unlock()
	if isExecutable(bin) { // another process built it while we waited
		return bin, nil
	}
	srcDir := filepath.Join(dir, "src")
	if err := os.RemoveAll(srcDir); err != nil {
		return "", fmt.Errorf("kube: clean %s: %w", srcDir, err)
	}
	if err := os.MkdirAll(srcDir, 0o755); err != nil {
		return "", fmt.Errorf("kube: create %s: %w", srcDir, err)
	}
	logPath := filepath.Join(dir, "build.log")
	log, err := os.Create(logPath)
	if err != nil {
		return "", fmt.Errorf("kube: create build log: %w", err)
	}
	defer log.Close()
	start := time.Now()
	logf.printf("kube: building %s into %s (first run only; log: %s)", name, dir, logPath)
	tmp := fmt.Sprintf("%s.tmp-%d", bin, os.Getpid())
	if err := build(ctx, logf, srcDir, tmp, log); err != nil {
		_ = os.Remove(tmp)
		return "", fmt.Errorf("kube: build %s failed: %w\n--- tail of %s ---\n%s", name, err, logPath, logtail.Lines(logPath, 40))
	}
	if err := os.Rename(tmp, bin); err != nil {
		return "", fmt.Errorf("kube: install %s: %w", name, err)
	}
	logf.printf("kube: built %s in %s", name, time.Since(start).Round(time.Second))
	return bin, nil
}

func isExecutable(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0
}

// lockFile takes an exclusive flock on path, polling so that ctx can cancel
// the wait. flock locks belong to the open file, so this also serialises
// goroutines of one process.
func lockFile(ctx context.Context, logf Logf, path, what string) (func(), error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("kube: open lock %s: %w", path, err)
	}
	logged := false
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return func() {
				_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
				f.Close()
			}, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			f.Close()
			return nil, fmt.Errorf("kube: lock %s: %w", path, err)
		}
		if !logged {
			logf.printf("kube: waiting for another build of %s to finish (lock %s)", what, path)
			logged = true
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, fmt.Errorf("kube: waiting for build lock of %s: %w", what, ctx.Err())
		case <-time.After(500 * time.Millisecond):
		}
	}
}

func render(name, dst string, data any) error {
	t, err := template.ParseFS(templates, "templates/"+name)
	if err != nil {
		return fmt.Errorf("kube: parse template %s: %w", name, err)
	}
	var buf bytes.Buffer
	if err := t.Execute(&buf, data); err != nil {
		return fmt.Errorf("kube: render template %s: %w", name, err)
	}
	return os.WriteFile(dst, buf.Bytes(), 0o644)
}

// goCmd runs `go args...` in dir, appending its output to log.
func goCmd(ctx context.Context, dir string, log *os.File, args ...string) error {
	fmt.Fprintf(log, "\n$ go %s\n", strings.Join(args, " "))
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = dir
	cmd.Env = goEnv()
	cmd.Stdout = log
	cmd.Stderr = log
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go %s: %w", strings.Join(args, " "), err)
	}
	return nil
}

// goEnv is the environment of the build's go commands: the caller's, but
// outside any go.work, so the generated module stands alone.
func goEnv() []string { return append(os.Environ(), "GOWORK=off") }

func buildEtcd(ctx context.Context, _ Logf, src, out string, log *os.File) error {
	data := struct{ Version string }{EtcdVersion}
	if err := render("etcd-go.mod.tmpl", filepath.Join(src, "go.mod"), data); err != nil {
		return err
	}
	if err := render("etcd-main.go.tmpl", filepath.Join(src, "main.go"), data); err != nil {
		return err
	}
	if err := goCmd(ctx, src, log, "mod", "tidy"); err != nil {
		return err
	}
	return goCmd(ctx, src, log, "build", "-o", out, ".")
}

// kubeCommands are the k8s.io/kubernetes/cmd/... commands the generated
// module pins. Every build generates the same module (go.mod, tools.go, hence
// the same go.sum and module versions), so kube-apiserver and kubectl are
// built from identical sources and share the Go build cache.
var kubeCommands = []string{"kube-apiserver", "kubectl"}

// buildKubeCommand builds k8s.io/kubernetes/cmd/<command> in the generated
// module, with the version stamped as a release build would.
func buildKubeCommand(command string) buildFunc {
	return func(ctx context.Context, logf Logf, src, out string, log *os.File) error {
		staging, err := kubernetesStagingModules(ctx, src, log)
		if err != nil {
			return err
		}
		logf.printf("kube: k8s.io/kubernetes %s replaces %d staging modules; using %s for each", KubernetesVersion, len(staging), StagingVersion)
		data := struct {
			Version, StagingVersion string
			Staging, Commands       []string
		}{KubernetesVersion, StagingVersion, staging, kubeCommands}
		if err := render("kube-go.mod.tmpl", filepath.Join(src, "go.mod"), data); err != nil {
			return err
		}
		if err := render("kube-tools.go.tmpl", filepath.Join(src, "tools.go"), data); err != nil {
			return err
		}
		if err := goCmd(ctx, src, log, "mod", "tidy"); err != nil {
			return err
		}
		return goCmd(ctx, src, log, "build", "-ldflags", kubeLDFlags(), "-o", out, "k8s.io/kubernetes/cmd/"+command)
	}
}

// kubeLDFlags stamps KubernetesVersion into the packages `kube-apiserver
// --version`, /version and `kubectl version` read.
func kubeLDFlags() string {
	minor := strings.Split(strings.TrimPrefix(KubernetesVersion, "v"), ".")[1]
	return strings.Join([]string{
		"-X k8s.io/component-base/version.gitVersion=" + KubernetesVersion,
		"-X k8s.io/component-base/version.gitMajor=1",
		"-X k8s.io/component-base/version.gitMinor=" + minor,
		"-X k8s.io/client-go/pkg/version.gitVersion=" + KubernetesVersion,
	}, " ")
}

// kubernetesStagingModules downloads k8s.io/kubernetes and returns every
// module its go.mod replaces with a ./staging path.
func kubernetesStagingModules(ctx context.Context, dir string, log *os.File) ([]string, error) {
	var stdout bytes.Buffer
	cmd := exec.CommandContext(ctx, "go", "mod", "download", "-json", "k8s.io/kubernetes@"+KubernetesVersion)
	cmd.Dir = dir
	cmd.Env = goEnv()
	cmd.Stdout = &stdout
	cmd.Stderr = log
	runErr := cmd.Run()
	var info struct{ GoMod, Error string }
	if err := json.Unmarshal(stdout.Bytes(), &info); err != nil || info.Error != "" || runErr != nil {
		return nil, fmt.Errorf("go mod download k8s.io/kubernetes@%s: %v %s %s", KubernetesVersion, runErr, info.Error, stdout.String())
	}
	gomod, err := os.ReadFile(info.GoMod)
	if err != nil {
		return nil, fmt.Errorf("read kubernetes go.mod: %w", err)
	}
	staging := parseStagingReplaces(gomod)
	if len(staging) == 0 {
		return nil, fmt.Errorf("no ./staging replace directives in %s", info.GoMod)
	}
	return staging, nil
}

// parseStagingReplaces returns the module paths of `replace M => ./staging/...`
// lines, in either the single-line or the block form.
func parseStagingReplaces(gomod []byte) []string {
	var mods []string
	sc := bufio.NewScanner(bytes.NewReader(gomod))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if i := strings.Index(line, "//"); i >= 0 {
			line = strings.TrimSpace(line[:i])
		}
		line = strings.TrimPrefix(line, "replace ")
		f := strings.Fields(line)
		if len(f) == 3 && f[1] == "=>" && strings.HasPrefix(f[2], "./staging/") {
			mods = append(mods, f[0])
		}
	}
	return mods
}

package jaeger

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"syscall"
	"time"

	"github.com/heraldlb/herald/testbed/kube"
)

// Version is the Jaeger release the lab runs; tool/go.mod pins it.
const Version = "v1.75.0"

// Logf is the logger the package takes: printf-style. Nil discards.
type Logf func(format string, args ...any)

func (l Logf) printf(format string, args ...any) {
	if l != nil {
		l(format, args...)
	}
}

// toolDir is the module in tool/ whose tool dependency is Jaeger. The lab
// runs from its source tree, so the directory is found next to this file.
func toolDir() (string, error) {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		return "", errors.New("jaeger: cannot locate the package's source")
	}
	dir := filepath.Join(filepath.Dir(file), "tool")
	if _, err := os.Stat(filepath.Join(dir, "go.mod")); err != nil {
		return "", fmt.Errorf("jaeger: the tool module: %w", err)
	}
	return dir, nil
}

// EnsureBinary returns the cached Jaeger binary, building it first if it is
// missing.
func EnsureBinary(ctx context.Context, logf Logf) (string, error) {
	root, err := kube.CacheDir()
	if err != nil {
		return "", err
	}
	dir := filepath.Join(root, "jaeger-"+Version)
	bin := filepath.Join(dir, "jaeger")
	if isExecutable(bin) {
		return bin, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("jaeger: cache dir: %w", err)
	}
	unlock, err := lock(ctx, logf, filepath.Join(dir, ".lock"))
	if err != nil {
		return "", err
	}
	defer unlock()
	if isExecutable(bin) { // built by another process while we waited
		return bin, nil
	}
	src, err := toolDir()
	if err != nil {
		return "", err
	}
	logPath := filepath.Join(dir, "build.log")
	log, err := os.Create(logPath)
	if err != nil {
		return "", fmt.Errorf("jaeger: build log: %w", err)
	}
	defer log.Close()
	start := time.Now()
	logf.printf("jaeger: building %s into %s (first run only, ~5 min; log: %s)", Version, dir, logPath)
	tmp := fmt.Sprintf("%s.tmp-%d", bin, os.Getpid())
	cmd := exec.CommandContext(ctx, "go", "build", "-o", tmp, "github.com/jaegertracing/jaeger/cmd/jaeger")
	cmd.Dir, cmd.Stdout, cmd.Stderr = src, log, log
	if err := cmd.Run(); err != nil {
		_ = os.Remove(tmp)
		return "", fmt.Errorf("jaeger: build failed: %w (log: %s)", err, logPath)
	}
	if err := os.Rename(tmp, bin); err != nil {
		return "", fmt.Errorf("jaeger: install: %w", err)
	}
	logf.printf("jaeger: built in %s", time.Since(start).Round(time.Second))
	return bin, nil
}

func isExecutable(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0
}

// lock takes an exclusive flock on path, polling so ctx can cancel the wait.
func lock(ctx context.Context, logf Logf, path string) (func(), error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("jaeger: open lock %s: %w", path, err)
	}
	logged := false
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return func() { _ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN); f.Close() }, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			f.Close()
			return nil, fmt.Errorf("jaeger: lock %s: %w", path, err)
		}
		if !logged {
			logf.printf("jaeger: waiting for another build to finish (lock %s)", path)
			logged = true
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, fmt.Errorf("jaeger: waiting for the build lock: %w", ctx.Err())
		case <-time.After(time.Second):
		}
	}
}

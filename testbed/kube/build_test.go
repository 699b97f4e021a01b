package kube

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestEnsureBinaryConcurrent: parallel callers build once, and none sees a
// half-written binary.
func TestEnsureBinaryConcurrent(t *testing.T) {
	dir := t.TempDir()
	var builds atomic.Int32
	build := func(_ context.Context, _ Logf, src, out string, _ *os.File) error {
		builds.Add(1)
		if _, err := os.Stat(src); err != nil {
			return fmt.Errorf("no src dir: %w", err)
		}
		time.Sleep(200 * time.Millisecond)
		return os.WriteFile(out, []byte("#!/bin/sh\n"), 0o755)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Go(func() {
			bin, err := ensureBinary(context.Background(), t.Logf, dir, "tool", build)
			if err == nil && !isExecutable(bin) {
				err = fmt.Errorf("%s is not executable", bin)
			}
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	if n := builds.Load(); n != 1 {
		t.Errorf("built %d times, want 1", n)
	}
	if m, _ := filepath.Glob(filepath.Join(dir, "tool.tmp-*")); len(m) != 0 {
		t.Errorf("temporary files left: %v", m)
	}
}

func TestEnsureBinaryFailure(t *testing.T) {
	dir := t.TempDir()
	build := func(_ context.Context, _ Logf, _, _ string, log *os.File) error {
		fmt.Fprintln(log, "compile error: something specific")
		return fmt.Errorf("exit status 1")
	}
	_, err := ensureBinary(context.Background(), nil, dir, "tool", build)
	if err == nil || !strings.Contains(err.Error(), "something specific") || !strings.Contains(err.Error(), "build tool failed") {
		t.Fatalf("error = %v, want the step and the build log's tail", err)
	}
}

func TestLockFileHonoursContext(t *testing.T) {
	path := filepath.Join(t.TempDir(), ".lock")
	unlock, err := lockFile(context.Background(), nil, path, "x")
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 700*time.Millisecond)
	defer cancel()
	if _, err := lockFile(ctx, nil, path, "x"); err == nil {
		t.Fatal("second lock succeeded while the first is held")
	}
}

func TestSweepStaleDirs(t *testing.T) {
	base := t.TempDir()
	write := func(name string, s state) string {
		d := filepath.Join(base, dirPrefix+name)
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		data, _ := json.Marshal(s)
		if err := os.WriteFile(filepath.Join(d, stateFile), data, 0o644); err != nil {
			t.Fatal(err)
		}
		return d
	}
	const deadPID = 1 << 30 // above pid_max
	stale := write("stale", state{OwnerPID: deadPID})
	live := write("live", state{OwnerPID: os.Getpid()})
	detached := write("detached", state{OwnerPID: deadPID, Detached: true})
	sweepStaleDirs(base, t.Logf)
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Errorf("stale dir kept")
	}
	for _, d := range []string{live, detached} {
		if _, err := os.Stat(d); err != nil {
			t.Errorf("%s removed: %v", d, err)
		}
	}
}

// TestStartFailureShowsLog: a kube-apiserver that cannot start makes Start
// fail with its log's tail, and leaves nothing behind.
func TestStartFailureShowsLog(t *testing.T) {
	t.Parallel()
	base := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	_, err := Start(ctx, Options{Logf: t.Logf, BaseDir: base, ExtraAPIServerArgs: []string{"--no-such-flag-herald"}})
	if err == nil {
		t.Fatal("Start succeeded with a bad flag")
	}
	if !strings.Contains(err.Error(), "kube-apiserver did not become ready") || !strings.Contains(err.Error(), "no-such-flag-herald") {
		t.Errorf("error does not name the step and show the log:\n%v", err)
	}
	t.Logf("error as a user sees it:\n%v", err)
	if m, _ := filepath.Glob(filepath.Join(base, "*")); len(m) != 0 {
		t.Errorf("left behind: %v", m)
	}
}

package netlab

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// ownerFile records which process owns a lab: "<pid>" or "persistent".
const ownerFile = "owner"

func writeOwner(dir string, persistent bool) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("netlab: state dir: %w", err)
	}
	v := strconv.Itoa(os.Getpid())
	if persistent {
		v = "persistent"
	}
	if err := os.WriteFile(filepath.Join(dir, ownerFile), []byte(v+"\n"), 0o644); err != nil {
		return fmt.Errorf("netlab: owner record: %w", err)
	}
	return nil
}

// labOf returns the lab name a namespace belongs to ("hb17" for
// "hb17-node1") if the namespace matches prefix followed by digits and '-'.
func labOf(prefix, ns string) (string, bool) {
	rest, ok := strings.CutPrefix(ns, prefix)
	if !ok {
		return "", false
	}
	digits, _, ok := strings.Cut(rest, "-")
	if !ok || digits == "" {
		return "", false
	}
	if _, err := strconv.Atoi(digits); err != nil {
		return "", false
	}
	return prefix + digits, true
}

// stale reports whether lab's owner is gone (and it is not persistent).
func stale(lab string) bool {
	b, err := os.ReadFile(filepath.Join(StateRoot, lab, ownerFile))
	if err != nil {
		// No record: either a crash between creating the namespace and
		// writing the record, or a lab from before records existed.
		return true
	}
	v := strings.TrimSpace(string(b))
	if v == "persistent" {
		return false
	}
	pid, err := strconv.Atoi(v)
	if err != nil {
		return true
	}
	return pid != os.Getpid() && !processAlive(pid)
}

// CleanupStale removes the labs with this prefix whose owning process has
// died (a crashed or killed test run): it kills the processes in their
// namespaces, deletes the namespaces and their state directories. Labs of
// live processes and persistent labs are left alone, so it is safe to call
// at the start of every test run while other runs are in progress. It
// returns the names of the labs it removed.
func CleanupStale(ctx context.Context, log *slog.Logger, prefix string) ([]string, error) {
	return remove(ctx, log, prefix, stale)
}

// RemoveAll removes every lab with this prefix, live or persistent
// (testbed down).
func RemoveAll(ctx context.Context, log *slog.Logger, prefix string) ([]string, error) {
	return remove(ctx, log, prefix, func(string) bool { return true })
}

// ListLabs returns the names of the labs with this prefix that have
// namespaces, with whether each is persistent.
func ListLabs(prefix string) (map[string]bool, error) {
	nss, err := listNamespaces()
	if err != nil {
		return nil, err
	}
	labs := map[string]bool{}
	for _, ns := range nss {
		if lab, ok := labOf(prefix, ns); ok {
			b, _ := os.ReadFile(filepath.Join(StateRoot, lab, ownerFile))
			labs[lab] = strings.TrimSpace(string(b)) == "persistent"
		}
	}
	return labs, nil
}

func remove(ctx context.Context, log *slog.Logger, prefix string, match func(lab string) bool) ([]string, error) {
	if prefix == "" {
		return nil, errors.New("netlab: refusing to clean up with an empty prefix")
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	nss, err := listNamespaces()
	if err != nil {
		return nil, err
	}
	byLab := map[string][]string{}
	for _, ns := range nss {
		if lab, ok := labOf(prefix, ns); ok && match(lab) {
			byLab[lab] = append(byLab[lab], ns)
		}
	}
	// State directories without namespaces (crash during teardown).
	if entries, err := os.ReadDir(StateRoot); err == nil {
		for _, e := range entries {
			if lab, ok := labOf(prefix, e.Name()+"-"); ok && lab == e.Name() {
				if _, seen := byLab[lab]; !seen && match(lab) {
					byLab[lab] = nil
				}
			}
		}
	}
	var labs []string
	var errs []error
	for lab, list := range byLab {
		// The switch goes last, as in Close.
		sort.Slice(list, func(i, j int) bool {
			return !strings.HasSuffix(list[i], "-sw") && strings.HasSuffix(list[j], "-sw")
		})
		for _, ns := range list {
			if err := deleteNamespace(ctx, ns); err != nil {
				errs = append(errs, err)
			}
		}
		if err := os.RemoveAll(filepath.Join(StateRoot, lab)); err != nil {
			errs = append(errs, err)
		}
		log.Info("removed lab", "lab", lab, "namespaces", len(list))
		labs = append(labs, lab)
	}
	sort.Strings(labs)
	return labs, errors.Join(errs...)
}

// CloseOnSignal closes the lab when the process receives SIGINT or
// SIGTERM, then calls then(sig) (typically os.Exit). stop undoes it.
func (l *Lab) CloseOnSignal(then func(os.Signal)) (stop func()) {
	ch := make(chan os.Signal, 1)
	done := make(chan struct{})
	signal.Notify(ch, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		select {
		case sig := <-ch:
			l.log.Info("signal: tearing the lab down", "signal", sig)
			_ = l.Close()
			if then != nil {
				then(sig)
			}
		case <-done:
		}
	}()
	return func() {
		signal.Stop(ch)
		close(done)
	}
}

// NewForTest builds a lab for a test: it skips the test when not root,
// fails it on error, and closes the lab in t.Cleanup (also after a failure
// or panic). Labs are isolated, so tests using them may run in parallel.
func NewForTest(t testing.TB, opts Options) *Lab {
	t.Helper()
	if !IsRoot() {
		t.Skip("netlab: skipped, network namespaces need root (run as root: sudo go test ./...)")
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	l, err := New(context.Background(), opts)
	if err != nil {
		t.Fatalf("%v", err)
	}
	t.Cleanup(func() {
		if err := l.Close(); err != nil {
			t.Errorf("netlab: teardown of %s: %v", l.Name, err)
		}
	})
	return l
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Logf("%s", strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func writeOwnerValue(dir, v string) error {
	return os.WriteFile(filepath.Join(dir, ownerFile), []byte(v+"\n"), 0o644)
}

package bfdnet

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/vishvananda/netns"
)

// The lab tests run Managers on the kernel's sockets in two network
// namespaces joined by a veth pair ("va" in a, "vb" in b): 192.0.2.1/24,
// 2001:db8::1/64 and fe80::1/64 on a's end, .2, ::2 and fe80::2 on b's. They need root and
// iproute2, and skip otherwise.
type lab struct {
	a, b string // namespace names
}

const (
	labIfA = "va"
	labIfB = "vb"
)

var labSeq atomic.Int32

func needRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("skipped: needs root to create network namespaces; run go test as root to include it")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("skipped: needs iproute2 (ip)")
	}
}

func run(t testing.TB, args ...string) string {
	t.Helper()
	out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

func newLab(t testing.TB) *lab {
	needRoot(t)
	id := fmt.Sprintf("%d-%d", os.Getpid(), labSeq.Add(1))
	l := &lab{a: "hbfda-" + id, b: "hbfdb-" + id}
	for _, ns := range []string{l.a, l.b} {
		run(t, "ip", "netns", "add", ns)
		t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", ns).Run() })
		run(t, "ip", "-n", ns, "link", "set", "lo", "up")
	}
	run(t, "ip", "-n", l.a, "link", "add", labIfA, "type", "veth", "peer", "name", labIfB, "netns", l.b)
	run(t, "ip", "-n", l.a, "addr", "add", "192.0.2.1/24", "dev", labIfA)
	run(t, "ip", "-n", l.a, "addr", "add", "2001:db8::1/64", "dev", labIfA, "nodad")
	run(t, "ip", "-n", l.b, "addr", "add", "192.0.2.2/24", "dev", labIfB)
	run(t, "ip", "-n", l.b, "addr", "add", "2001:db8::2/64", "dev", labIfB, "nodad")
	run(t, "ip", "-n", l.a, "addr", "add", "fe80::1/64", "dev", labIfA, "nodad")
	run(t, "ip", "-n", l.b, "addr", "add", "fe80::2/64", "dev", labIfB, "nodad")
	run(t, "ip", "-n", l.a, "link", "set", labIfA, "up")
	run(t, "ip", "-n", l.b, "link", "set", labIfB, "up")
	return l
}

// in runs fn on a thread switched into namespace ns: sockets made there
// stay in ns.
func in(t testing.TB, ns string, fn func()) {
	t.Helper()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	orig, err := netns.Get()
	if err != nil {
		t.Fatal(err)
	}
	defer orig.Close()
	h, err := netns.GetFromName(ns)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	if err := netns.Set(h); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := netns.Set(orig); err != nil {
			panic(fmt.Sprintf("cannot return to the original network namespace: %v", err))
		}
	}()
	fn()
}

// changeLog collects a Manager's changes.
type changeLog struct {
	mu      sync.Mutex
	changes []Change
	ch      chan Change
}

func newChangeLog() *changeLog { return &changeLog{ch: make(chan Change, 4096)} }

func (c *changeLog) notify(ch Change) {
	c.mu.Lock()
	c.changes = append(c.changes, ch)
	c.mu.Unlock()
	select {
	case c.ch <- ch:
	default:
	}
}

// labManager starts a Manager whose sockets will live in ns: Add and
// Listen must be called through addIn.
func labManager(t testing.TB, opts Options) (*Manager, *changeLog) {
	t.Helper()
	log := newChangeLog()
	opts.Notify = log.notify
	if opts.Log == nil {
		opts.Log = quietLog
	}
	m, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Close() })
	return m, log
}

func addIn(t testing.TB, ns string, m *Manager, cfg SessionConfig) *Session {
	t.Helper()
	var s *Session
	var err error
	in(t, ns, func() { s, err = m.Add(cfg) })
	if err != nil {
		t.Fatalf("add %s in %s: %v", cfg.Key, ns, err)
	}
	return s
}

package bfdnet

import (
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/heraldlb/herald/bgpwire/bfd"
)

// liveHost is a Manager running its own goroutines on the real clock over
// an in-memory network: the plumbing the simulated tests leave out.
type liveHost struct {
	m       *Manager
	changes chan Change
}

func newLiveHost(t *testing.T, n *memNet, addr string) *liveHost {
	t.Helper()
	h := &liveHost{changes: make(chan Change, 64)}
	m, err := New(Options{Network: n.host(addr), Log: quietLog, Notify: func(c Change) { h.changes <- c }})
	if err != nil {
		t.Fatal(err)
	}
	h.m = m
	t.Cleanup(func() { _ = m.Close() })
	return h
}

// next waits for the next change; the bound is generous because this
// machine's two cores are shared, and what is tested is that it comes,
// not how fast.
func (h *liveHost) next(t *testing.T, what string) Change {
	t.Helper()
	select {
	case c := <-h.changes:
		return c
	case <-time.After(10 * time.Second):
		t.Fatalf("no change for %s within 10s", what)
		return Change{}
	}
}

func TestLiveManagers(t *testing.T) {
	n := newMemNet(false)
	a := newLiveHost(t, n, "192.0.2.1")
	b := newLiveHost(t, n, "192.0.2.2")
	p := profile(20, 3)
	sa, err := a.m.Add(SessionConfig{Key: Key{Peer: addrB}, Profile: p})
	if err != nil {
		t.Fatal(err)
	}
	sb, err := b.m.Add(SessionConfig{Key: Key{Peer: addrA}, Profile: p})
	if err != nil {
		t.Fatal(err)
	}
	if c := a.next(t, "a up"); !c.Up || c.Session != sa {
		t.Fatalf("a: %+v", c)
	}
	if c := b.next(t, "b up"); !c.Up || c.Session != sb {
		t.Fatalf("b: %+v", c)
	}
	n.setCut(addrA, addrB, true)
	for _, h := range []*liveHost{a, b} {
		if c := h.next(t, "detection"); c.Up || c.Cause != bfd.CauseDetectionTimeExpired {
			t.Fatalf("after the cut: %+v", c)
		}
	}
	n.setCut(addrA, addrB, false)
	a.next(t, "a up again")
	b.next(t, "b up again")
	sb.Remove()
	if c := a.next(t, "admin down"); c.Up || c.Cause != bfd.CauseNeighborAdminDown {
		t.Fatalf("a after b removed its session: %+v", c)
	}
	if c := b.next(t, "local admin down"); c.Up || c.Cause != bfd.CauseAdminDown {
		t.Fatalf("b: %+v", c)
	}
	if st := a.m.Stats(); st.Lateness.Count == 0 {
		t.Error("no transmit timer recorded in Lateness")
	}
	if err := a.m.Close(); err != nil {
		t.Fatal(err)
	}
	if err := b.m.Close(); err != nil {
		t.Fatal(err)
	}
	// Close waited for the scheduler, notifier and reader goroutines; none
	// is left (they may take a moment to leave the runtime's list).
	waitFor(t, "the Managers' goroutines to end", func() bool {
		buf := make([]byte, 1<<20)
		stacks := string(buf[:runtime.Stack(buf, true)])
		for _, fn := range []string{"bfdnet.(*Manager).run", "bfdnet.(*notifier).run", "bfdnet.(*listener).read", "bfdnet.(*Session).readEcho"} {
			if strings.Contains(stacks, fn) {
				return false
			}
		}
		return true
	})
	if _, err := a.m.Add(SessionConfig{Key: Key{Peer: addrB}, Profile: p}); err == nil {
		t.Error("Add after Close succeeded")
	}
}

// waitFor polls cond until it holds or 10 s pass (a generous bound: the
// cores are shared, and what is tested is that it happens).
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

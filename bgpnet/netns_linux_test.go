package bgpnet

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// The integration tests build network namespaces joined by veth pairs with
// iproute2 and run Herald's sockets in them. They need root and skip
// otherwise. Every namespace is named after the test process and removed
// in t.Cleanup, with whatever runs in it.

func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("skipped: needs root to create network namespaces and veth pairs; run go test as root to include it")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("skipped: needs iproute2 (ip)")
	}
}

func sh(t testing.TB, args ...string) string {
	t.Helper()
	out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

var nsSeq atomic.Int32

// lab is a set of namespaces for one test; names maps a short role ("h"
// for Herald, "p" for a peer, "r" for a router) to the namespace's name.
type lab struct {
	t     *testing.T
	names map[string]string
}

func newLab(t *testing.T, roles ...string) *lab {
	needRoot(t)
	l := &lab{t: t, names: map[string]string{}}
	for _, role := range roles {
		ns := fmt.Sprintf("hbn%d-%d-%s", os.Getpid()%100000, nsSeq.Add(1), role)
		sh(t, "ip", "netns", "add", ns)
		t.Cleanup(func() { deleteNamespace(ns) })
		l.names[role] = ns
		l.sysctl(role, "net.ipv6.conf.all.accept_dad=0", "net.ipv6.conf.default.accept_dad=0")
		sh(t, "ip", "-n", ns, "link", "set", "lo", "up")
	}
	return l
}

// deleteNamespace kills what still runs in ns (FRR) and removes it.
func deleteNamespace(ns string) {
	out, _ := exec.Command("ip", "netns", "pids", ns).Output()
	for _, f := range strings.Fields(string(out)) {
		_ = exec.Command("kill", "-9", f).Run()
	}
	_ = exec.Command("ip", "netns", "del", ns).Run()
}

func (l *lab) ns(role string) string {
	ns, ok := l.names[role]
	if !ok {
		l.t.Fatalf("no namespace %q in the lab", role)
	}
	return ns
}

func (l *lab) sysctl(role string, kv ...string) {
	l.t.Helper()
	sh(l.t, append([]string{"ip", "netns", "exec", l.ns(role), "sysctl", "-qw"}, kv...)...)
}

// ip runs `ip -n <ns> args...`.
func (l *lab) ip(role string, args ...string) string {
	l.t.Helper()
	return sh(l.t, append([]string{"ip", "-n", l.ns(role)}, args...)...)
}

// link joins two namespaces with a veth pair, brings both ends up and
// gives each end its addresses (CIDR notation).
func (l *lab) link(a, ifA string, addrsA []string, b, ifB string, addrsB []string) {
	l.t.Helper()
	l.ip(a, "link", "add", ifA, "type", "veth", "peer", "name", ifB, "netns", l.ns(b))
	for _, side := range []struct {
		role, ifname string
		addrs        []string
	}{{b, ifB, addrsB}, {a, ifA, addrsA}} {
		// The end in the other namespace comes up first: on this kernel
		// (6.18), when the creating end is up first the other end never
		// gets carrier, and without carrier it has no link-local address.
		for _, addr := range side.addrs {
			args := []string{"addr", "add", addr, "dev", side.ifname}
			if strings.Contains(addr, ":") {
				args = append(args, "nodad")
			}
			l.ip(side.role, args...)
		}
		l.ip(side.role, "link", "set", side.ifname, "up")
	}
}

// in runs fn on an OS thread in the role's namespace. Sockets fn opens
// stay in that namespace whatever thread uses them later.
func (l *lab) in(role string, fn func()) {
	l.t.Helper()
	if err := inNetns(l.ns(role), fn); err != nil {
		l.t.Fatal(err)
	}
}

func inNetns(ns string, fn func()) error {
	target, err := unix.Open("/run/netns/"+ns, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open namespace %s: %w", ns, err)
	}
	defer unix.Close(target)
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			runtime.UnlockOSThread()
			done <- err
			return
		}
		defer unix.Close(orig)
		if err := unix.Setns(target, unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			done <- fmt.Errorf("enter namespace %s: %w", ns, err)
			return
		}
		var panicked any
		func() {
			defer func() { panicked = recover() }()
			fn()
		}()
		if err := unix.Setns(orig, unix.CLONE_NEWNET); err != nil {
			// The thread stays locked and dies with the goroutine.
			done <- fmt.Errorf("leave namespace %s: %w", ns, err)
			return
		}
		runtime.UnlockOSThread()
		if panicked != nil {
			done <- fmt.Errorf("panic in namespace %s: %v", ns, panicked)
			return
		}
		done <- nil
	}()
	return <-done
}

// dial dials from role with a timeout.
func (l *lab) dial(role string, o Options, timeout time.Duration) (*Conn, error) {
	var c *Conn
	var err error
	l.in(role, func() {
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		c, err = Dial(ctx, o)
	})
	if c != nil {
		l.t.Cleanup(func() { _ = c.Close() })
	}
	return c, err
}

// register registers o on ls from role's namespace (where a new listener
// opens) and returns the channel its connections arrive on.
func (l *lab) register(role string, ls *Listeners, o Options) (*Registration, chan *Conn) {
	l.t.Helper()
	ch := make(chan *Conn, 8)
	var r *Registration
	var err error
	l.in(role, func() { r, err = ls.Register(o, func(c *Conn) { ch <- c }) })
	if err != nil {
		l.t.Fatalf("register %s: %v", o.Peer, err)
	}
	l.t.Cleanup(func() {
		_ = r.Close()
		for {
			select {
			case c := <-ch:
				_ = c.Close()
			default:
				return
			}
		}
	})
	return r, ch
}

func newListeners(t *testing.T) *Listeners {
	ls := NewListeners()
	t.Cleanup(func() { _ = ls.Close() })
	return ls
}

// expectConn waits for one delivered connection and proves it carries
// bytes both ways with the dialled one.
func expectConn(t *testing.T, ch chan *Conn, dialled *Conn) *Conn {
	t.Helper()
	select {
	case c := <-ch:
		t.Cleanup(func() { _ = c.Close() })
		// Zones differ: each end names the link by its own interface.
		if unzoned(c.Remote) != unzoned(dialled.Local) || unzoned(c.Local) != unzoned(dialled.Remote) {
			t.Fatalf("accepted %v -> %v, dialled %v -> %v", c.Remote, c.Local, dialled.Local, dialled.Remote)
		}
		exchange(t, dialled, c)
		return c
	case <-time.After(5 * time.Second):
		t.Fatal("the listener delivered no connection")
	}
	return nil
}

// exchange writes a line each way and reads it back on the other end.
func exchange(t *testing.T, a, b net.Conn) {
	t.Helper()
	for _, pair := range [][2]net.Conn{{a, b}, {b, a}} {
		msg := []byte("open sesame\n")
		if _, err := pair[0].Write(msg); err != nil {
			t.Fatalf("write: %v", err)
		}
		got := make([]byte, len(msg))
		_ = pair[1].SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := io.ReadFull(pair[1], got); err != nil {
			t.Fatalf("read: %v", err)
		}
		if string(got) != string(msg) {
			t.Fatalf("read %q, want %q", got, msg)
		}
	}
}

// expectNoConn checks that nothing is delivered for a while.
func expectNoConn(t *testing.T, ch chan *Conn, within time.Duration) {
	t.Helper()
	select {
	case c := <-ch:
		_ = c.Close()
		t.Fatalf("the listener delivered a connection from %v; it must not", c.Remote)
	case <-time.After(within):
	}
}

// wantErr checks that err wraps want and that its text contains every
// fragment.
func wantErr(t *testing.T, err, want error, fragments ...string) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("error %v; want one wrapping %q", err, want)
	}
	for _, f := range fragments {
		if !strings.Contains(err.Error(), f) {
			t.Errorf("error %q does not say %q", err, f)
		}
	}
}

func mustAddr(s string) netip.Addr { return netip.MustParseAddr(s) }

// reachable waits until role can ping every address: a veth pair's IPv6
// side takes a moment after it comes up, and a first SYN sent before then
// is lost and retransmitted only a second later. Arguments starting with
// "-I" bind the pings that follow to an interface.
func (l *lab) reachable(role string, addrs ...string) {
	l.t.Helper()
	var opts []string
	for i := 0; i < len(addrs); i++ {
		a := addrs[i]
		if a == "-I" && i+1 < len(addrs) {
			opts = []string{"-I", addrs[i+1]}
			i++
			continue
		}
		deadline := time.Now().Add(10 * time.Second)
		for {
			args := append([]string{"netns", "exec", l.ns(role), "ping", "-c1", "-W1", "-q"}, opts...)
			err := exec.Command("ip", append(args, a)...).Run()
			if err == nil {
				break
			}
			if time.Now().After(deadline) {
				l.t.Fatalf("%s cannot reach %s: %v", role, a, err)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

func unzoned(ap netip.AddrPort) netip.AddrPort {
	return netip.AddrPortFrom(ap.Addr().WithZone(""), ap.Port())
}

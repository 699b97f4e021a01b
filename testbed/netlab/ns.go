package netlab

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// netnsDir is where iproute2 keeps the bind mounts of named namespaces.
const netnsDir = "/run/netns"

// IsRoot reports whether the process can create network namespaces. Tests
// skip with a message when it is false.
func IsRoot() bool { return os.Geteuid() == 0 }

// RunInNamespace runs fn on an OS thread that has joined the named network
// namespace. Sockets created by fn (listeners, dialled connections) belong
// to that namespace and keep working from any goroutine afterwards. fn must
// not start goroutines that expect to be in the namespace: they are not.
//
// The thread is restored to its original namespace afterwards; if that
// fails the thread is retired (the goroutine exits locked) rather than
// returned to the Go scheduler in the wrong namespace.
func RunInNamespace(name string, fn func() error) error {
	target, err := unix.Open(netnsDir+"/"+name, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open namespace %s: %w", name, err)
	}
	defer unix.Close(target)

	type result struct{ err error }
	done := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			runtime.UnlockOSThread()
			done <- result{fmt.Errorf("open current namespace: %w", err)}
			return
		}
		defer unix.Close(orig)
		if err := unix.Setns(target, unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			done <- result{fmt.Errorf("enter namespace %s: %w", name, err)}
			return
		}
		ferr := fn()
		if err := unix.Setns(orig, unix.CLONE_NEWNET); err != nil {
			// Leave the thread locked: it dies with this goroutine.
			done <- result{errors.Join(ferr, fmt.Errorf("leave namespace %s: %w", name, err))}
			return
		}
		runtime.UnlockOSThread()
		done <- result{ferr}
	}()
	return (<-done).err
}

// runCmd runs argv and returns its combined output; a failure names the
// command and carries its output.
func runCmd(ctx context.Context, argv ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	cmd.WaitDelay = 2 * time.Second
	if err := cmd.Run(); err != nil {
		return out.Bytes(), fmt.Errorf("%s: %w: %s", strings.Join(argv, " "), err, strings.TrimSpace(out.String()))
	}
	return out.Bytes(), nil
}

// ipBatch feeds commands to one `ip -batch -` (optionally inside -n ns), so
// building a lab costs a handful of processes rather than hundreds.
func ipBatch(ctx context.Context, ns string, lines []string) error {
	if len(lines) == 0 {
		return nil
	}
	args := []string{}
	if ns != "" {
		args = append(args, "-n", ns)
	}
	args = append(args, "-batch", "-")
	cmd := exec.CommandContext(ctx, "ip", args...)
	cmd.Stdin = strings.NewReader(strings.Join(lines, "\n") + "\n")
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("ip %s <<batch in %q: %w: %s\nbatch was:\n%s", strings.Join(args, " "), ns, err,
			strings.TrimSpace(out.String()), strings.Join(lines, "\n"))
	}
	return nil
}

// sysctls sets kernel parameters inside a namespace with one process.
func sysctls(ctx context.Context, ns string, kv ...string) error {
	argv := []string{"ip", "netns", "exec", ns, "sysctl", "-q", "-w"}
	argv = append(argv, kv...)
	_, err := runCmd(ctx, argv...)
	return err
}

// listNamespaces returns the named namespaces iproute2 knows about.
func listNamespaces() ([]string, error) {
	entries, err := os.ReadDir(netnsDir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(entries))
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names, nil
}

// namespacePIDs lists the processes whose network namespace is ns (what
// `ip netns pids` prints), excluding this process.
func namespacePIDs(ctx context.Context, ns string) ([]int, error) {
	out, err := runCmd(ctx, "ip", "netns", "pids", ns)
	if err != nil {
		return nil, err
	}
	var pids []int
	for _, f := range strings.Fields(string(out)) {
		pid, err := strconv.Atoi(f)
		if err == nil && pid != os.Getpid() {
			pids = append(pids, pid)
		}
	}
	return pids, nil
}

// killNamespace sends SIGTERM to every process in ns, waits up to grace for
// them to go, then SIGKILLs the rest.
func killNamespace(ctx context.Context, ns string, grace time.Duration) error {
	pids, err := namespacePIDs(ctx, ns)
	if err != nil || len(pids) == 0 {
		return err
	}
	for _, pid := range pids {
		_ = syscall.Kill(pid, syscall.SIGTERM)
	}
	deadline := time.Now().Add(grace)
	for time.Now().Before(deadline) {
		alive := 0
		for _, pid := range pids {
			if processAlive(pid) {
				alive++
			}
		}
		if alive == 0 {
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	for _, pid := range pids {
		if processAlive(pid) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
	return nil
}

// processAlive reports whether pid exists and is not a zombie.
func processAlive(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	// The state follows the parenthesised command name.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 || i+2 >= len(s) {
		return false
	}
	return s[i+2] != 'Z'
}

// deleteNamespace kills what runs in ns and removes it.
func deleteNamespace(ctx context.Context, ns string) error {
	if _, err := os.Stat(netnsDir + "/" + ns); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	kerr := killNamespace(ctx, ns, 2*time.Second)
	_, derr := runCmd(ctx, "ip", "netns", "delete", ns)
	return errors.Join(kerr, derr)
}

package netlab

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Attach returns the Lab named name (e.g. "hb17") that another process
// built, typically a persistent one from `testbed up`, so `testbed status`
// and `testbed down` can inspect and remove it. Its Close removes the lab.
func Attach(name string, log *slog.Logger) (*Lab, error) {
	digits := strings.TrimLeft(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_")
	prefix := strings.TrimSuffix(name, digits)
	id, err := strconv.Atoi(digits)
	if prefix == "" || err != nil {
		return nil, fmt.Errorf("netlab: %q is not a lab name (prefix then ID, like hb17)", name)
	}
	if _, err := os.Stat(filepath.Join(netnsDir, name+"-sw")); err != nil {
		return nil, fmt.Errorf("netlab: lab %s does not exist: %w", name, err)
	}
	nodes := 0
	for {
		if _, err := os.Stat(filepath.Join(netnsDir, name+"-node"+strconv.Itoa(nodes+1))); err != nil {
			break
		}
		nodes++
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	l := newLab(id, Options{Nodes: nodes, Prefix: prefix, Log: log})
	l.onClose(func() error { return os.RemoveAll(l.Dir) })
	l.onClose(func() error { return deleteNamespace(context.Background(), l.Switch) })
	for _, h := range l.Hosts() {
		ns := h.NS
		l.onClose(func() error { return deleteNamespace(context.Background(), ns) })
	}
	return l, nil
}

// StartProcess starts argv inside namespace ns (a namespace or a host
// role) as a detached process (its own process group, output appended to
// logPath), for helpers that must outlive the calling process, such as a
// backend re-exec'd from the testbed command for a persistent lab. The lab
// kills it on Close with everything else in its namespaces.
func (l *Lab) StartProcess(ns, logPath string, argv ...string) (*os.Process, error) {
	if h, err := l.Host(ns); err == nil {
		ns = h.NS
	}
	out, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	defer out.Close()
	cmd := exec.Command("ip", append([]string{"netns", "exec", ns}, argv...)...)
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("netlab: start %v in %s: %w", argv, ns, err)
	}
	// Reap it if it ends while we run; it is not our child to wait for
	// once we exit.
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	// Until ip has entered the namespace the process is not among the
	// namespace's pids, so a Close right after would not kill it (seen
	// once under a full test run). Return once it is in.
	if err := waitInNamespace(cmd.Process.Pid, ns, exited, 5*time.Second); err != nil {
		_ = cmd.Process.Kill()
		return nil, fmt.Errorf("netlab: start %v in %s: %w", argv, ns, err)
	}
	return cmd.Process, nil
}

// waitInNamespace waits until process pid runs in network namespace ns
// (its /proc/PID/ns/net is the namespace's inode), or it exited.
func waitInNamespace(pid int, ns string, exited <-chan struct{}, timeout time.Duration) error {
	var st syscall.Stat_t
	if err := syscall.Stat(netnsDir+"/"+ns, &st); err != nil {
		return err
	}
	want := fmt.Sprintf("net:[%d]", st.Ino)
	deadline := time.Now().Add(timeout)
	for {
		if link, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/net", pid)); err == nil && link == want {
			return nil
		}
		select {
		case <-exited:
			return nil // it ran and ended; nothing is left to kill
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("process %d not in the namespace after %s", pid, timeout)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

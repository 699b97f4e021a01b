package routers

import (
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// procState is the state letter of pid in /proc/PID/stat (R, S, T, ...).
func procState(t *testing.T, pid int) string {
	t.Helper()
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		t.Fatal(err)
	}
	_, after, _ := strings.Cut(string(b), ") ")
	return after[:1]
}

func TestProcsSignal(t *testing.T) {
	cmd := exec.Command("sleep", "30")
	if err := cmd.Start(); err != nil {
		t.Skip("no sleep to run:", err)
	}
	p := &proc{name: "bgpd", cmd: cmd, done: make(chan struct{})}
	go func() { p.err = cmd.Wait(); close(p.done) }()
	var ps procs
	ps.add(p)
	t.Cleanup(ps.stopAll)

	waitState := func(want string) {
		t.Helper()
		for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
			got := procState(t, cmd.Process.Pid)
			if got == want {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("process state %s, want %s", got, want)
			}
		}
	}
	if err := ps.signal("bgpd", syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	waitState("T")
	if err := ps.signal("bgpd", syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	waitState("S")
	if err := ps.signal("bfdd", syscall.SIGSTOP); err == nil {
		t.Error("signalled a daemon that is not running")
	}
}

package kube

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// StopDir stops the control plane whose directory is dir (see
// ControlPlane.Dir), from any process: it kills etcd's and kube-apiserver's
// process groups and removes the directory. It is what `testbed down` uses
// for a control plane started with Options.Detach.
func StopDir(dir string) error {
	data, err := os.ReadFile(filepath.Join(dir, stateFile))
	if err != nil {
		return fmt.Errorf("kube: %s is not a control plane directory: %w", dir, err)
	}
	var s state
	if err := json.Unmarshal(data, &s); err != nil {
		return fmt.Errorf("kube: read %s: %w", filepath.Join(dir, stateFile), err)
	}
	for _, pid := range []int{s.APIServerPID, s.EtcdPID} {
		killGroupIfOurs(pid, dir)
	}
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("kube: remove %s: %w", dir, err)
	}
	return nil
}

// killGroupIfOurs kills pid's process group if pid still runs a command
// whose arguments mention dir (guarding against a reused pid).
func killGroupIfOurs(pid int, dir string) {
	if !pidAlive(pid) {
		return
	}
	cmdline, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
	if err != nil || !strings.Contains(string(cmdline), dir) {
		return
	}
	_ = syscall.Kill(-pid, syscall.SIGTERM)
	for i := 0; i < 50 && pidAlive(pid); i++ {
		time.Sleep(100 * time.Millisecond)
	}
	_ = syscall.Kill(-pid, syscall.SIGKILL)
}

// sweepStaleDirs removes control plane directories under base whose owner
// process died without calling Stop (a killed test binary). Their etcd and
// kube-apiserver died with the owner (PR_SET_PDEATHSIG); detached ones are
// left alone.
func sweepStaleDirs(base string, logf Logf) {
	dirs, _ := filepath.Glob(filepath.Join(base, dirPrefix+"*"))
	for _, d := range dirs {
		data, err := os.ReadFile(filepath.Join(d, stateFile))
		if err != nil {
			continue // being created, or not ours
		}
		var s state
		if json.Unmarshal(data, &s) != nil || s.Detached || pidAlive(s.OwnerPID) {
			continue
		}
		for _, pid := range []int{s.APIServerPID, s.EtcdPID} {
			killGroupIfOurs(pid, d)
		}
		if os.RemoveAll(d) == nil {
			logf.printf("kube: removed stale control plane dir %s (owner %d is gone)", d, s.OwnerPID)
		}
	}
}

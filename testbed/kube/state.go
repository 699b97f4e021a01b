package kube

import (
	"context"
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
	s, err := readState(dir)
	if err != nil {
		return err
	}
	for _, pid := range []int{s.APIServerPID, s.EtcdPID} {
		killGroupIfOurs(pid, dir)
	}
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("kube: remove %s: %w", dir, err)
	}
	return nil
}

// isOurs reports whether pid runs a command whose arguments mention dir
// (guarding against a reused pid).
func isOurs(pid int, dir string) bool {
	if !pidAlive(pid) {
		return false
	}
	cmdline, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
	return err == nil && strings.Contains(string(cmdline), dir)
}

// killGroupIfOurs kills pid's process group if isOurs(pid, dir).
func killGroupIfOurs(pid int, dir string) {
	if !isOurs(pid, dir) {
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

func readState(dir string) (state, error) {
	var s state
	data, err := os.ReadFile(filepath.Join(dir, stateFile))
	if err != nil {
		return s, fmt.Errorf("kube: %s is not a control plane directory: %w", dir, err)
	}
	if err := json.Unmarshal(data, &s); err != nil {
		return s, fmt.Errorf("kube: read %s: %w", filepath.Join(dir, stateFile), err)
	}
	return s, nil
}

// Attach returns a handle on a running control plane from its directory
// (ControlPlane.Dir), typically one started with Options.Detach by another
// process: clients, kubeconfigs, InstallCRDs, Relay and RestartAPIServer
// work as on the original; Stop stops it for good (as StopDir does).
func Attach(ctx context.Context, dir string, logf Logf) (*ControlPlane, error) {
	s, err := readState(dir)
	if err != nil {
		return nil, err
	}
	if !isOurs(s.APIServerPID, dir) && !isOurs(s.EtcdPID, dir) {
		return nil, fmt.Errorf("kube: control plane in %s is not running (etcd pid %d, kube-apiserver pid %d)", dir, s.EtcdPID, s.APIServerPID)
	}
	paths, err := EnsureBinaries(ctx, logf)
	if err != nil {
		return nil, err
	}
	p := &pki{
		caFile:     filepath.Join(dir, "ca.crt"),
		certFile:   filepath.Join(dir, "apiserver.crt"),
		keyFile:    filepath.Join(dir, "apiserver.key"),
		saKeyFile:  filepath.Join(dir, "sa.key"),
		tokensFile: filepath.Join(dir, "tokens.csv"),
	}
	if p.caPEM, err = os.ReadFile(p.caFile); err != nil {
		return nil, fmt.Errorf("kube: attach %s: %w", dir, err)
	}
	return &ControlPlane{
		opts:       Options{Logf: logf, Detach: s.Detached},
		paths:      paths,
		dir:        dir,
		pki:        p,
		adminToken: s.AdminToken,
		etcdPort:   s.EtcdPort,
		peerPort:   s.PeerPort,
		apiPort:    s.APIPort,
		attached:   true,
		attPIDs:    s,
	}, nil
}

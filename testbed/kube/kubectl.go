package kube

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
)

// Kubectl runs the cached kubectl (Paths.Kubectl, the same version as the
// API server) as AdminUser with the admin kubeconfig, and returns its
// standard output: what a user sees, e.g. from `kubectl get -o yaml` or
// `kubectl apply -f file`. Standard input is empty, so pass manifests as
// files. The discovery cache lives in the control plane's directory, never
// in $HOME. If kubectl fails, the error names the command and includes its
// standard error, and the standard output so far is returned too; on
// success, anything kubectl wrote to standard error (warnings) is logged.
func (c *ControlPlane) Kubectl(ctx context.Context, args ...string) ([]byte, error) {
	if c.paths.Kubectl == "" {
		return nil, fmt.Errorf("kube: kubectl %s: no kubectl binary", strings.Join(args, " "))
	}
	full := append([]string{
		"--kubeconfig=" + c.AdminKubeconfig(),
		"--cache-dir=" + filepath.Join(c.dir, "kubectl-cache"),
	}, args...)
	cmd := exec.CommandContext(ctx, c.paths.Kubectl, full...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	cmd.WaitDelay = stopGrace
	err := cmd.Run()
	if err != nil {
		return stdout.Bytes(), fmt.Errorf("kube: kubectl %s: %w\n%s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	if s := strings.TrimSpace(stderr.String()); s != "" {
		c.opts.Logf.printf("kube: kubectl %s: %s", strings.Join(args, " "), s)
	}
	return stdout.Bytes(), nil
}

package chart

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/heraldlb/herald/testbed/kube"
)

// HelmVersion is the helm the lab installs the chart with; make tools
// installs the same version into bin/tools.
const HelmVersion = "v3.22.0"

// HelmEnv, when set, is the helm binary to use.
const HelmEnv = "HERALD_HELM"

// Helm returns a helm binary at HelmVersion: $HERALD_HELM if set, else
// bin/tools/helm of the repository if it is that version (make tools puts
// it there), else one built with `go install` into the lab's cache (the
// first time takes minutes; later calls return at once).
func Helm(ctx context.Context) (string, error) {
	if p := os.Getenv(HelmEnv); p != "" {
		return p, nil
	}
	dir, err := Dir()
	if err != nil {
		return "", err
	}
	repoBin := filepath.Join(dir, "..", "..", "bin", "tools", "helm")
	if v, err := helmVersion(ctx, repoBin); err == nil && v == HelmVersion {
		return repoBin, nil
	}
	cache, err := kube.CacheDir()
	if err != nil {
		return "", err
	}
	cached := filepath.Join(cache, "helm-"+HelmVersion, "helm")
	if v, err := helmVersion(ctx, cached); err == nil && v == HelmVersion {
		return cached, nil
	}
	// Built into a directory of its own and renamed into place, so a
	// concurrent caller never runs a half-written binary.
	tmp, err := os.MkdirTemp(cache, "helm-build-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp)
	cmd := exec.CommandContext(ctx, "go", "install",
		"-ldflags", "-X helm.sh/helm/v3/internal/version.version="+HelmVersion,
		"helm.sh/helm/v3/cmd/helm@"+HelmVersion)
	cmd.Dir = tmp
	cmd.Env = append(os.Environ(), "GOBIN="+tmp, "GOWORK=off", "GOFLAGS=")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("chart: go install helm %s: %w\n%s", HelmVersion, err, out)
	}
	if err := os.MkdirAll(filepath.Dir(cached), 0o755); err != nil {
		return "", err
	}
	if err := os.Rename(filepath.Join(tmp, "helm"), cached); err != nil {
		return "", err
	}
	return cached, nil
}

func helmVersion(ctx context.Context, bin string) (string, error) {
	out, err := exec.CommandContext(ctx, bin, "version", "--template", "{{.Version}}").Output()
	return strings.TrimSpace(string(out)), err
}

// HelmCLI runs helm against one cluster, with its configuration, cache
// and data in a directory of its own (nothing of the user's is read or
// written).
type HelmCLI struct {
	Bin        string
	Kubeconfig string
	Home       string
}

// Run runs helm with args and returns its combined output.
func (h HelmCLI) Run(ctx context.Context, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, h.Bin, append([]string{"--kubeconfig", h.Kubeconfig}, args...)...)
	cmd.Env = append(os.Environ(),
		"HELM_CONFIG_HOME="+filepath.Join(h.Home, "config"),
		"HELM_CACHE_HOME="+filepath.Join(h.Home, "cache"),
		"HELM_DATA_HOME="+filepath.Join(h.Home, "data"),
	)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if err != nil {
		return out.String(), fmt.Errorf("helm %s: %w\n%s", strings.Join(args, " "), err, out.String())
	}
	return out.String(), nil
}

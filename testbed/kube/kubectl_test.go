package kube

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
)

// testKubectl: the built kubectl is the API server's version and talks to
// it as the admin.
func testKubectl(ctx context.Context, t *testing.T, cp *ControlPlane) {
	out, err := cp.Kubectl(ctx, "version", "-o", "json")
	if err != nil {
		t.Fatal(err)
	}
	var v struct {
		ClientVersion, ServerVersion *struct {
			GitVersion, Major, Minor string
		}
	}
	if err := json.Unmarshal(out, &v); err != nil {
		t.Fatalf("kubectl version -o json: %v\n%s", err, out)
	}
	if v.ClientVersion == nil || v.ClientVersion.GitVersion != KubernetesVersion {
		t.Errorf("client version %+v, want %s\n%s", v.ClientVersion, KubernetesVersion, out)
	}
	if v.ServerVersion == nil || v.ServerVersion.GitVersion != KubernetesVersion {
		t.Errorf("server version %+v, want %s\n%s", v.ServerVersion, KubernetesVersion, out)
	}

	out, err = cp.Kubectl(ctx, "get", "--raw", "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimSpace(string(out)); got != "ok" {
		t.Errorf("kubectl get --raw /readyz = %q, want ok", got)
	}

	// A failure names the command and carries kubectl's own message.
	_, err = cp.Kubectl(ctx, "get", "no-such-kind-herald")
	if err == nil || !strings.Contains(err.Error(), "kubectl get no-such-kind-herald") ||
		!strings.Contains(err.Error(), "doesn't have a resource type") || !strings.Contains(err.Error(), "exit status") {
		t.Errorf("error = %v, want the command, its exit status and kubectl's stderr", err)
	}
	t.Logf("a kubectl failure as a user sees it:\n%v", err)
}

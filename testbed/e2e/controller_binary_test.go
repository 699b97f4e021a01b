package e2e

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// The real binary: `herald controller` built from this checkout, run with
// the chart's ServiceAccount kubeconfig, serves /healthz, /readyz and
// /metrics, allocates, and on SIGTERM stops and releases its Lease.
func TestControllerBinary(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "herald")
	build := exec.CommandContext(t.Context(), "go", "build", "-o", bin, "./cmd/herald")
	build.Dir = repoFile(t, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/herald: %v\n%s", err, out)
	}
	l := newLab(t)
	kubeconfig, err := l.cp.KubeconfigFor(t.Context(), herald, "herald-controller")
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	wln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	webhookAddr := wln.Addr().String()
	wln.Close()

	var logs bytes.Buffer
	cmd := exec.Command(bin, "controller", "--kubeconfig", kubeconfig, "--metrics-addr", addr, "--identity", "bin-1",
		"--lease-duration", "4s", "--renew-deadline", "3s", "--retry-period", "500ms",
		"--webhook-addr", webhookAddr, "--webhook-cert-ip", "127.0.0.1")
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		if t.Failed() {
			t.Logf("herald controller output:\n%s", logs.String())
		}
	})

	get := func(path string) (int, string) {
		resp, err := http.Get("http://" + addr + path)
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	eventually(t, 30*time.Second, "/readyz", func() (bool, string) {
		code, body := get("/readyz")
		return code == http.StatusOK, body
	})
	if code, _ := get("/healthz"); code != http.StatusOK {
		t.Errorf("/healthz %d", code)
	}

	// The webhook is served on every replica, with a certificate the
	// controller made and keeps in a Secret, valid for the address the API
	// server would dial.
	var webhookCert *x509.Certificate
	eventually(t, 30*time.Second, "the webhook serving TLS", func() (bool, string) {
		conn, err := tls.Dial("tcp", webhookAddr, &tls.Config{InsecureSkipVerify: true})
		if err != nil {
			return false, err.Error()
		}
		defer conn.Close()
		webhookCert = conn.ConnectionState().PeerCertificates[0]
		return true, ""
	})
	if err := webhookCert.VerifyHostname("127.0.0.1"); err != nil {
		t.Errorf("webhook certificate: %v", err)
	}
	secret, err := l.admin.CoreV1().Secrets(herald).Get(t.Context(), "herald-webhook-cert", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("the webhook's certificate Secret: %v", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(secret.Data["ca.crt"]) {
		t.Fatalf("Secret %s/herald-webhook-cert has no CA certificate", herald)
	}
	if _, err := webhookCert.Verify(x509.VerifyOptions{Roots: pool, DNSName: "herald-webhook." + herald + ".svc"}); err != nil {
		t.Errorf("the served certificate does not chain to the Secret's CA for the Service name: %v", err)
	}

	l.pool(newPool("p", "10.123.0.0/30"))
	l.create(lbService("default", "web", nil))
	l.waitIngress("default", "web", "10.123.0.0")
	eventually(t, 10*time.Second, "/metrics", func() (bool, string) {
		_, body := get("/metrics")
		return strings.Contains(body, `herald_pool_addresses_in_use{family="ipv4",pool="p"} 1`) &&
			strings.Contains(body, "herald_controller_leader 1") &&
			strings.Contains(body, "herald_config_loaded 1"), ""
	})

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("herald controller exited with %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("herald controller did not stop on SIGTERM")
	}
	lease, err := l.admin.CoordinationV1().Leases(herald).Get(t.Context(), "herald-controller", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if h := lease.Spec.HolderIdentity; h != nil && *h != "" {
		t.Errorf("Lease still held by %q after a clean stop", *h)
	}
}

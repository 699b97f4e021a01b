package e2e

import (
	"crypto/tls"
	"crypto/x509"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/heraldlb/herald/testbed/internal/logtail"
)

// The real binary: `herald controller` built from this checkout, run with
// the chart's ServiceAccount kubeconfig, serves /healthz, /readyz and
// /metrics, allocates, and on SIGTERM stops and releases its Lease.
func TestControllerBinary(t *testing.T) {
	bin := buildHerald(t)
	l := newLab(t)
	p := startController(t, bin, l.controllerKubeconfig(), "bin-1")
	p.waitReady(t)
	if code, _ := p.get("/healthz"); code != http.StatusOK {
		t.Errorf("/healthz %d", code)
	}

	// The webhook is served on every replica, with a certificate the
	// controller made and keeps in a Secret, valid for the address the API
	// server would dial.
	var webhookCert *x509.Certificate
	eventually(t, 30*time.Second, "the webhook serving TLS", func() (bool, string) {
		conn, err := tls.Dial("tcp", p.webhookAddr, &tls.Config{InsecureSkipVerify: true})
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
		_, body := p.get("/metrics")
		return strings.Contains(body, `herald_pool_addresses_in_use{family="ipv4",pool="p"} 1`) &&
			strings.Contains(body, "herald_controller_leader 1") &&
			strings.Contains(body, "herald_config_loaded 1"), ""
	})

	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.done:
		if p.err != nil {
			t.Fatalf("herald controller exited with %v", p.err)
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

// The Lease timings the binary tests give `herald controller`: the same as
// the in-process replicas' (runController), so the failover bound is too.
const (
	binaryLease = 4 * time.Second
	binaryRenew = 3 * time.Second
	binaryRetry = 500 * time.Millisecond
)

// buildHerald builds `herald` from this checkout into the test's temporary
// directory, as `make build` does (its build tags and version), so the lab
// runs the binary users get; a test builds it once and starts it as often
// as it likes.
func buildHerald(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	build := exec.CommandContext(t.Context(), "make", "-s", "--no-print-directory", "BIN="+dir, "build")
	build.Dir = repoFile(t, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("make build: %v\n%s", err, out)
	}
	return filepath.Join(dir, "herald")
}

// controllerKubeconfig writes a kubeconfig for the chart's
// herald-controller ServiceAccount: the binary runs with its rights only.
func (l *lab) controllerKubeconfig() string {
	l.t.Helper()
	kubeconfig, err := l.cp.KubeconfigFor(l.t.Context(), herald, "herald-controller")
	if err != nil {
		l.t.Fatal(err)
	}
	return kubeconfig
}

// freeAddr returns a loopback address whose port was free a moment ago.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// controllerProcess is one running `herald controller`.
type controllerProcess struct {
	identity    string
	metricsAddr string
	webhookAddr string
	logPath     string
	cmd         *exec.Cmd
	done        chan struct{} // closed when the process has exited
	err         error         // its exit status, valid after done
}

// startController starts `herald controller` from bin as identity, with
// its own metrics and webhook ports and its output in a log file. The
// process is killed when the test ends (and if the test binary dies), and
// its output is logged if the test failed.
func startController(t *testing.T, bin, kubeconfig, identity string) *controllerProcess {
	t.Helper()
	p := &controllerProcess{
		identity:    identity,
		metricsAddr: freeAddr(t),
		webhookAddr: freeAddr(t),
		logPath:     filepath.Join(t.TempDir(), identity+".log"),
		done:        make(chan struct{}),
	}
	logFile, err := os.Create(p.logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer logFile.Close() // the child has its own descriptor
	p.cmd = exec.Command(bin, "controller", "--kubeconfig", kubeconfig, "--identity", identity,
		"--metrics-addr", p.metricsAddr, "--webhook-addr", p.webhookAddr, "--webhook-cert-ip", "127.0.0.1",
		"--lease-duration", binaryLease.String(), "--renew-deadline", binaryRenew.String(), "--retry-period", binaryRetry.String())
	p.cmd.Stdout, p.cmd.Stderr = logFile, logFile
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		_ = p.cmd.Process.Kill()
		<-p.done
		if t.Failed() {
			t.Logf("herald controller %s (exit: %v), its output:\n%s", identity, p.err, logtail.Lines(p.logPath, 500))
		}
	})
	return p
}

func (p *controllerProcess) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// get fetches a path from the process's metrics server.
func (p *controllerProcess) get(path string) (int, string) {
	resp, err := http.Get("http://" + p.metricsAddr + path)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// waitReady waits for /readyz (informer caches synced; a standby is ready
// too), failing at once if the process exits.
func (p *controllerProcess) waitReady(t *testing.T) {
	t.Helper()
	eventually(t, 30*time.Second, p.identity+" /readyz", func() (bool, string) {
		if p.exited() {
			t.Fatalf("herald controller %s exited: %v", p.identity, p.err)
		}
		code, body := p.get("/readyz")
		return code == http.StatusOK, body
	})
}

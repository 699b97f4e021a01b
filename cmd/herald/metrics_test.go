package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// keyPair is a self-signed serving certificate for 127.0.0.1.
type keyPair struct {
	certPEM, keyPEM []byte
	cert            *x509.Certificate
}

func newKeyPair(t *testing.T, serial int64) keyPair {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: "herald-metrics"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, IsCA: true, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return keyPair{
		certPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		keyPEM:  pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}),
		cert:    cert,
	}
}

// syncBuffer is a log destination the server's goroutines may write to.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// scrape fetches /metrics over a fresh connection (a new TLS handshake)
// trusting roots, and returns the serial of the certificate served and
// the body.
func scrape(t *testing.T, addr string, roots ...*x509.Certificate) (int64, string) {
	t.Helper()
	pool := x509.NewCertPool()
	for _, r := range roots {
		pool.AddCert(r)
	}
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		DisableKeepAlives: true, TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12},
	}}
	resp, err := client.Get("https://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %s: %s", resp.Status, body)
	}
	return resp.TLS.PeerCertificates[0].SerialNumber.Int64(), string(body)
}

func writeFile(t *testing.T, path string, data []byte) {
	t.Helper()
	// As a kubelet updates a Secret volume: a new file renamed over.
	tmp := path + ".new"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

func TestMetricsOverHTTPSReloadsTheKeyPair(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	first, second := newKeyPair(t, 1), newKeyPair(t, 2)
	writeFile(t, certFile, first.certPEM)
	writeFile(t, keyFile, first.keyPEM)

	reg := prometheus.NewRegistry()
	g := prometheus.NewGauge(prometheus.GaugeOpts{Name: "herald_test_gauge", Help: "a test gauge"})
	g.Set(7)
	reg.MustRegister(g)
	var logs syncBuffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	srv, addr, err := serveMetrics("127.0.0.1:0", metricsTLS{certFile, keyFile}, false, reg, func() bool { return true }, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Shutdown(context.Background()) })

	serial, body := scrape(t, addr.String(), first.cert, second.cert)
	if serial != 1 || !strings.Contains(body, "herald_test_gauge 7") {
		t.Fatalf("serial %d, body:\n%s", serial, body)
	}

	// A new pair: the next handshake serves it.
	writeFile(t, certFile, second.certPEM)
	writeFile(t, keyFile, second.keyPEM)
	if serial, _ := scrape(t, addr.String(), first.cert, second.cert); serial != 2 {
		t.Fatalf("after the files changed the server still serves serial %d, want 2", serial)
	}

	// Half an update (the first pair's certificate with the second's
	// key) does not load: the last good pair stays, and it says so once.
	writeFile(t, certFile, first.certPEM)
	for range 2 {
		if serial, _ := scrape(t, addr.String(), first.cert, second.cert); serial != 2 {
			t.Fatalf("a mismatched pair replaced the good one: serial %d", serial)
		}
	}
	if n := strings.Count(logs.String(), "does not load"); n != 1 {
		t.Errorf("the bad pair was reported %d times, want once:\n%s", n, logs.String())
	}
	// The update completes.
	writeFile(t, keyFile, first.keyPEM)
	if serial, _ := scrape(t, addr.String(), first.cert, second.cert); serial != 1 {
		t.Fatalf("after the update completed: serial %d, want 1", serial)
	}

	// Plain HTTP is refused on the HTTPS port.
	resp, err := http.Get("http://" + addr.String() + "/metrics")
	if err == nil {
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			t.Error("plain HTTP served /metrics on the HTTPS port")
		}
	}
}

func TestMetricsOverHTTP(t *testing.T) {
	var ready atomic.Bool
	srv, addr, err := serveMetrics("127.0.0.1:0", metricsTLS{}, false, newRegistry(), ready.Load, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Shutdown(context.Background()) })
	get := func(path string) (int, string) {
		resp, err := http.Get("http://" + addr.String() + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := get("/metrics"); code != 200 || !strings.Contains(body, "go_goroutines") || !strings.Contains(body, "process_") {
		t.Errorf("/metrics: %d without the Go and process collectors:\n%.300s", code, body)
	}
	if code, _ := get("/readyz"); code != http.StatusServiceUnavailable {
		t.Errorf("/readyz before ready: %d", code)
	}
	ready.Store(true)
	if code, _ := get("/readyz"); code != 200 {
		t.Errorf("/readyz when ready: %d", code)
	}
}

// Profiles are served only with --profiling.
func TestProfilingEndpoint(t *testing.T) {
	for _, profiling := range []bool{false, true} {
		srv, addr, err := serveMetrics("127.0.0.1:0", metricsTLS{}, profiling, newRegistry(), func() bool { return true }, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.Get("http://" + addr.String() + "/debug/pprof/heap?debug=1")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		_ = srv.Shutdown(context.Background())
		served := resp.StatusCode == 200 && strings.Contains(string(b), "heap profile")
		if served != profiling {
			t.Errorf("profiling %v: /debug/pprof/heap answered %d %.100q", profiling, resp.StatusCode, b)
		}
	}
}

func TestMetricsTLSSettings(t *testing.T) {
	dir := t.TempDir()
	kp := newKeyPair(t, 3)
	certFile, keyFile := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	writeFile(t, certFile, kp.certPEM)
	writeFile(t, keyFile, []byte("not a key"))
	for _, tc := range []struct {
		tls  metricsTLS
		want string
	}{
		{metricsTLS{certFile: certFile}, "go together"},
		{metricsTLS{keyFile: keyFile}, "go together"},
		{metricsTLS{certFile, filepath.Join(dir, "missing.key")}, "missing.key"},
		{metricsTLS{certFile, keyFile}, "--metrics-tls-key " + keyFile},
	} {
		_, _, err := serveMetrics("127.0.0.1:0", tc.tls, false, newRegistry(), func() bool { return true }, slog.New(slog.DiscardHandler))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: error %v, want one saying %q", tc.tls, err, tc.want)
		}
	}
	// The commands refuse half a pair before they touch the cluster.
	for _, args := range [][]string{{"controller"}, {"speaker", "--node-name", "n"}} {
		code, out := herald(t, "", append(args, "--metrics-tls-cert", certFile, "--kubeconfig", "/nonexistent")...)
		if code != 2 || !strings.Contains(out, "--metrics-tls-key") {
			t.Errorf("%s with a certificate and no key: exit %d:\n%s", args[0], code, out)
		}
	}
}

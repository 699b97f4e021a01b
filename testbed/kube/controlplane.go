package kube

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/heraldlb/herald/testbed/internal/logtail"
)

const (
	// serviceClusterIPRange is dual-stack, so the API server admits
	// Services with ipFamilyPolicy PreferDualStack or RequireDualStack (a
	// single range makes it answer "this cluster is not configured for
	// dual-stack services"), as a dual-stack cluster's does.
	serviceClusterIPRange = "10.96.0.0/16,fd00:10:96::/108"
	serviceClusterFirstIP = "10.96.0.1"
	// ServiceAccountIssuer is the issuer (and audience) of minted tokens.
	ServiceAccountIssuer = "https://kubernetes.default.svc.cluster.local"
	// AdminUser is the user name of the admin token, a member of system:masters.
	AdminUser = "herald-admin"

	readyTimeout = 90 * time.Second
	stopGrace    = 5 * time.Second
	dirPrefix    = "herald-kube-"
	stateFile    = "state.json"
)

// Options configure a control plane. The zero value is usable.
type Options struct {
	// Logf receives progress messages (build, start, stop). Nil discards.
	Logf Logf
	// CRDDir, if not empty, is a directory of CustomResourceDefinition
	// manifests (*.yaml) that Start installs, waiting until every CRD is
	// Established and served. See RepoCRDDir for Herald's.
	CRDDir string
	// BaseDir is where the control plane's temporary directory is created
	// (default os.TempDir()).
	BaseDir string
	// Detach leaves etcd and kube-apiserver running if this process dies
	// (for `testbed up`); they are then stopped with StopDir. By default they
	// are killed with this process.
	Detach bool
	// ExtraAPIServerArgs are appended to kube-apiserver's flags.
	ExtraAPIServerArgs []string
}

// ControlPlane is a running etcd and kube-apiserver on loopback. Its methods
// are safe for concurrent use.
type ControlPlane struct {
	opts       Options
	paths      Paths
	dir        string
	pki        *pki
	adminToken string
	etcdPort   int
	peerPort   int
	apiPort    int

	mu        sync.Mutex
	etcd      *process
	apiserver *process
	stopped   bool
	// attached is set by Attach: the processes are not our children and
	// are known by pid only.
	attached bool
	attPIDs  state
}

// state is written to <dir>/state.json so that StopDir (another process)
// and the stale-directory sweep know what the directory belongs to.
type state struct {
	OwnerPID     int    `json:"ownerPID"`
	Detached     bool   `json:"detached"`
	EtcdPID      int    `json:"etcdPID"`
	APIServerPID int    `json:"apiserverPID"`
	EtcdPort     int    `json:"etcdPort"`
	PeerPort     int    `json:"peerPort"`
	APIPort      int    `json:"apiPort"`
	AdminToken   string `json:"adminToken"`
}

// Start builds the binaries if needed (see EnsureBinaries), starts etcd and
// kube-apiserver on free loopback ports in a fresh temporary directory,
// waits for /readyz, writes the admin kubeconfig and installs the CRDs of
// opts.CRDDir. On error nothing is left running.
func Start(ctx context.Context, opts Options) (*ControlPlane, error) {
	paths, err := EnsureBinaries(ctx, opts.Logf)
	if err != nil {
		return nil, err
	}
	base := opts.BaseDir
	if base == "" {
		base = os.TempDir()
	}
	sweepStaleDirs(base, opts.Logf)
	dir, err := os.MkdirTemp(base, dirPrefix)
	if err != nil {
		return nil, fmt.Errorf("kube: create control plane dir: %w", err)
	}
	c := &ControlPlane{opts: opts, paths: paths, dir: dir}
	ok := false
	defer func() {
		if !ok {
			c.Stop()
		}
	}()
	start := time.Now()
	if c.pki, err = newPKI(dir); err != nil {
		return nil, err
	}
	if c.adminToken, err = randomToken(); err != nil {
		return nil, err
	}
	c.pki.tokensFile = filepath.Join(dir, "tokens.csv")
	tokens := fmt.Sprintf("%s,%s,%s,\"system:masters\"\n", c.adminToken, AdminUser, AdminUser)
	if err := os.WriteFile(c.pki.tokensFile, []byte(tokens), 0o600); err != nil {
		return nil, fmt.Errorf("kube: write token file: %w", err)
	}
	if err := c.startEtcd(ctx); err != nil {
		return nil, err
	}
	if err := c.startAPIServer(ctx, true); err != nil {
		return nil, err
	}
	if err := c.writeKubeconfig(c.AdminKubeconfig(), AdminUser, c.adminToken, "default"); err != nil {
		return nil, err
	}
	c.opts.Logf.printf("kube: control plane ready in %s at %s (dir %s)", time.Since(start).Round(time.Millisecond), c.Host(), dir)
	if opts.CRDDir != "" {
		if _, err := c.InstallCRDs(ctx, opts.CRDDir); err != nil {
			return nil, err
		}
	}
	ok = true
	return c, nil
}

// Dir is the control plane's temporary directory (logs, certificates,
// kubeconfigs, etcd data). Stop removes it.
func (c *ControlPlane) Dir() string { return c.dir }

// Host is the API server's URL.
func (c *ControlPlane) Host() string { return "https://127.0.0.1:" + strconv.Itoa(c.apiPort) }

// CACert is the PEM certificate of the CA that signed the serving certificate.
func (c *ControlPlane) CACert() []byte { return c.pki.caPEM }

// AdminKubeconfig is the path of a kubeconfig for AdminUser (system:masters).
func (c *ControlPlane) AdminKubeconfig() string { return filepath.Join(c.dir, "admin.kubeconfig") }

// APIServerLog and EtcdLog are the paths of the processes' logs.
func (c *ControlPlane) APIServerLog() string { return filepath.Join(c.dir, "kube-apiserver.log") }

// EtcdLog is the path of etcd's log.
func (c *ControlPlane) EtcdLog() string { return filepath.Join(c.dir, "etcd.log") }

// EtcdEndpoint is etcd's client URL (plain HTTP on loopback).
func (c *ControlPlane) EtcdEndpoint() string { return "http://127.0.0.1:" + strconv.Itoa(c.etcdPort) }

// AdminRESTConfig returns a client configuration for AdminUser.
func (c *ControlPlane) AdminRESTConfig() *rest.Config {
	return c.restConfig(c.adminToken)
}

// AdminClient returns a typed clientset for AdminUser.
func (c *ControlPlane) AdminClient() (kubernetes.Interface, error) {
	cs, err := kubernetes.NewForConfig(c.AdminRESTConfig())
	if err != nil {
		return nil, fmt.Errorf("kube: admin client: %w", err)
	}
	return cs, nil
}

func (c *ControlPlane) restConfig(token string) *rest.Config {
	return &rest.Config{
		Host:            c.Host(),
		BearerToken:     token,
		TLSClientConfig: rest.TLSClientConfig{CAData: c.pki.caPEM},
		QPS:             100,
		Burst:           200,
	}
}

func (c *ControlPlane) startEtcd(ctx context.Context) error {
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		ports, err := freePorts(2)
		if err != nil {
			return err
		}
		c.etcdPort, c.peerPort = ports[0], ports[1]
		client := c.EtcdEndpoint()
		peer := "http://127.0.0.1:" + strconv.Itoa(c.peerPort)
		args := []string{
			"--name=herald",
			"--data-dir=" + filepath.Join(c.dir, "etcd"),
			"--listen-client-urls=" + client,
			"--advertise-client-urls=" + client,
			"--listen-peer-urls=" + peer,
			"--initial-advertise-peer-urls=" + peer,
			"--initial-cluster=herald=" + peer,
			"--unsafe-no-fsync=true", // a test's data is thrown away anyway
			// One member: elect it at once instead of after the default 1 s.
			"--heartbeat-interval=10",
			"--election-timeout=100",
			"--log-level=warn",
		}
		p, err := startProcess("etcd", c.paths.Etcd, args, c.EtcdLog(), c.opts.Detach)
		if err != nil {
			return err
		}
		c.mu.Lock()
		c.etcd = p
		c.mu.Unlock()
		c.writeState()
		start := time.Now()
		lastErr = waitHealthy(ctx, p, client+"/health", nil, "", func(body []byte) bool {
			return strings.Contains(string(body), `"health":"true"`)
		})
		if lastErr == nil {
			c.opts.Logf.printf("kube: etcd healthy in %s", time.Since(start).Round(time.Millisecond))
			return nil
		}
		p.stop(stopGrace)
		if !strings.Contains(logtail.Lines(c.EtcdLog(), 20), "address already in use") {
			break
		}
	}
	return fmt.Errorf("kube: etcd did not become healthy: %w\n--- tail of %s ---\n%s", lastErr, c.EtcdLog(), logtail.Lines(c.EtcdLog(), 30))
}

func (c *ControlPlane) apiServerArgs() []string {
	args := []string{
		"--etcd-servers=" + c.EtcdEndpoint(),
		"--bind-address=127.0.0.1",
		"--advertise-address=127.0.0.1",
		"--secure-port=" + strconv.Itoa(c.apiPort),
		"--cert-dir=" + filepath.Join(c.dir, "certs"),
		"--tls-cert-file=" + c.pki.certFile,
		"--tls-private-key-file=" + c.pki.keyFile,
		"--token-auth-file=" + c.pki.tokensFile,
		"--authorization-mode=RBAC",
		"--service-account-issuer=" + ServiceAccountIssuer,
		"--service-account-key-file=" + c.pki.saKeyFile,
		"--service-account-signing-key-file=" + c.pki.saKeyFile,
		"--api-audiences=" + ServiceAccountIssuer,
		"--service-cluster-ip-range=" + serviceClusterIPRange,
		// No controller-manager runs, and the loopback address cannot be an
		// endpoint of the kubernetes Service.
		"--endpoint-reconciler-type=none",
		"--enable-priority-and-fairness=false",
		"--profiling=false",
	}
	return append(args, c.opts.ExtraAPIServerArgs...)
}

// startAPIServer starts kube-apiserver and waits for /readyz. With newPort it
// picks a fresh port (retrying on a collision); otherwise it reuses apiPort,
// so clients and kubeconfigs stay valid across a restart.
func (c *ControlPlane) startAPIServer(ctx context.Context, newPort bool) error {
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		if newPort {
			ports, err := freePorts(1)
			if err != nil {
				return err
			}
			c.apiPort = ports[0]
		}
		start := time.Now()
		p, err := startProcess("kube-apiserver", c.paths.KubeAPIServer, c.apiServerArgs(), c.APIServerLog(), c.opts.Detach)
		if err != nil {
			return err
		}
		c.mu.Lock()
		c.apiserver = p
		c.mu.Unlock()
		c.writeState()
		lastErr = waitHealthy(ctx, p, c.Host()+"/readyz", c.pki.caPEM, c.adminToken, func(body []byte) bool {
			return strings.TrimSpace(string(body)) == "ok"
		})
		if lastErr == nil {
			c.opts.Logf.printf("kube: kube-apiserver ready in %s", time.Since(start).Round(time.Millisecond))
			return nil
		}
		p.stop(stopGrace)
		if !newPort || !strings.Contains(logtail.Lines(c.APIServerLog(), 30), "address already in use") {
			break
		}
	}
	return fmt.Errorf("kube: kube-apiserver did not become ready: %w\n--- tail of %s ---\n%s", lastErr, c.APIServerLog(), logtail.Lines(c.APIServerLog(), 40))
}

// waitHealthy polls url until ok(body) with status 200, the process exits,
// ctx ends or readyTimeout passes.
func waitHealthy(ctx context.Context, p *process, url string, caPEM []byte, token string, ok func([]byte) bool) error {
	tr := &http.Transport{}
	if caPEM != nil {
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM(caPEM)
		tr.TLSClientConfig = &tls.Config{RootCAs: pool}
	}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 2 * time.Second}
	deadline := time.Now().Add(readyTimeout)
	var last string
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := client.Do(req)
		if err == nil {
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK && ok(body) {
				return nil
			}
			last = fmt.Sprintf("%s answered %d: %.300s", url, resp.StatusCode, body)
		} else {
			last = err.Error()
		}
		if p.exited() {
			return fmt.Errorf("%s exited (%v); last probe: %s", p.name, p.err, last)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not ready after %s; last probe: %s", p.name, readyTimeout, last)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s: %w (last probe: %s)", p.name, ctx.Err(), last)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// StopAPIServer stops kube-apiserver (SIGTERM, then SIGKILL), leaving etcd
// and all data in place; StartAPIServer brings it back on the same port.
func (c *ControlPlane) StopAPIServer() {
	c.mu.Lock()
	p := c.apiserver
	attachedPID := 0
	if p == nil && c.attached {
		attachedPID = c.attPIDs.APIServerPID
	}
	c.mu.Unlock()
	p.stop(stopGrace)
	killGroupIfOurs(attachedPID, c.dir)
}

// StartAPIServer starts a stopped kube-apiserver again on the same port and
// with the same keys, so existing kubeconfigs and tokens keep working.
func (c *ControlPlane) StartAPIServer(ctx context.Context) error {
	c.mu.Lock()
	running := c.apiserver != nil && !c.apiserver.exited() ||
		c.apiserver == nil && c.attached && isOurs(c.attPIDs.APIServerPID, c.dir)
	stopped := c.stopped
	c.mu.Unlock()
	if stopped {
		return errors.New("kube: control plane is stopped")
	}
	if running {
		return errors.New("kube: kube-apiserver is already running")
	}
	return c.startAPIServer(ctx, false)
}

// RestartAPIServer stops and starts kube-apiserver, returning once it is ready.
func (c *ControlPlane) RestartAPIServer(ctx context.Context) error {
	c.StopAPIServer()
	return c.StartAPIServer(ctx)
}

// Stop kills kube-apiserver and etcd (their whole process groups) and removes
// the directory. It is idempotent and safe to call on a partly started
// control plane.
func (c *ControlPlane) Stop() {
	c.mu.Lock()
	if c.stopped {
		c.mu.Unlock()
		return
	}
	c.stopped = true
	api, etcd := c.apiserver, c.etcd
	c.mu.Unlock()
	if c.attached {
		api.stop(stopGrace) // restarted by us after Attach
		if err := StopDir(c.dir); err != nil {
			c.opts.Logf.printf("%v", err)
		}
		c.opts.Logf.printf("kube: control plane stopped, %s removed", c.dir)
		return
	}
	api.stop(stopGrace)
	etcd.stop(stopGrace)
	if err := os.RemoveAll(c.dir); err != nil {
		c.opts.Logf.printf("kube: remove %s: %v", c.dir, err)
	}
	c.opts.Logf.printf("kube: control plane stopped, %s removed", c.dir)
}

func (c *ControlPlane) writeState() {
	c.mu.Lock()
	s := c.attPIDs // Attach: keep the original owner and etcd
	if !c.attached {
		s = state{OwnerPID: os.Getpid(), Detached: c.opts.Detach}
	}
	s.EtcdPort, s.PeerPort, s.APIPort, s.AdminToken = c.etcdPort, c.peerPort, c.apiPort, c.adminToken
	if c.etcd != nil {
		s.EtcdPID = c.etcd.cmd.Process.Pid
	}
	if c.apiserver != nil {
		s.APIServerPID = c.apiserver.cmd.Process.Pid
	}
	c.attPIDs = s
	c.mu.Unlock()
	data, _ := json.Marshal(s)
	if err := replaceFile(filepath.Join(c.dir, stateFile), data, 0o600); err != nil {
		c.opts.Logf.printf("kube: write state: %v", err)
	}
}

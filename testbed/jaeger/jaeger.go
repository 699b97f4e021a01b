package jaeger

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"text/template"
	"time"
)

// Options say where a Jaeger listens. Zero ports are free loopback ports
// picked at Start; Jaeger's usual ones are 4317 (OTLP gRPC), 4318 (OTLP
// HTTP) and 16686 (query API and UI).
type Options struct {
	// Binary is the Jaeger to run (default: EnsureBinary's).
	Binary string
	// Host is the address every listener binds (default 127.0.0.1). A lab
	// whose speakers run in network namespaces binds an address they reach.
	Host                       string
	OTLPGRPCPort, OTLPHTTPPort int
	QueryPort, QueryGRPCPort   int
	// Logf gets start and stop messages; Jaeger's own output goes to
	// <dir>/jaeger.log.
	Logf Logf
	// Dir holds the configuration and the log (default: a new temporary
	// directory, removed by Stop).
	Dir string
}

// Jaeger is a running Jaeger process.
type Jaeger struct {
	opts    Options
	cmd     *exec.Cmd
	done    chan struct{}
	waitErr error
	rmDir   bool
	stop    sync.Once
	// Client reads the query API.
	*Client
}

// config is Jaeger v2's collector configuration: OTLP in, memory storage,
// the query extension; no internal metrics listener.
var config = template.Must(template.New("config").Parse(`service:
  extensions: [jaeger_storage, jaeger_query]
  pipelines:
    traces:
      receivers: [otlp]
      processors: [batch]
      exporters: [jaeger_storage_exporter]
  telemetry:
    metrics:
      level: none
    logs:
      level: info
extensions:
  jaeger_query:
    storage:
      traces: memstore
    http:
      endpoint: {{.Host}}:{{.QueryPort}}
    grpc:
      endpoint: {{.Host}}:{{.QueryGRPCPort}}
  jaeger_storage:
    backends:
      memstore:
        memory:
          max_traces: 100000
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: {{.Host}}:{{.OTLPGRPCPort}}
      http:
        endpoint: {{.Host}}:{{.OTLPHTTPPort}}
processors:
  batch:
    timeout: 100ms
exporters:
  jaeger_storage_exporter:
    trace_storage: memstore
`))

// Start runs Jaeger and returns once its query API answers.
func Start(ctx context.Context, o Options) (*Jaeger, error) {
	var err error
	if o.Binary == "" {
		if o.Binary, err = EnsureBinary(ctx, o.Logf); err != nil {
			return nil, err
		}
	}
	if o.Host == "" {
		o.Host = "127.0.0.1"
	}
	for _, p := range []*int{&o.OTLPGRPCPort, &o.OTLPHTTPPort, &o.QueryPort, &o.QueryGRPCPort} {
		if *p == 0 {
			if *p, err = freePort(o.Host); err != nil {
				return nil, err
			}
		}
	}
	j := &Jaeger{opts: o, done: make(chan struct{})}
	if o.Dir == "" {
		if o.Dir, err = os.MkdirTemp("", "herald-jaeger-"); err != nil {
			return nil, fmt.Errorf("jaeger: %w", err)
		}
		j.rmDir, j.opts.Dir = true, o.Dir
	}
	cfgPath := filepath.Join(o.Dir, "config.yaml")
	f, err := os.Create(cfgPath)
	if err == nil {
		err = config.Execute(f, o)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		return nil, fmt.Errorf("jaeger: write %s: %w", cfgPath, err)
	}
	logPath := filepath.Join(o.Dir, "jaeger.log")
	log, err := os.Create(logPath)
	if err != nil {
		return nil, fmt.Errorf("jaeger: %w", err)
	}
	j.cmd = exec.Command(o.Binary, "--config", "file:"+cfgPath)
	j.cmd.Stdout, j.cmd.Stderr = log, log
	j.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := j.cmd.Start(); err != nil {
		log.Close()
		return nil, fmt.Errorf("jaeger: start %s: %w", o.Binary, err)
	}
	go func() {
		j.waitErr = j.cmd.Wait()
		log.Close()
		close(j.done)
	}()
	j.Client = NewClient("http://" + net.JoinHostPort(o.Host, strconv.Itoa(o.QueryPort)))
	if err := j.waitReady(ctx); err != nil {
		_ = j.Stop()
		return nil, fmt.Errorf("%w (log: %s)", err, logPath)
	}
	o.Logf.printf("jaeger: running, OTLP gRPC %s, OTLP HTTP %s, query %s", j.OTLPGRPCEndpoint(), j.OTLPHTTPEndpoint(), j.Client.base)
	return j, nil
}

// StartForTest starts a Jaeger that t's cleanup stops, failing t if it
// cannot start.
func StartForTest(t testing.TB, o Options) *Jaeger {
	t.Helper()
	if o.Logf == nil {
		o.Logf = t.Logf
	}
	j, err := Start(t.Context(), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = j.Stop() })
	return j
}

func (j *Jaeger) waitReady(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, j.Client.base+"/api/services", nil)
		if resp, err := j.Client.http.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-j.done:
			return fmt.Errorf("jaeger: exited before its query API answered: %v", j.waitErr)
		case <-ctx.Done():
			return fmt.Errorf("jaeger: query API %s did not answer: %w", j.Client.base, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// OTLPGRPCEndpoint is host:port of the OTLP gRPC receiver.
func (j *Jaeger) OTLPGRPCEndpoint() string {
	return net.JoinHostPort(j.opts.Host, strconv.Itoa(j.opts.OTLPGRPCPort))
}

// OTLPHTTPEndpoint is host:port of the OTLP HTTP receiver.
func (j *Jaeger) OTLPHTTPEndpoint() string {
	return net.JoinHostPort(j.opts.Host, strconv.Itoa(j.opts.OTLPHTTPPort))
}

// Env are the OTEL_* variables that point an SDK (Herald's tracing.Setup)
// at this Jaeger over protocol, grpc or http/protobuf.
func (j *Jaeger) Env(protocol string) []string {
	endpoint := j.OTLPHTTPEndpoint()
	if protocol == "grpc" {
		endpoint = j.OTLPGRPCEndpoint()
	}
	return []string{"OTEL_TRACES_EXPORTER=otlp", "OTEL_EXPORTER_OTLP_PROTOCOL=" + protocol,
		"OTEL_EXPORTER_OTLP_ENDPOINT=http://" + endpoint, "OTEL_BSP_SCHEDULE_DELAY=100"}
}

// Stop ends Jaeger (SIGTERM, then SIGKILL after 10 s) and removes its
// temporary directory.
func (j *Jaeger) Stop() error {
	var err error
	j.stop.Do(func() {
		_ = j.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-j.done:
		case <-time.After(10 * time.Second):
			_ = j.cmd.Process.Kill()
			<-j.done
		}
		var exit *exec.ExitError
		if j.waitErr != nil && !errors.As(j.waitErr, &exit) {
			err = fmt.Errorf("jaeger: %w", j.waitErr)
		}
		if j.rmDir {
			_ = os.RemoveAll(j.opts.Dir)
		}
	})
	return err
}

func freePort(host string) (int, error) {
	ln, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		return 0, fmt.Errorf("jaeger: no free port on %s: %w", host, err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

package routers

import (
	"bytes"
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"text/template"
	"time"
)

var birdTemplate = template.Must(template.New("bird.conf").Funcs(tmplFuncs).Parse(`# {{.Name}}
log "{{.Dir}}/bird.log" all;
router id {{.RouterID}};
timeformat protocol iso long;
timeformat route iso long;

protocol device { scan time 10; }
protocol direct { ipv4; ipv6; }

protocol kernel kernel4 {
	ipv4 { import none; export filter { if source = RTS_BGP then accept; reject; }; };
	merge paths on;
}
protocol kernel kernel6 {
	ipv6 { import none; export filter { if source = RTS_BGP then accept; reject; }; };
	merge paths on;
}
{{if .AnyBFD}}
protocol bfd bfd1 {
	interface "*" { min rx interval 300 ms; min tx interval 300 ms; multiplier 3;
{{- with .Auth}}
		authentication {{birdAuth .Type}};
		password "{{.Password}}" { id {{.KeyID}}; };
{{- end}} };
}
{{end}}
{{- range $i, $n := .Neighbors}}
protocol bgp {{peer $i}} {
	local{{if $.ListenPort}} port {{$.ListenPort}}{{end}} as {{$.ASN}};
	neighbor {{$n.Address}}{{if $n.Port}} port {{$n.Port}}{{end}} as {{$n.ASN}};
{{- if $n.Multihop}}
	multihop {{$n.Multihop}};
{{- else}}
	direct;
{{- end}}
{{- if $n.Password}}
	password "{{$n.Password}}";
{{- end}}
{{- if $n.TTLSecurity}}
	ttl security yes;
{{- end}}
{{- if $n.BFD}}{{with bfd $n.BFD}}
	bfd { min rx interval {{ms .ReceiveInterval}} ms; min tx interval {{ms .TransmitInterval}} ms; multiplier {{.DetectMultiplier}};{{if .Passive}} passive on;{{end}} };
{{- end}}{{end}}
	graceful restart {{if $n.GracefulRestart}}on{{else}}off{{end}};
{{- if $n.Passive}}
	passive on;
{{- end}}
{{- if $n.HoldTime}}
	hold time {{secs $n.HoldTime $n.HoldTime}};
	keepalive time {{secs $n.Keepalive $n.HoldTime}};
{{- end}}
	connect delay time 1;
	connect retry time 1;
	error wait time 1, 5;
{{- if or $n.Address.Is4 $n.DualStack}}
	ipv4 { import all; export none;{{if not $n.Multihop}} gateway direct;{{end}} };
{{- end}}
{{- if or $n.Address.Is6 $n.DualStack}}
	ipv6 { import all; export none;{{if not $n.Multihop}} gateway direct;{{end}} };
{{- end}}
}
{{- end}}
`))

// BIRD is a BIRD 2 instance in a namespace with its own control socket.
// Its kernel protocols export the BGP routes into the namespace's kernel
// table (merging equal paths into ECMP routes).
type BIRD struct {
	cfg   Config
	conf  string
	procs procs
	sock  string
	peers map[string]netip.Addr // protocol name -> neighbor
}

// NewBIRD returns a BIRD router for cfg; Start runs it.
func NewBIRD(cfg Config) (*BIRD, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	conf, err := RenderBIRD(cfg)
	if err != nil {
		return nil, err
	}
	b := &BIRD{cfg: cfg, conf: conf, sock: filepath.Join(cfg.Dir, "bird.ctl"), peers: map[string]netip.Addr{}}
	for i, n := range cfg.Neighbors {
		b.peers[birdPeerName(i)] = n.Address
	}
	return b, nil
}

func birdPeerName(i int) string { return "peer" + strconv.Itoa(i+1) }

// RenderBIRD renders the bird.conf for cfg.
func RenderBIRD(cfg Config) (string, error) {
	anyBFD := false
	for _, n := range cfg.Neighbors {
		anyBFD = anyBFD || n.BFD != nil
		if n.Interface != "" {
			return "", fmt.Errorf("routers: bird: unnumbered neighbor on %s: only FRR's configuration has them", n.Interface)
		}
	}
	auth, err := cfg.bfdAuth()
	if err != nil {
		return "", err
	}
	var b bytes.Buffer
	if err := birdTemplate.Execute(&b, struct {
		Config
		AnyBFD bool
		Auth   *BFDAuth
	}{cfg, anyBFD, auth}); err != nil {
		return "", fmt.Errorf("routers: render bird.conf: %w", err)
	}
	return b.String(), nil
}

// Kind implements Router.
func (b *BIRD) Kind() string { return "bird" }

// Config implements Router.
func (b *BIRD) Config() string { return b.conf }

// Logs implements Router.
func (b *BIRD) Logs() string {
	return tail(40, filepath.Join(b.cfg.Dir, "bird.log"), filepath.Join(b.cfg.Dir, "bird.out"))
}

// CLI implements Router: the birdc command line for this instance.
func (b *BIRD) CLI() string { return "birdc -s " + b.sock }

// Dir returns the instance's runtime directory.
func (b *BIRD) Dir() string { return b.cfg.Dir }

// Start implements Router: checks the configuration with bird -p, then
// runs bird in the foreground inside the namespace.
func (b *BIRD) Start(ctx context.Context) error {
	d := b.cfg.Dir
	if err := os.MkdirAll(d, 0o755); err != nil {
		return fmt.Errorf("routers: bird dir: %w", err)
	}
	conf := filepath.Join(d, "bird.conf")
	if err := os.WriteFile(conf, []byte(b.conf), 0o644); err != nil {
		return fmt.Errorf("routers: write bird.conf: %w", err)
	}
	if out, err := runOut(ctx, "bird", "-p", "-c", conf); err != nil {
		return fmt.Errorf("routers: bird %s: configuration rejected: %w\n%s", b.cfg.Name, err, out)
	}
	t0 := time.Now()
	p, err := startProc(b.cfg.Namespace, "bird", filepath.Join(d, "bird.out"),
		"bird", "-f", "-c", conf, "-s", b.sock, "-P", filepath.Join(d, "bird.pid"))
	if err != nil {
		return fmt.Errorf("routers: bird %s: %w", b.cfg.Name, err)
	}
	b.procs.add(p)
	if err := waitFor(ctx, &b.procs, b.sock); err != nil {
		b.procs.stopAll()
		return fmt.Errorf("routers: bird %s in %s: %w\n%s", b.cfg.Name, b.cfg.Namespace, err, b.Logs())
	}
	b.cfg.Log.Info("bird started", "name", b.cfg.Name, "ns", b.cfg.Namespace, "took", time.Since(t0).Round(time.Millisecond))
	return nil
}

// Stop implements Router.
func (b *BIRD) Stop() error {
	b.procs.stopAll()
	return nil
}

// Signal sends sig to the bird daemon (see FRR.Signal).
func (b *BIRD) Signal(sig os.Signal) error { return b.procs.signal("bird", sig) }

// Exec implements Router: one birdc command; the banner line is dropped.
func (b *BIRD) Exec(ctx context.Context, command string) (string, error) {
	out, err := runOut(ctx, append([]string{"birdc", "-s", b.sock}, strings.Fields(command)...)...)
	if err != nil {
		return "", err
	}
	if i := strings.IndexByte(out, '\n'); i >= 0 && strings.HasPrefix(out, "BIRD ") {
		out = out[i+1:]
	}
	return out, nil
}

// SessionState implements Router.
func (b *BIRD) SessionState(ctx context.Context, neighbor netip.Addr) (string, error) {
	name, err := b.peerName(neighbor)
	if err != nil {
		return "", err
	}
	out, err := b.Exec(ctx, "show protocols all "+name)
	if err != nil {
		return "", err
	}
	return parseBIRDProtocolState(out)
}

// Received implements Router: the routes the neighbor announced.
func (b *BIRD) Received(ctx context.Context, neighbor netip.Addr) (Received, error) {
	name, err := b.peerName(neighbor)
	if err != nil {
		return Received{}, err
	}
	out, err := b.Exec(ctx, "show protocols all "+name)
	if err != nil {
		return Received{}, err
	}
	return parseBIRDReceived(out)
}

// BFDState implements Router.
func (b *BIRD) BFDState(ctx context.Context, neighbor netip.Addr) (string, error) {
	if _, err := b.peerName(neighbor); err != nil {
		return "", err
	}
	out, err := b.Exec(ctx, "show bfd sessions")
	if err != nil {
		return "", err
	}
	return parseBIRDBFD(out, neighbor)
}

// Routes implements Router.
func (b *BIRD) Routes(ctx context.Context) ([]Route, error) {
	var routes []Route
	for _, table := range []string{"master4", "master6"} {
		out, err := b.Exec(ctx, "show route all table "+table+" where source = RTS_BGP")
		if err != nil {
			return nil, err
		}
		rs, err := parseBIRDRoutes(out, b.peers)
		if err != nil {
			return nil, fmt.Errorf("routers: bird %s: %w", b.cfg.Name, err)
		}
		routes = append(routes, rs...)
	}
	return routes, nil
}

func (b *BIRD) peerName(neighbor netip.Addr) (string, error) {
	for name, a := range b.peers {
		if a == neighbor {
			return name, nil
		}
	}
	return "", fmt.Errorf("routers: bird %s has no neighbor %s", b.cfg.Name, neighbor)
}

package routers

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"text/template"
	"time"
)

// FRRDaemonDir is where Debian installs the FRR daemons.
const FRRDaemonDir = "/usr/lib/frr"

var frrTemplate = template.Must(template.New("frr.conf").Funcs(tmplFuncs).Parse(`frr defaults traditional
hostname {{.Name}}
log timestamp precision 3
!
router bgp {{.ASN}}
 bgp router-id {{.RouterID}}
 no bgp ebgp-requires-policy
 no bgp default ipv4-unicast
 no bgp network import-check
 bgp bestpath as-path multipath-relax
{{- if .AnyGR}}
 bgp graceful-restart
{{- end}}
{{- range $i, $n := .Neighbors}}
{{- if $n.Interface}}
 neighbor {{id $n}} interface remote-as {{$n.ASN}}
{{- else}}
 neighbor {{id $n}} remote-as {{$n.ASN}}
{{- end}}
 neighbor {{id $n}} timers connect 1
 neighbor {{id $n}} advertisement-interval 0
{{- if $n.Port}}
 neighbor {{id $n}} port {{$n.Port}}
{{- end}}
{{- if and $n.Multihop (ne $n.ASN $.ASN)}}
 neighbor {{id $n}} ebgp-multihop {{$n.Multihop}}
{{- end}}
{{- if $n.TTLSecurity}}
 neighbor {{id $n}} ttl-security hops 1
{{- end}}
{{- if $n.Password}}
 neighbor {{id $n}} password {{$n.Password}}
{{- end}}
{{- if $n.BFD}}
 neighbor {{id $n}} bfd profile {{profile $i}}
{{- end}}
{{- if $n.GracefulRestart}}
 neighbor {{id $n}} graceful-restart
{{- else}}
 neighbor {{id $n}} graceful-restart-disable
{{- end}}
{{- if $n.Passive}}
 neighbor {{id $n}} passive
{{- end}}
{{- if $n.HoldTime}}
 neighbor {{id $n}} timers {{secs $n.Keepalive $n.HoldTime}} {{secs $n.HoldTime $n.HoldTime}}
{{- end}}
{{- end}}
 !
 address-family ipv4 unicast
  maximum-paths 16
  maximum-paths ibgp 16
{{- range .Neighbors}}{{if or .Address.Is4 .DualStack .Interface}}
  neighbor {{id .}} activate
{{- end}}{{end}}
 exit-address-family
 !
 address-family ipv6 unicast
  maximum-paths 16
  maximum-paths ibgp 16
{{- range .Neighbors}}{{if or .Address.Is6 .DualStack .Interface}}
  neighbor {{id .}} activate
{{- end}}{{end}}
 exit-address-family
exit
!
bfd
{{- range $i, $n := .Neighbors}}{{if $n.BFD}}{{with bfd $n.BFD}}
 profile {{profile $i}}
  receive-interval {{ms .ReceiveInterval}}
  transmit-interval {{ms .TransmitInterval}}
  detect-multiplier {{.DetectMultiplier}}
{{- if .Passive}}
  passive-mode
{{- end}}
 exit
{{- end}}{{end}}{{end}}
exit
!
`))

var tmplFuncs = template.FuncMap{
	"profile": func(i int) string { return "p" + strconv.Itoa(i+1) },
	// id names a neighbor in FRR's configuration: its interface for an
	// unnumbered one, else its address.
	"id": func(n Neighbor) string {
		if n.Interface != "" {
			return n.Interface
		}
		return n.Address.String()
	},
	"peer":     birdPeerName,
	"ms":       func(d time.Duration) int64 { return d.Milliseconds() },
	"bfd":      func(b *BFDProfile) BFDProfile { return b.withDefaults() },
	"birdAuth": func(t string) string { return birdAuthTypes[t] },
	// secs renders d in seconds, or def/3 when d is zero (keepalive).
	"secs": func(d, def time.Duration) int64 {
		if d == 0 {
			return int64(def.Seconds()) / 3
		}
		return int64(d.Seconds())
	},
}

// FRR is an FRR instance (zebra, bgpd, bfdd) in a namespace. zebra installs
// the BGP routes into the namespace's kernel table.
type FRR struct {
	cfg   Config
	conf  string
	procs procs
	logs  []string
	vtysh []string
}

// NewFRR returns an FRR router for cfg; Start runs it.
func NewFRR(cfg Config) (*FRR, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	conf, err := RenderFRR(cfg)
	if err != nil {
		return nil, err
	}
	f := &FRR{cfg: cfg, conf: conf, vtysh: []string{"vtysh", "--vty_socket", cfg.Dir, "--config_dir", cfg.Dir}}
	for _, d := range []string{"frr.log", "zebra.out", "bgpd.out", "bfdd.out"} {
		f.logs = append(f.logs, filepath.Join(cfg.Dir, d))
	}
	return f, nil
}

// RenderFRR renders the frr.conf for cfg.
func RenderFRR(cfg Config) (string, error) {
	if auth, err := cfg.bfdAuth(); auth != nil || err != nil {
		return "", errors.Join(errors.New("routers: FRR's bfdd has no BFD authentication"), err)
	}
	var b bytes.Buffer
	anyGR := false
	for _, n := range cfg.Neighbors {
		anyGR = anyGR || n.GracefulRestart
	}
	err := frrTemplate.Execute(&b, struct {
		Config
		AnyGR bool
	}{cfg, anyGR})
	if err != nil {
		return "", fmt.Errorf("routers: render frr.conf: %w", err)
	}
	return b.String(), nil
}

// Kind implements Router.
func (f *FRR) Kind() string { return "frr" }

// Config implements Router.
func (f *FRR) Config() string { return f.conf }

// Logs implements Router.
func (f *FRR) Logs() string { return tail(40, f.logs...) }

// Start implements Router: zebra first (bgpd and bfdd connect to its
// zserv socket), then bgpd and bfdd, each reading the same frr.conf.
func (f *FRR) Start(ctx context.Context) error {
	d := f.cfg.Dir
	if err := os.MkdirAll(d, 0o755); err != nil {
		return fmt.Errorf("routers: frr dir: %w", err)
	}
	if u, err := user.Lookup("frr"); err == nil {
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(d, uid, gid); err != nil {
			return fmt.Errorf("routers: chown %s to frr: %w", d, err)
		}
	}
	conf := filepath.Join(d, "frr.conf")
	if err := os.WriteFile(conf, []byte(f.conf), 0o644); err != nil {
		return fmt.Errorf("routers: write frr.conf: %w", err)
	}
	// An empty vtysh.conf keeps vtysh from reading /etc/frr; the daemons
	// start from an empty file and receive frr.conf from vtysh -b, the way
	// FRR's own init does (bfdd ignores its section of a file given with -f).
	for _, name := range []string{"vtysh.conf", "empty.conf"} {
		if err := os.WriteFile(filepath.Join(d, name), nil, 0o644); err != nil {
			return fmt.Errorf("routers: write %s: %w", name, err)
		}
	}
	common := func(daemon string) []string {
		return []string{filepath.Join(FRRDaemonDir, daemon),
			"-u", "frr", "-g", "frr",
			"--vty_socket", d, "-z", filepath.Join(d, "zserv.api"),
			"-i", filepath.Join(d, daemon+".pid"), "-f", filepath.Join(d, "empty.conf"), "-P", "0",
			"--log", "file:" + filepath.Join(d, "frr.log"), "--log-level", "info"}
	}
	start := func(daemon string, extra ...string) error {
		p, err := startProc(f.cfg.Namespace, daemon, filepath.Join(d, daemon+".out"), append(common(daemon), extra...)...)
		if err != nil {
			return err
		}
		f.procs.add(p)
		return nil
	}
	t0 := time.Now()
	fail := func(err error) error {
		f.procs.stopAll()
		return fmt.Errorf("routers: frr %s in %s: %w\n%s", f.cfg.Name, f.cfg.Namespace, err, f.Logs())
	}
	if err := start("zebra"); err != nil {
		return fail(err)
	}
	if err := waitFor(ctx, &f.procs, filepath.Join(d, "zserv.api"), filepath.Join(d, "zebra.vty")); err != nil {
		return fail(err)
	}
	port := "179"
	if f.cfg.ListenPort != 0 {
		port = strconv.Itoa(int(f.cfg.ListenPort))
	}
	if err := start("bgpd", "-p", port); err != nil {
		return fail(err)
	}
	if err := start("bfdd", "--bfdctl", filepath.Join(d, "bfdd.sock")); err != nil {
		return fail(err)
	}
	if err := waitFor(ctx, &f.procs, filepath.Join(d, "bgpd.vty"), filepath.Join(d, "bfdd.vty")); err != nil {
		return fail(err)
	}
	if out, err := runOut(ctx, append(f.vtysh, "-b")...); err != nil {
		return fail(fmt.Errorf("apply frr.conf: %w\n%s", err, out))
	}
	f.cfg.Log.Info("frr started", "name", f.cfg.Name, "ns", f.cfg.Namespace, "took", time.Since(t0).Round(time.Millisecond))
	return nil
}

// Stop implements Router.
func (f *FRR) Stop() error {
	f.procs.stopAll()
	return nil
}

// Signal sends sig to one of FRR's daemons (zebra, bgpd, bfdd): SIGSTOP
// makes a peer that stops sending while its sockets stay open. A stopped
// daemon must get SIGCONT before Stop can end it.
func (f *FRR) Signal(daemon string, sig os.Signal) error { return f.procs.signal(daemon, sig) }

// Exec implements Router: one vtysh command.
func (f *FRR) Exec(ctx context.Context, command string) (string, error) {
	return runOut(ctx, append(f.vtysh, "-c", command)...)
}

// CLI implements Router: the vtysh command line for this instance.
func (f *FRR) CLI() string { return strings.Join(f.vtysh, " ") }

// Dir returns the instance's runtime directory.
func (f *FRR) Dir() string { return f.cfg.Dir }

// SessionState implements Router.
func (f *FRR) SessionState(ctx context.Context, neighbor netip.Addr) (string, error) {
	out, err := f.Exec(ctx, "show bgp neighbors "+neighbor.String()+" json")
	if err != nil {
		return "", err
	}
	return parseFRRNeighbor(out, neighbor)
}

// Received implements Router: the neighbor's UPDATE messages.
func (f *FRR) Received(ctx context.Context, neighbor netip.Addr) (Received, error) {
	out, err := f.Exec(ctx, "show bgp neighbors "+neighbor.String()+" json")
	if err != nil {
		return Received{}, err
	}
	return parseFRRReceived(out, neighbor)
}

// BFDState implements Router.
func (f *FRR) BFDState(ctx context.Context, neighbor netip.Addr) (string, error) {
	out, err := f.Exec(ctx, "show bfd peers json")
	if err != nil {
		return "", err
	}
	return parseFRRBFD(out, neighbor)
}

// Routes implements Router: the summary tables name the prefixes, then one
// vtysh run asks for every prefix's detail (communities are only there).
func (f *FRR) Routes(ctx context.Context) ([]Route, error) {
	var prefixes []netip.Prefix
	for _, afi := range []string{"ipv4", "ipv6"} {
		out, err := f.Exec(ctx, "show bgp "+afi+" unicast json")
		if err != nil {
			return nil, err
		}
		ps, err := parseFRRTable(out)
		if err != nil {
			return nil, fmt.Errorf("routers: frr %s: %w", f.cfg.Name, err)
		}
		prefixes = append(prefixes, ps...)
	}
	if len(prefixes) == 0 {
		return nil, nil
	}
	argv := append([]string(nil), f.vtysh...)
	for _, p := range prefixes {
		afi := "ipv4"
		if p.Addr().Is6() {
			afi = "ipv6"
		}
		argv = append(argv, "-c", "show bgp "+afi+" unicast "+p.String()+" json")
	}
	out, err := runOut(ctx, argv...)
	if err != nil {
		return nil, err
	}
	return parseFRRDetails(out)
}

package routers

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/heraldlb/herald/testbed/internal/logtail"
)

// Router is a BGP router running in a network namespace (FRR or BIRD). The
// same e2e scenario runs against every implementation.
type Router interface {
	// Kind is "frr" or "bird".
	Kind() string
	// Start writes the configuration and starts the daemons; it returns
	// once they answer on their control sockets.
	Start(ctx context.Context) error
	// Stop terminates the daemons (SIGTERM, then SIGKILL). Idempotent.
	Stop() error
	// Routes returns the BGP routes in the router's RIB (IPv4 and IPv6)
	// with every received path and its attributes.
	Routes(ctx context.Context) ([]Route, error)
	// SessionState is the BGP FSM state towards neighbor: "Idle",
	// "Connect", "Active", "OpenSent", "OpenConfirm" or "Established".
	SessionState(ctx context.Context, neighbor netip.Addr) (string, error)
	// BFDState is the BFD session state towards neighbor: "up", "down",
	// "init" or "admindown".
	BFDState(ctx context.Context, neighbor netip.Addr) (string, error)
	// Received counts what the router has received from neighbor, for
	// tests that check how much a speaker sent, not only what arrived.
	Received(ctx context.Context, neighbor netip.Addr) (Received, error)
	// Config is the rendered configuration file.
	Config() string
	// Logs returns the tail of the daemons' logs (for failure reports).
	Logs() string
	// Exec runs one CLI command (vtysh -c / birdc) and returns its output.
	Exec(ctx context.Context, command string) (string, error)
	// CLI is the shell command a person runs to inspect the router
	// ("vtysh --vty_socket DIR ..." or "birdc -s SOCK").
	CLI() string
}

// Config describes one router instance.
type Config struct {
	// Name labels the instance in logs and the rendered configuration.
	Name string
	// Namespace is the network namespace the daemons run in.
	Namespace string
	// Dir holds the configuration, sockets, pid and log files. It is
	// created (and handed to the frr user for FRR). It must not be a
	// directory only root can traverse: use a path under the lab's Dir.
	Dir string
	// ASN and RouterID of the router.
	ASN      uint32
	RouterID netip.Addr
	// Neighbors are the BGP peers (Herald speakers, GoBGP).
	Neighbors []Neighbor
	// ListenPort is the TCP port the router accepts BGP connections on
	// (default 179), for peers configured with a peerPort.
	ListenPort uint16
	// Log receives lifecycle messages; nil discards.
	Log *slog.Logger
}

// Neighbor is one BGP peer of the router.
type Neighbor struct {
	// Address is the peer's address; unset for an unnumbered neighbor.
	Address netip.Addr
	// Interface makes an unnumbered neighbor (FRR only: `neighbor IFNAME
	// interface`): the peer is whoever FRR finds on the interface by IPv6
	// Router Advertisements, and both families are activated.
	Interface string
	// ASN of the peer; equal to the router's ASN for iBGP.
	ASN uint32
	// Multihop is the TTL for a multihop session; 0 means directly
	// connected (eBGP TTL 1 / iBGP on a shared segment).
	Multihop int
	// Password enables TCP MD5 authentication.
	Password string
	// BFD enables a BFD session with these parameters; nil disables BFD.
	BFD *BFDProfile
	// GracefulRestart enables the capability for this neighbor.
	GracefulRestart bool
	// Passive: the router never connects, it only accepts.
	Passive bool
	// HoldTime and Keepalive override the defaults when non-zero (whole
	// seconds).
	HoldTime, Keepalive time.Duration
	// Port is the peer's TCP port when not 179.
	Port uint16
	// TTLSecurity turns on GTSM (RFC 5082) for a directly connected
	// peer: send with TTL 255, accept nothing below 254 (FRR ttl-security
	// hops 1, BIRD ttl security).
	TTLSecurity bool
	// DualStack activates both IPv4 and IPv6 unicast on the session,
	// whatever the family of Address.
	DualStack bool
}

// BFDProfile holds BFD timers.
type BFDProfile struct {
	ReceiveInterval  time.Duration // default 300ms
	TransmitInterval time.Duration // default 300ms
	DetectMultiplier int           // default 3
	Passive          bool          // wait for the peer's first packet
	// Auth authenticates the session (RFC 5880 §6.7); nil for none. Only
	// BIRD has BFD authentication (FRR's bfdd has none), and BIRD sets it
	// per interface: every BFD neighbour of one BIRD must use the same.
	Auth *BFDAuth
}

// BFDAuth is a BFD session's authentication.
type BFDAuth struct {
	// Type is one of simple-password, keyed-md5, meticulous-keyed-md5,
	// keyed-sha1, meticulous-keyed-sha1 (Herald's BFDProfile names).
	Type     string
	KeyID    uint8
	Password string
}

// birdAuthTypes are BIRD's words for each authentication type.
var birdAuthTypes = map[string]string{
	"simple-password":       "simple",
	"keyed-md5":             "keyed md5",
	"meticulous-keyed-md5":  "meticulous keyed md5",
	"keyed-sha1":            "keyed sha1",
	"meticulous-keyed-sha1": "meticulous keyed sha1",
}

func (b BFDProfile) withDefaults() BFDProfile {
	if b.ReceiveInterval == 0 {
		b.ReceiveInterval = 300 * time.Millisecond
	}
	if b.TransmitInterval == 0 {
		b.TransmitInterval = 300 * time.Millisecond
	}
	if b.DetectMultiplier == 0 {
		b.DetectMultiplier = 3
	}
	return b
}

// IBGP reports whether the session to n is internal.
func (c Config) IBGP(n Neighbor) bool { return n.ASN == c.ASN }

// Received is what a router counted of one neighbor's UPDATEs. Each router
// counts one of them; the other is -1.
type Received struct {
	// Messages is the number of UPDATE messages (FRR's updatesRecv).
	Messages int
	// Routes is the number of routes announced, repeats included (BIRD's
	// "Import updates: received", over every channel).
	Routes int
}

// Route is one prefix in the router's BGP table with every path to it.
type Route struct {
	Prefix netip.Prefix
	// NextHops are the next hops the router uses: the best path's, plus
	// those of the paths it selected for multipath (FRR). For BIRD they
	// are the best path's next hops; ECMP shows in the kernel table.
	NextHops []netip.Addr
	Paths    []Path
}

// Best returns the best path, or false when no path is marked best.
func (r Route) Best() (Path, bool) {
	for _, p := range r.Paths {
		if p.Best {
			return p, true
		}
	}
	return Path{}, false
}

// Path is one received path with its attributes.
type Path struct {
	// Peer is the neighbor the path came from (invalid if unknown).
	Peer    netip.Addr
	NextHop netip.Addr
	ASPath  []uint32
	// Communities as "asn:value", large communities as "global:local1:local2".
	Communities      []string
	LargeCommunities []string
	LocalPref        uint32
	HasLocalPref     bool
	MED              uint32
	HasMED           bool
	Origin           string // "IGP", "EGP", "incomplete"
	Best             bool
	Multipath        bool
}

// FindRoute returns the route for prefix in rs.
func FindRoute(rs []Route, prefix netip.Prefix) (Route, bool) {
	for _, r := range rs {
		if r.Prefix == prefix.Masked() {
			return r, true
		}
	}
	return Route{}, false
}

// proc is a daemon started inside a namespace with `ip netns exec`.
type proc struct {
	name    string
	cmd     *exec.Cmd
	outPath string
	done    chan struct{}
	err     error
}

func startProc(ns, name, outPath string, argv ...string) (*proc, error) {
	out, err := os.OpenFile(outPath, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return nil, err
	}
	defer out.Close()
	cmd := exec.Command("ip", append([]string{"netns", "exec", ns}, argv...)...)
	cmd.Stdout = out
	cmd.Stderr = out
	// Its own process group, so a ^C at the terminal reaches the testbed
	// command (which tears down in order) rather than the daemons.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &proc{name: name, cmd: cmd, outPath: outPath, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop sends SIGTERM, waits up to grace, then SIGKILLs.
func (p *proc) stop(grace time.Duration) {
	if p.exited() {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(grace):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// procs is the set of daemons of one router.
type procs struct {
	mu   sync.Mutex
	list []*proc
}

func (ps *procs) add(p *proc) {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	ps.list = append(ps.list, p)
}

// stopAll stops the daemons in reverse start order.
func (ps *procs) stopAll() {
	ps.mu.Lock()
	list := ps.list
	ps.list = nil
	ps.mu.Unlock()
	for i := len(list) - 1; i >= 0; i-- {
		list[i].stop(3 * time.Second)
	}
}

// signal sends sig to the daemon named name.
func (ps *procs) signal(name string, sig os.Signal) error {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	for _, p := range ps.list {
		if p.name == name {
			return p.cmd.Process.Signal(sig)
		}
	}
	return fmt.Errorf("routers: no daemon %s running", name)
}

// dead returns an error naming the daemons that have exited.
func (ps *procs) dead() error {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	var errs []error
	for _, p := range ps.list {
		if p.exited() {
			errs = append(errs, fmt.Errorf("%s exited: %v", p.name, p.err))
		}
	}
	return errors.Join(errs...)
}

// waitFor polls until every path exists or a daemon dies or ctx ends.
func waitFor(ctx context.Context, ps *procs, paths ...string) error {
	for {
		missing := ""
		for _, p := range paths {
			if _, err := os.Stat(p); err != nil {
				missing = p
				break
			}
		}
		if missing == "" {
			return nil
		}
		if err := ps.dead(); err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s: %w", missing, ctx.Err())
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// tail returns the last n lines of each file, headed by its name.
func tail(n int, files ...string) string {
	var b strings.Builder
	for _, f := range files {
		if fi, err := os.Stat(f); err != nil || fi.Size() == 0 {
			continue
		}
		fmt.Fprintf(&b, "==> %s <==\n%s\n", filepath.Base(f), logtail.Lines(f, n))
	}
	return b.String()
}

func runOut(ctx context.Context, argv ...string) (string, error) {
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.WaitDelay = 2 * time.Second
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("%s: %w: %s", strings.Join(argv, " "), err, strings.TrimSpace(string(out)))
	}
	return string(out), nil
}

func (c *Config) validate() error {
	if c.Namespace == "" || c.Dir == "" || c.ASN == 0 || !c.RouterID.Is4() {
		return fmt.Errorf("routers: config %q needs Namespace, Dir, ASN and an IPv4 RouterID", c.Name)
	}
	for _, n := range c.Neighbors {
		if (!n.Address.IsValid() && n.Interface == "") || n.ASN == 0 {
			return fmt.Errorf("routers: config %q: neighbor %v needs an address (or an interface) and an ASN", c.Name, n.Address)
		}
		if n.Address.IsValid() && n.Interface != "" {
			return fmt.Errorf("routers: config %q: neighbor %v: an address or an interface, not both", c.Name, n.Address)
		}
	}
	if _, err := c.bfdAuth(); err != nil {
		return err
	}
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
	if c.Name == "" {
		c.Name = filepath.Base(c.Dir)
	}
	return nil
}

// bfdAuth is the BFD authentication of cfg's neighbours, nil for none; an
// error when two differ or a type is unknown.
func (c Config) bfdAuth() (*BFDAuth, error) {
	var auth *BFDAuth
	for _, n := range c.Neighbors {
		if n.BFD == nil || n.BFD.Auth == nil {
			continue
		}
		if _, ok := birdAuthTypes[n.BFD.Auth.Type]; !ok {
			return nil, fmt.Errorf("routers: config %q: neighbor %v: unknown BFD authentication type %q", c.Name, n.Address, n.BFD.Auth.Type)
		}
		if auth != nil && *auth != *n.BFD.Auth {
			return nil, fmt.Errorf("routers: config %q: neighbor %v: BFD authentication differs from another neighbour's (BIRD sets it per interface)", c.Name, n.Address)
		}
		auth = n.BFD.Auth
	}
	return auth, nil
}

package netlab

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"math/rand/v2"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// DefaultPrefix starts the name of every namespace a Lab creates.
const DefaultPrefix = "hb"

// StateRoot holds one directory per lab (owner record, router runtime
// files). FRR drops privileges to the frr user, so this is not a test's
// private temporary directory.
const StateRoot = "/run/herald-testbed"

// Options shape a Lab. The zero value is a 3-node lab with prefix "hb".
type Options struct {
	// Nodes is the number of node namespaces (default 3, at most 50).
	Nodes int
	// Prefix starts every namespace name (default "hb"); CleanupStale and
	// RemoveAll match on it.
	Prefix string
	// Persistent marks the lab as meant to outlive its creator (testbed up):
	// CleanupStale leaves it alone; RemoveAll still removes it.
	Persistent bool
	// Log receives what the lab does; nil discards.
	Log *slog.Logger
}

// Host is one namespace of the lab with its addresses.
type Host struct {
	// Name is the role: "node1".."nodeN", "client", "router".
	Name string
	// NS is the network namespace name.
	NS string
	// LAN4 and LAN6 are the addresses on the L2 segment (interface eth0).
	LAN4, LAN6 netip.Addr
	// Link4 and Link6 are set on the client and the router only: the
	// addresses on the routed link between them (interface eth1).
	Link4, Link6 netip.Addr
}

// Lab is a running topology. Its fields are read-only.
//
//	            L2 segment (bridge br0 in namespace <p><id>-sw)
//	node1 eth0 ─┐   10.240.<id>.0/24  fd00:240:<id>::/64
//	node2 eth0 ─┼── client eth0 (.100)
//	nodeN eth0 ─┤   router eth0 (.1)
//	            │
//	router eth1 (10.241.<id>.1) ── client eth1 (10.241.<id>.2, default route)
//
// Nodes' default routes point at the router's LAN address; the client's
// default routes point at the router's eth1, so traffic to BGPPool4/6 (and
// anything not on the LAN) goes through the router, which needs a route
// learned over BGP to reach a node. L2Pool4/6 lie inside the LAN prefix and
// are reached by ARP/NDP from the client's eth0.
type Lab struct {
	ID     int
	Prefix string
	Name   string // Prefix + ID, e.g. "hb17"
	Dir    string // StateRoot/Name: owner record and router runtime files

	Nodes  []Host
	Client Host
	Router Host
	Switch string // namespace holding the bridge

	LAN4, LAN6         netip.Prefix // the L2 segment
	Link4, Link6       netip.Prefix // router ↔ client link
	L2Pool4, L2Pool6   netip.Prefix // free addresses on the LAN for L2 service IPs
	BGPPool4, BGPPool6 netip.Prefix // routed-only range for BGP service IPs

	log *slog.Logger

	mu       sync.Mutex
	closers  []func() error // run in reverse on Close
	closed   bool
	closeErr error
}

// New builds a lab: namespaces, bridge, veth pairs, addresses, sysctls and
// routes. On error everything already created is removed.
func New(ctx context.Context, opts Options) (*Lab, error) {
	if !IsRoot() {
		return nil, errors.New("netlab: network namespaces need root")
	}
	if opts.Nodes == 0 {
		opts.Nodes = 3
	}
	if opts.Nodes < 1 || opts.Nodes > 50 {
		return nil, fmt.Errorf("netlab: %d nodes: want 1..50", opts.Nodes)
	}
	if opts.Prefix == "" {
		opts.Prefix = DefaultPrefix
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	start := time.Now()
	l, err := claim(ctx, opts)
	if err != nil {
		return nil, err
	}
	if err := l.build(ctx, opts); err != nil {
		return nil, errors.Join(err, l.Close())
	}
	l.log.Info("lab up", "nodes", len(l.Nodes), "took", time.Since(start).Round(time.Millisecond))
	return l, nil
}

// claim picks a free lab ID. Creating the lab's state directory is the
// atomic test-and-set, so concurrent processes never share an ID, and the
// owner record exists before any namespace does (CleanupStale never takes
// a lab being built for a crashed one).
func claim(ctx context.Context, opts Options) (*Lab, error) {
	if err := os.MkdirAll(StateRoot, 0o755); err != nil {
		return nil, fmt.Errorf("netlab: state root: %w", err)
	}
	existing, err := listNamespaces()
	if err != nil {
		return nil, fmt.Errorf("netlab: list namespaces: %w", err)
	}
	for attempt := 0; attempt < 64; attempt++ {
		id := 1 + rand.IntN(250)
		name := opts.Prefix + strconv.Itoa(id)
		if slices.ContainsFunc(existing, func(ns string) bool { return strings.HasPrefix(ns, name+"-") }) {
			continue // leftovers of a crashed lab: CleanupStale's business
		}
		dir := filepath.Join(StateRoot, name)
		if err := os.Mkdir(dir, 0o755); err != nil {
			if errors.Is(err, fs.ErrExist) {
				continue
			}
			return nil, fmt.Errorf("netlab: state dir: %w", err)
		}
		l := newLab(id, opts)
		l.onClose(func() error { return os.RemoveAll(dir) })
		if err := writeOwner(dir, opts.Persistent); err != nil {
			return nil, errors.Join(err, l.Close())
		}
		if _, err := runCmd(ctx, "ip", "netns", "add", l.Switch); err != nil {
			cerr := l.Close()
			if strings.Contains(err.Error(), "exists") {
				continue
			}
			return nil, errors.Join(fmt.Errorf("netlab: create namespace %s: %w", l.Switch, err), cerr)
		}
		l.onClose(func() error { return deleteNamespace(context.Background(), l.Switch) })
		return l, nil
	}
	return nil, errors.New("netlab: no free lab ID after 64 tries (run CleanupStale?)")
}

func newLab(id int, opts Options) *Lab {
	name := opts.Prefix + strconv.Itoa(id)
	v4 := func(b2, host int) netip.Addr { return netip.AddrFrom4([4]byte{10, byte(b2), byte(id), byte(host)}) }
	v6 := func(b2, host int) netip.Addr {
		return netip.MustParseAddr(fmt.Sprintf("fd00:%d:%d::%d", b2, id, host))
	}
	l := &Lab{
		ID: id, Prefix: opts.Prefix, Name: name, Dir: filepath.Join(StateRoot, name),
		Switch:   name + "-sw",
		LAN4:     netip.PrefixFrom(v4(240, 0), 24),
		LAN6:     netip.PrefixFrom(v6(240, 0), 64),
		Link4:    netip.PrefixFrom(v4(241, 0), 24),
		Link6:    netip.PrefixFrom(v6(241, 0), 64),
		L2Pool4:  netip.PrefixFrom(v4(240, 192), 27),
		L2Pool6:  netip.MustParsePrefix(fmt.Sprintf("fd00:240:%d::200/120", id)),
		BGPPool4: netip.PrefixFrom(v4(242, 0), 24),
		BGPPool6: netip.PrefixFrom(v6(242, 0), 64),
		log:      opts.Log.With("lab", name),
	}
	for i := 1; i <= opts.Nodes; i++ {
		n := "node" + strconv.Itoa(i)
		l.Nodes = append(l.Nodes, Host{Name: n, NS: name + "-" + n, LAN4: v4(240, 10+i), LAN6: v6(240, 10+i)})
	}
	l.Client = Host{Name: "client", NS: name + "-client", LAN4: v4(240, 100), LAN6: v6(240, 100),
		Link4: v4(241, 2), Link6: v6(241, 2)}
	l.Router = Host{Name: "router", NS: name + "-router", LAN4: v4(240, 1), LAN6: v6(240, 1),
		Link4: v4(241, 1), Link6: v6(241, 1)}
	return l
}

// Namespaces lists every namespace of the lab, the switch last.
func (l *Lab) Namespaces() []string {
	var ns []string
	for _, h := range l.Hosts() {
		ns = append(ns, h.NS)
	}
	return append(ns, l.Switch)
}

// Hosts returns the nodes, then the client and the router.
func (l *Lab) Hosts() []Host {
	hs := append([]Host(nil), l.Nodes...)
	return append(hs, l.Client, l.Router)
}

// Host finds a host by role name ("node2", "client", "router") or by
// namespace name.
func (l *Lab) Host(name string) (Host, error) {
	for _, h := range l.Hosts() {
		if h.Name == name || h.NS == name {
			return h, nil
		}
	}
	return Host{}, fmt.Errorf("netlab: lab %s has no host %q", l.Name, name)
}

func (l *Lab) build(ctx context.Context, opts Options) error {
	common := []string{
		"net.ipv6.conf.all.accept_dad=0", "net.ipv6.conf.default.accept_dad=0",
		"net.ipv6.conf.all.dad_transmits=0", "net.ipv6.conf.default.dad_transmits=0",
		"net.ipv4.conf.all.rp_filter=0", "net.ipv4.conf.default.rp_filter=0",
	}
	for _, h := range l.Hosts() {
		if _, err := runCmd(ctx, "ip", "netns", "add", h.NS); err != nil {
			return fmt.Errorf("netlab: create namespace %s: %w", h.NS, err)
		}
		ns := h.NS
		l.onClose(func() error { return deleteNamespace(context.Background(), ns) })
		kv := append([]string(nil), common...)
		switch {
		case strings.HasPrefix(h.Name, "node"):
			// A service IP on lo is answered by Herald, not by the kernel.
			kv = append(kv, "net.ipv4.conf.all.arp_ignore=1", "net.ipv4.conf.all.arp_announce=2",
				"net.ipv4.conf.default.arp_ignore=1", "net.ipv4.conf.default.arp_announce=2")
		case h.Name == "router":
			// ECMP hashes on ports too (policy 1), as routers commonly do:
			// one client's connections to one service IP spread over the
			// nodes that announce it, instead of all taking one path.
			kv = append(kv, "net.ipv4.ip_forward=1", "net.ipv6.conf.all.forwarding=1",
				"net.ipv4.fib_multipath_hash_policy=1", "net.ipv6.fib_multipath_hash_policy=1")
		}
		if err := sysctls(ctx, h.NS, kv...); err != nil {
			return fmt.Errorf("netlab: sysctls in %s: %w", h.NS, err)
		}
	}
	if err := sysctls(ctx, l.Switch, "net.ipv6.conf.all.disable_ipv6=1", "net.ipv6.conf.default.disable_ipv6=1"); err != nil {
		return fmt.Errorf("netlab: sysctls in %s: %w", l.Switch, err)
	}

	// The switch: a bridge with one port per LAN host, plus the routed link.
	sw := []string{
		"link set lo up",
		"link add br0 type bridge stp_state 0 forward_delay 0 mcast_snooping 0",
		"link set br0 up",
	}
	lanHosts := append(append([]Host(nil), l.Nodes...), l.Client, l.Router)
	for _, h := range lanHosts {
		port := "p-" + h.Name
		sw = append(sw,
			fmt.Sprintf("link add %s type veth peer name eth0 netns %s", port, h.NS),
			fmt.Sprintf("link set %s master br0 up", port))
	}
	if err := ipBatch(ctx, l.Switch, sw); err != nil {
		return fmt.Errorf("netlab: switch: %w", err)
	}
	if err := ipBatch(ctx, l.Router.NS, []string{
		fmt.Sprintf("link add eth1 type veth peer name eth1 netns %s", l.Client.NS),
	}); err != nil {
		return fmt.Errorf("netlab: router-client link: %w", err)
	}

	for _, h := range lanHosts {
		cmds := []string{
			"link set lo up",
			"link set eth0 up",
			fmt.Sprintf("addr add %s dev eth0", netip.PrefixFrom(h.LAN4, 24)),
			fmt.Sprintf("addr add %s dev eth0 nodad", netip.PrefixFrom(h.LAN6, 64)),
		}
		switch h.Name {
		case "router":
			cmds = append(cmds, "link set eth1 up",
				fmt.Sprintf("addr add %s dev eth1", netip.PrefixFrom(h.Link4, 24)),
				fmt.Sprintf("addr add %s dev eth1 nodad", netip.PrefixFrom(h.Link6, 64)))
		case "client":
			cmds = append(cmds, "link set eth1 up",
				fmt.Sprintf("addr add %s dev eth1", netip.PrefixFrom(h.Link4, 24)),
				fmt.Sprintf("addr add %s dev eth1 nodad", netip.PrefixFrom(h.Link6, 64)),
				fmt.Sprintf("route add default via %s dev eth1", l.Router.Link4),
				fmt.Sprintf("route add ::/0 via %s dev eth1", l.Router.Link6))
		default:
			cmds = append(cmds,
				fmt.Sprintf("route add default via %s dev eth0", l.Router.LAN4),
				fmt.Sprintf("route add ::/0 via %s dev eth0", l.Router.LAN6))
		}
		if err := ipBatch(ctx, h.NS, cmds); err != nil {
			return fmt.Errorf("netlab: configure %s: %w", h.Name, err)
		}
	}
	return nil
}

// OnClose registers a teardown step run by Close, in reverse order of
// registration, before the namespaces are deleted (routers, helpers).
func (l *Lab) OnClose(f func() error) { l.onClose(f) }

func (l *Lab) onClose(f func() error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.closers = append(l.closers, f)
}

// Close stops backends and processes started in the lab's namespaces,
// deletes the namespaces (which removes the bridge and veths with them)
// and the lab's state directory. It is idempotent and safe to call from a
// signal handler goroutine.
func (l *Lab) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return l.closeErr
	}
	l.closed = true
	closers := l.closers
	l.closers = nil
	l.mu.Unlock()

	var errs []error
	for i := len(closers) - 1; i >= 0; i-- {
		if err := closers[i](); err != nil {
			errs = append(errs, err)
		}
	}
	err := errors.Join(errs...)
	l.mu.Lock()
	l.closeErr = err
	l.mu.Unlock()
	if err != nil {
		l.log.Warn("lab teardown had errors", "err", err)
	} else {
		l.log.Info("lab down")
	}
	return err
}

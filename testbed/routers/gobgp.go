package routers

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	api "github.com/osrg/gobgp/v3/api"
	"github.com/osrg/gobgp/v3/pkg/apiutil"
	gobgplog "github.com/osrg/gobgp/v3/pkg/log"
	"github.com/osrg/gobgp/v3/pkg/packet/bgp"
	"github.com/osrg/gobgp/v3/pkg/server"
	"golang.org/x/sys/unix"
)

// GoBGPConfig describes an in-process GoBGP speaker.
type GoBGPConfig struct {
	// Namespace the speaker's listener lives in (e.g. a node's).
	Namespace string
	ASN       uint32
	RouterID  netip.Addr
	// ListenAddresses default to all addresses; ListenPort defaults to 179.
	ListenAddresses []netip.Addr
	ListenPort      int32
	Log             *slog.Logger
}

// GoBGPPeer is a neighbor of the GoBGP speaker. GoBGP is always passive:
// its outgoing connections would be dialled from goroutines outside the
// namespace, so the other side (FRR, BIRD, Herald) must connect.
type GoBGPPeer struct {
	Address  netip.Addr
	ASN      uint32
	Password string
	// Multihop TTL for eBGP; 0 for directly connected.
	Multihop uint32
	// HoldTime in seconds (default 90; GoBGP's keepalive is a third).
	HoldTime uint32
	// GracefulRestart enables the capability.
	GracefulRestart bool
	// Families to enable; default: the address family of Address.
	Families []bgp.RouteFamily
}

// Announcement is a path for GoBGP to originate.
type Announcement struct {
	Prefix           netip.Prefix
	NextHop          netip.Addr
	Communities      []string // "65000:100"
	LargeCommunities []string // "65000:1:2"
	LocalPref        uint32   // sent to iBGP peers when non-zero
	MED              uint32   // sent when HasMED
	HasMED           bool
	ASPath           []uint32 // prepended segment after GoBGP's own ASN (eBGP)
	// Extra carries raw attributes (crafted or unusual ones).
	Extra []bgp.PathAttributeInterface
}

// GoBGP is an in-process GoBGP speaker whose BGP listener lives in a
// network namespace.
type GoBGP struct {
	cfg GoBGPConfig
	srv *server.BgpServer
	mu  sync.Mutex
	out []string // recent log lines
}

// StartGoBGP starts a GoBGP speaker listening inside cfg.Namespace. The
// server's main loop runs on an OS thread that joined the namespace (the
// listener is created there); that goroutine lives until the process ends,
// as GoBGP's Serve never returns.
func StartGoBGP(ctx context.Context, cfg GoBGPConfig) (*GoBGP, error) {
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.ListenPort == 0 {
		cfg.ListenPort = 179
	}
	g := &GoBGP{cfg: cfg}
	g.srv = server.NewBgpServer(server.LoggerOption(&gobgpLogger{g: g, log: cfg.Log.With("gobgp", cfg.Namespace)}))

	fd, err := unix.Open("/run/netns/"+cfg.Namespace, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("routers: gobgp namespace %s: %w", cfg.Namespace, err)
	}
	entered := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread dies with the goroutine
		err := unix.Setns(fd, unix.CLONE_NEWNET)
		unix.Close(fd)
		entered <- err
		if err != nil {
			return
		}
		g.srv.Serve()
	}()
	if err := <-entered; err != nil {
		return nil, fmt.Errorf("routers: gobgp enter namespace %s: %w", cfg.Namespace, err)
	}
	var addrs []string
	for _, a := range cfg.ListenAddresses {
		addrs = append(addrs, a.String())
	}
	if len(addrs) == 0 {
		addrs = []string{"0.0.0.0", "::"}
	}
	err = g.srv.StartBgp(ctx, &api.StartBgpRequest{Global: &api.Global{
		Asn: cfg.ASN, RouterId: cfg.RouterID.String(), ListenPort: cfg.ListenPort, ListenAddresses: addrs,
	}})
	if err != nil {
		return nil, fmt.Errorf("routers: gobgp start in %s: %w", cfg.Namespace, err)
	}
	return g, nil
}

// Server exposes the GoBGP server for tests that need more than the
// helpers (policies, raw paths, watching events).
func (g *GoBGP) Server() *server.BgpServer { return g.srv }

// Stop closes the sessions (with a Cease NOTIFICATION) and the listener.
func (g *GoBGP) Stop() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return g.srv.StopBgp(ctx, &api.StopBgpRequest{})
}

// AddPeer configures a passive neighbor.
func (g *GoBGP) AddPeer(ctx context.Context, p GoBGPPeer) error {
	fams := p.Families
	if len(fams) == 0 {
		fams = []bgp.RouteFamily{bgp.RF_IPv4_UC}
		if p.Address.Is6() {
			fams = []bgp.RouteFamily{bgp.RF_IPv6_UC}
		}
	}
	var afs []*api.AfiSafi
	for _, f := range fams {
		afi, safi := bgp.RouteFamilyToAfiSafi(f)
		afs = append(afs, &api.AfiSafi{Config: &api.AfiSafiConfig{
			Family: &api.Family{Afi: api.Family_Afi(afi), Safi: api.Family_Safi(safi)}, Enabled: true}})
	}
	hold := uint64(p.HoldTime)
	if hold == 0 {
		hold = 90
	}
	peer := &api.Peer{
		Conf:      &api.PeerConf{NeighborAddress: p.Address.String(), PeerAsn: p.ASN, AuthPassword: p.Password},
		Transport: &api.Transport{PassiveMode: true},
		Timers: &api.Timers{Config: &api.TimersConfig{HoldTime: hold, KeepaliveInterval: hold / 3,
			ConnectRetry: 1, IdleHoldTimeAfterReset: 1}},
		AfiSafis: afs,
	}
	if p.Multihop > 0 {
		peer.EbgpMultihop = &api.EbgpMultihop{Enabled: true, MultihopTtl: p.Multihop}
	}
	if p.GracefulRestart {
		peer.GracefulRestart = &api.GracefulRestart{Enabled: true, RestartTime: 30}
	}
	if err := g.srv.AddPeer(ctx, &api.AddPeerRequest{Peer: peer}); err != nil {
		return fmt.Errorf("routers: gobgp add peer %s: %w", p.Address, err)
	}
	return nil
}

// PeerState returns the session state towards addr in the Router
// vocabulary ("Established", "Active", ...).
func (g *GoBGP) PeerState(ctx context.Context, addr netip.Addr) (string, error) {
	state := ""
	err := g.srv.ListPeer(ctx, &api.ListPeerRequest{Address: addr.String()}, func(p *api.Peer) {
		state = p.GetState().GetSessionState().String()
	})
	if err != nil {
		return "", err
	}
	if state == "" {
		return "", fmt.Errorf("routers: gobgp has no peer %s", addr)
	}
	return gobgpStateName(state), nil
}

func gobgpStateName(s string) string {
	switch s {
	case "ESTABLISHED":
		return "Established"
	case "OPENSENT":
		return "OpenSent"
	case "OPENCONFIRM":
		return "OpenConfirm"
	case "UNKNOWN":
		return "Idle"
	}
	return strings.ToUpper(s[:1]) + strings.ToLower(s[1:])
}

// Announce originates a path.
func (g *GoBGP) Announce(ctx context.Context, a Announcement) error {
	path, err := a.apiPath(false)
	if err != nil {
		return err
	}
	if _, err := g.srv.AddPath(ctx, &api.AddPathRequest{TableType: api.TableType_GLOBAL, Path: path}); err != nil {
		return fmt.Errorf("routers: gobgp announce %s: %w", a.Prefix, err)
	}
	return nil
}

// Withdraw removes a path announced with the same prefix and next hop.
func (g *GoBGP) Withdraw(ctx context.Context, a Announcement) error {
	path, err := a.apiPath(true)
	if err != nil {
		return err
	}
	if err := g.srv.DeletePath(ctx, &api.DeletePathRequest{TableType: api.TableType_GLOBAL, Family: path.Family, Path: path}); err != nil {
		return fmt.Errorf("routers: gobgp withdraw %s: %w", a.Prefix, err)
	}
	return nil
}

func (a Announcement) apiPath(withdraw bool) (*api.Path, error) {
	p := a.Prefix.Masked()
	attrs := []bgp.PathAttributeInterface{bgp.NewPathAttributeOrigin(bgp.BGP_ORIGIN_ATTR_TYPE_IGP)}
	var nlri bgp.AddrPrefixInterface
	if p.Addr().Is4() {
		nlri = bgp.NewIPAddrPrefix(uint8(p.Bits()), p.Addr().String())
		attrs = append(attrs, bgp.NewPathAttributeNextHop(a.NextHop.String()))
	} else {
		nlri = bgp.NewIPv6AddrPrefix(uint8(p.Bits()), p.Addr().String())
		attrs = append(attrs, bgp.NewPathAttributeMpReachNLRI(a.NextHop.String(), []bgp.AddrPrefixInterface{nlri}))
	}
	if len(a.ASPath) > 0 {
		attrs = append(attrs, bgp.NewPathAttributeAsPath([]bgp.AsPathParamInterface{
			bgp.NewAs4PathParam(bgp.BGP_ASPATH_ATTR_TYPE_SEQ, a.ASPath)}))
	}
	if len(a.Communities) > 0 {
		var cs []uint32
		for _, s := range a.Communities {
			c, err := parseCommunity(s)
			if err != nil {
				return nil, err
			}
			cs = append(cs, c)
		}
		attrs = append(attrs, bgp.NewPathAttributeCommunities(cs))
	}
	if len(a.LargeCommunities) > 0 {
		var ls []*bgp.LargeCommunity
		for _, s := range a.LargeCommunities {
			l, err := bgp.ParseLargeCommunity(s)
			if err != nil {
				return nil, fmt.Errorf("routers: large community %q: %w", s, err)
			}
			ls = append(ls, l)
		}
		attrs = append(attrs, bgp.NewPathAttributeLargeCommunities(ls))
	}
	if a.LocalPref != 0 {
		attrs = append(attrs, bgp.NewPathAttributeLocalPref(a.LocalPref))
	}
	if a.HasMED {
		attrs = append(attrs, bgp.NewPathAttributeMultiExitDisc(a.MED))
	}
	attrs = append(attrs, a.Extra...)
	path, err := apiutil.NewPath(nlri, withdraw, attrs, time.Now())
	if err != nil {
		return nil, fmt.Errorf("routers: gobgp path %s: %w", a.Prefix, err)
	}
	return path, nil
}

func parseCommunity(s string) (uint32, error) {
	hi, lo, ok := strings.Cut(s, ":")
	h, err1 := strconv.ParseUint(hi, 10, 16)
	l, err2 := strconv.ParseUint(lo, 10, 16)
	if !ok || err1 != nil || err2 != nil {
		return 0, fmt.Errorf("routers: community %q: want asn:value", s)
	}
	return uint32(h)<<16 | uint32(l), nil
}

// Received returns the paths received from peer (its Adj-RIB-In) for the
// family of peer's address, in the Router vocabulary.
func (g *GoBGP) Received(ctx context.Context, peer netip.Addr) ([]Route, error) {
	fam := &api.Family{Afi: api.Family_AFI_IP, Safi: api.Family_SAFI_UNICAST}
	if peer.Is6() {
		fam.Afi = api.Family_AFI_IP6
	}
	var routes []Route
	var perr error
	err := g.srv.ListPath(ctx, &api.ListPathRequest{TableType: api.TableType_ADJ_IN, Name: peer.String(), Family: fam},
		func(d *api.Destination) {
			pfx, err := netip.ParsePrefix(d.Prefix)
			if err != nil {
				perr = err
				return
			}
			r := Route{Prefix: pfx}
			for _, p := range d.Paths {
				path, err := nativePath(p)
				if err != nil {
					perr = err
					return
				}
				path.Peer = peer
				r.Paths = append(r.Paths, path)
				r.NextHops = append(r.NextHops, path.NextHop)
			}
			routes = append(routes, r)
		})
	if err == nil {
		err = perr
	}
	if err != nil {
		return nil, fmt.Errorf("routers: gobgp adj-rib-in of %s: %w", peer, err)
	}
	return routes, nil
}

func nativePath(p *api.Path) (Path, error) {
	attrs, err := apiutil.GetNativePathAttributes(p)
	if err != nil {
		return Path{}, err
	}
	out := Path{Best: p.Best}
	for _, a := range attrs {
		switch a := a.(type) {
		case *bgp.PathAttributeNextHop:
			out.NextHop, _ = netip.AddrFromSlice(a.Value)
			out.NextHop = out.NextHop.Unmap()
		case *bgp.PathAttributeMpReachNLRI:
			out.NextHop, _ = netip.AddrFromSlice(a.Nexthop)
		case *bgp.PathAttributeAsPath:
			for _, seg := range a.Value {
				out.ASPath = append(out.ASPath, seg.GetAS()...)
			}
		case *bgp.PathAttributeCommunities:
			for _, c := range a.Value {
				out.Communities = append(out.Communities, fmt.Sprintf("%d:%d", c>>16, c&0xffff))
			}
		case *bgp.PathAttributeLargeCommunities:
			for _, l := range a.Values {
				out.LargeCommunities = append(out.LargeCommunities, l.String())
			}
		case *bgp.PathAttributeLocalPref:
			out.LocalPref, out.HasLocalPref = a.Value, true
		case *bgp.PathAttributeMultiExitDisc:
			out.MED, out.HasMED = a.Value, true
		case *bgp.PathAttributeOrigin:
			out.Origin = [...]string{"IGP", "EGP", "incomplete"}[a.Value%3]
		}
	}
	return out, nil
}

// Logs returns GoBGP's recent log lines.
func (g *GoBGP) Logs() string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return strings.Join(g.out, "\n")
}

// Namespace is where the listener lives.
func (g *GoBGP) Namespace() string { return g.cfg.Namespace }

// gobgpLogger adapts GoBGP's logger to slog and keeps a tail for reports.
type gobgpLogger struct {
	g     *GoBGP
	log   *slog.Logger
	level gobgplog.LogLevel
}

func (l *gobgpLogger) keep(level, msg string, f gobgplog.Fields) {
	l.g.mu.Lock()
	defer l.g.mu.Unlock()
	l.g.out = append(l.g.out, fmt.Sprintf("%s %s %s %v", time.Now().Format("15:04:05.000"), level, msg, map[string]any(f)))
	if len(l.g.out) > 200 {
		l.g.out = l.g.out[len(l.g.out)-200:]
	}
}

func attrs(f gobgplog.Fields) []any {
	out := make([]any, 0, 2*len(f))
	for k, v := range f {
		out = append(out, k, v)
	}
	return out
}

func (l *gobgpLogger) Panic(msg string, f gobgplog.Fields) {
	l.keep("PANIC", msg, f)
	panic(msg)
}
func (l *gobgpLogger) Fatal(msg string, f gobgplog.Fields) {
	l.keep("FATAL", msg, f)
	l.log.Error(msg, attrs(f)...)
}
func (l *gobgpLogger) Error(msg string, f gobgplog.Fields) {
	l.keep("ERROR", msg, f)
	l.log.Error(msg, attrs(f)...)
}
func (l *gobgpLogger) Warn(msg string, f gobgplog.Fields) {
	l.keep("WARN", msg, f)
	l.log.Warn(msg, attrs(f)...)
}
func (l *gobgpLogger) Info(msg string, f gobgplog.Fields) {
	l.keep("INFO", msg, f)
	l.log.Info(msg, attrs(f)...)
}
func (l *gobgpLogger) Debug(msg string, f gobgplog.Fields) {
	if l.level >= gobgplog.DebugLevel {
		l.keep("DEBUG", msg, f)
		l.log.Debug(msg, attrs(f)...)
	}
}
func (l *gobgpLogger) SetLevel(level gobgplog.LogLevel) { l.level = level }
func (l *gobgpLogger) GetLevel() gobgplog.LogLevel      { return l.level }

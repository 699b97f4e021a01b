package bgpload

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"strconv"
	"testing"
	"time"

	api "github.com/osrg/gobgp/v3/api"

	"github.com/heraldlb/herald/bgpwire/peer"
	"github.com/heraldlb/herald/testbed/routers"
)

// The lab's ASNs: the router's and the senders'.
const (
	routerASN = 64512
	senderASN = 64513
	// holdTime is short so that keepalives flow every 3 s during a run.
	holdTime = 9 * time.Second
)

// The environment a sender process reads (see startSender).
const (
	envSender = "HERALD_BGPLOAD_SENDER" // "herald" or "gobgp"
	envNS     = "HERALD_BGPLOAD_NS"
	envLocal  = "HERALD_BGPLOAD_LOCAL"
	envRouter = "HERALD_BGPLOAD_ROUTER"
	envRoutes = "HERALD_BGPLOAD_ROUTES"
	envMode   = "HERALD_BGPLOAD_MODE" // modeUpdate or modeInitial
)

// The two ways a sender gets its routes.
const (
	// modeUpdate: the session is up (its first table empty) when the
	// routes are handed over; they go out as updates to it.
	modeUpdate = "update"
	// modeInitial: the routes are in before the session starts; they go
	// out as the session's first table.
	modeInitial = "initial"
)

// TestMain runs a sender when the test binary is started as one: each
// sender is its own process so its peak RSS is its own.
func TestMain(m *testing.M) {
	if kind := os.Getenv(envSender); kind != "" {
		if err := runSender(kind); err != nil {
			fmt.Fprintf(os.Stderr, "%s sender: %v\n", kind, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// routePrefixes are the n /32s the senders announce, from 100.64.0.0 up.
func routePrefixes(n int) []netip.Prefix {
	ps := make([]netip.Prefix, n)
	base := uint32(100)<<24 | uint32(64)<<16
	for i := range ps {
		v := base + uint32(i)
		ps[i] = netip.PrefixFrom(netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}), 32)
	}
	return ps
}

// sender is what the parent asks of either implementation.
type sender interface {
	// established blocks until the session with the router is up.
	established(ctx context.Context) error
	// announce hands every route to the implementation's API at once.
	announce(ctx context.Context, prefixes []netip.Prefix) error
	// updatesSent is the implementation's own count of UPDATE messages
	// sent, End-of-RIB included.
	updatesSent(ctx context.Context) (int, error)
	close()
}

// runSender speaks a line protocol with the parent: it prints
// "established" once the session is up, then for each line read:
// "announce" → hands the routes over and prints "announced";
// "updates" → prints "updates N". It stops at the end of its input.
func runSender(kind string) error {
	local, err := netip.ParseAddr(os.Getenv(envLocal))
	if err != nil {
		return fmt.Errorf("%s: %w", envLocal, err)
	}
	router, err := netip.ParseAddr(os.Getenv(envRouter))
	if err != nil {
		return fmt.Errorf("%s: %w", envRouter, err)
	}
	n, err := strconv.Atoi(os.Getenv(envRoutes))
	if err != nil {
		return fmt.Errorf("%s: %w", envRoutes, err)
	}
	prefixes := routePrefixes(n)
	var initial []netip.Prefix
	if os.Getenv(envMode) == modeInitial {
		initial = prefixes
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var s sender
	switch kind {
	case "herald":
		s, err = startHerald(local, router, initial)
	case "gobgp":
		s, err = startGoBGP(ctx, os.Getenv(envNS), local, router, initial)
	default:
		err = fmt.Errorf("unknown sender %q", kind)
	}
	if err != nil {
		return err
	}
	defer s.close()
	wait, cancelWait := context.WithTimeout(ctx, time.Minute)
	defer cancelWait()
	if err := s.established(wait); err != nil {
		return err
	}
	fmt.Println("established")
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		switch in.Text() {
		case "announce":
			if err := s.announce(ctx, prefixes); err != nil {
				return err
			}
			fmt.Println("announced")
		case "updates":
			u, err := s.updatesSent(ctx)
			if err != nil {
				return err
			}
			fmt.Println("updates", u)
		}
	}
	return in.Err()
}

// heraldProcess is the Herald sender: bgpwire/peer driven by heraldSender.
type heraldProcess struct {
	s      *heraldSender
	routes chan routeSet
	stop   chan struct{}
	done   chan struct{}
}

func startHerald(local, router netip.Addr, initial []netip.Prefix) (*heraldProcess, error) {
	cfg := peer.Config{MyAS: senderASN, PeerAS: routerASN, RouterID: local, HoldTime: holdTime, ConnectTime: time.Second,
		Backoff: peer.Backoff{Initial: 200 * time.Millisecond}}
	s, err := newHeraldSender(cfg, local, netip.AddrPortFrom(router, 179))
	if err != nil {
		return nil, err
	}
	h := &heraldProcess{s: s, routes: make(chan routeSet), stop: make(chan struct{}), done: make(chan struct{})}
	var table []peer.Route
	if initial != nil {
		table = peerRoutes(initial)
	}
	go func() { defer close(h.done); s.run(table, h.routes, h.stop) }()
	return h, nil
}

func (h *heraldProcess) established(ctx context.Context) error {
	select {
	case <-h.s.up:
		return nil
	case <-ctx.Done():
		return errors.New("the session did not come up")
	}
}

// announce is one SetRoutes with the whole table, as the speaker's planner
// hands a peer its routes; it returns once the Peer has encoded them (as
// GoBGP's announce returns once every AddPath has).
func (h *heraldProcess) announce(ctx context.Context, prefixes []netip.Prefix) error {
	rs := routeSet{routes: peerRoutes(prefixes), done: make(chan struct{})}
	select {
	case h.routes <- rs:
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case <-rs.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func peerRoutes(prefixes []netip.Prefix) []peer.Route {
	rs := make([]peer.Route, len(prefixes))
	for i, p := range prefixes {
		rs[i] = peer.Route{Prefix: p}
	}
	return rs
}

func (h *heraldProcess) updatesSent(context.Context) (int, error) { return h.s.updates.get(), nil }

func (h *heraldProcess) close() {
	close(h.stop)
	<-h.done
}

// gobgpProcess is the GoBGP sender: GoBGP's server in this process, each
// route added with its AddPath API (the one its gRPC service calls).
type gobgpProcess struct {
	g      *routers.GoBGP
	router netip.Addr
	local  netip.Addr
}

func startGoBGP(ctx context.Context, ns string, local, router netip.Addr, initial []netip.Prefix) (*gobgpProcess, error) {
	g, err := routers.StartGoBGP(ctx, routers.GoBGPConfig{Namespace: ns, ASN: senderASN, RouterID: local,
		ListenAddresses: []netip.Addr{local}})
	if err != nil {
		return nil, err
	}
	p := &gobgpProcess{g: g, router: router, local: local}
	// Paths added before the neighbor exists go out as its first table.
	if err := p.announce(ctx, initial); err != nil {
		_ = g.Stop()
		return nil, err
	}
	if err := g.AddPeer(ctx, routers.GoBGPPeer{Address: router, ASN: routerASN, HoldTime: uint32(holdTime / time.Second)}); err != nil {
		_ = g.Stop()
		return nil, err
	}
	return p, nil
}

func (p *gobgpProcess) established(ctx context.Context) error {
	for {
		st, err := p.g.PeerState(ctx, p.router)
		if err == nil && st == "Established" {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("the session did not come up (last %s, %v)", st, err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func (p *gobgpProcess) announce(ctx context.Context, prefixes []netip.Prefix) error {
	for _, pf := range prefixes {
		if err := p.g.Announce(ctx, routers.Announcement{Prefix: pf, NextHop: p.local}); err != nil {
			return err
		}
	}
	return nil
}

func (p *gobgpProcess) updatesSent(ctx context.Context) (int, error) {
	n := -1
	err := p.g.Server().ListPeer(ctx, &api.ListPeerRequest{Address: p.router.String()}, func(pr *api.Peer) {
		n = int(pr.GetState().GetMessages().GetSent().GetUpdate())
	})
	return n, err
}

func (p *gobgpProcess) close() { _ = p.g.Stop() }

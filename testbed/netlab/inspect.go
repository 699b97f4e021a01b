package netlab

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"strings"
	"time"
)

// Exec runs argv inside namespace ns (a namespace name or a host role such
// as "client") with `ip netns exec` and returns its combined output. A
// failure carries the output.
func (l *Lab) Exec(ctx context.Context, ns string, argv ...string) ([]byte, error) {
	if h, err := l.Host(ns); err == nil {
		ns = h.NS
	}
	return runCmd(ctx, append([]string{"ip", "netns", "exec", ns}, argv...)...)
}

// Neighbor is one entry of a namespace's neighbour table (ARP and NDP).
type Neighbor struct {
	Dst    netip.Addr
	Dev    string
	LLAddr string   // MAC, empty while INCOMPLETE/FAILED
	State  []string // e.g. ["REACHABLE"], ["STALE"], ["FAILED"]
}

// Neighbors returns the IPv4 and IPv6 neighbour entries of ns (a namespace
// or host role), from `ip -j neigh`.
func (l *Lab) Neighbors(ctx context.Context, ns string) ([]Neighbor, error) {
	if h, err := l.Host(ns); err == nil {
		ns = h.NS
	}
	out, err := runCmd(ctx, "ip", "-n", ns, "-j", "neigh", "show")
	if err != nil {
		return nil, err
	}
	var raw []struct {
		Dst    string   `json:"dst"`
		Dev    string   `json:"dev"`
		LLAddr string   `json:"lladdr"`
		State  []string `json:"state"`
	}
	if err := json.Unmarshal(out, &raw); err != nil {
		return nil, fmt.Errorf("netlab: parse ip -j neigh in %s: %w: %s", ns, err, out)
	}
	ns2 := make([]Neighbor, 0, len(raw))
	for _, r := range raw {
		a, err := netip.ParseAddr(r.Dst)
		if err != nil {
			continue
		}
		ns2 = append(ns2, Neighbor{Dst: a, Dev: r.Dev, LLAddr: r.LLAddr, State: r.State})
	}
	return ns2, nil
}

// NextHop is one path of a route.
type NextHop struct {
	Gateway netip.Addr // invalid for a directly connected route
	Dev     string
}

// Route is one kernel route of a namespace's main table.
type Route struct {
	Dst      netip.Prefix // 0.0.0.0/0 or ::/0 for "default"
	Protocol string       // "kernel", "boot", "bgp", "bird", ...
	Metric   int
	NextHops []NextHop // one for a plain route, several for ECMP
}

// Routes returns the IPv4 and IPv6 routes of the main table of ns (a
// namespace or host role), from `ip -j route` and `ip -j -6 route`.
// Multipath routes carry every next hop.
func (l *Lab) Routes(ctx context.Context, ns string) ([]Route, error) {
	if h, err := l.Host(ns); err == nil {
		ns = h.NS
	}
	var routes []Route
	for _, fam := range []string{"-4", "-6"} {
		out, err := runCmd(ctx, "ip", "-n", ns, "-j", fam, "route", "show")
		if err != nil {
			return nil, err
		}
		var raw []struct {
			Dst      string `json:"dst"`
			Gateway  string `json:"gateway"`
			Dev      string `json:"dev"`
			Protocol string `json:"protocol"`
			Metric   int    `json:"metric"`
			Nexthops []struct {
				Gateway string `json:"gateway"`
				Dev     string `json:"dev"`
			} `json:"nexthops"`
		}
		if err := json.Unmarshal(out, &raw); err != nil {
			return nil, fmt.Errorf("netlab: parse ip -j %s route in %s: %w: %s", fam, ns, err, out)
		}
		for _, r := range raw {
			dst, err := parseDst(r.Dst, fam == "-6")
			if err != nil {
				continue
			}
			rt := Route{Dst: dst, Protocol: r.Protocol, Metric: r.Metric}
			if len(r.Nexthops) > 0 {
				for _, nh := range r.Nexthops {
					gw, _ := netip.ParseAddr(nh.Gateway)
					rt.NextHops = append(rt.NextHops, NextHop{Gateway: gw, Dev: nh.Dev})
				}
			} else {
				gw, _ := netip.ParseAddr(r.Gateway)
				rt.NextHops = []NextHop{{Gateway: gw, Dev: r.Dev}}
			}
			routes = append(routes, rt)
		}
	}
	return routes, nil
}

func parseDst(s string, v6 bool) (netip.Prefix, error) {
	if s == "default" {
		if v6 {
			return netip.MustParsePrefix("::/0"), nil
		}
		return netip.MustParsePrefix("0.0.0.0/0"), nil
	}
	if strings.Contains(s, "/") {
		return netip.ParsePrefix(s)
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// RouteTo returns the route in ns whose destination is exactly dst, if any.
func (l *Lab) RouteTo(ctx context.Context, ns string, dst netip.Prefix) (Route, bool, error) {
	rs, err := l.Routes(ctx, ns)
	if err != nil {
		return Route{}, false, err
	}
	for _, r := range rs {
		if r.Dst == dst.Masked() {
			return r, true, nil
		}
	}
	return Route{}, false, nil
}

// Eventually polls cond every interval until it returns nil or ctx ends;
// the error names the last failure. Tests use it to wait for convergence.
func Eventually(ctx context.Context, interval time.Duration, cond func(context.Context) error) error {
	var last error
	for {
		if last = cond(ctx); last == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("gave up after %w: last: %w", ctx.Err(), last)
		case <-time.After(interval):
		}
	}
}

// Summary describes the lab for a person: namespaces, addresses, pools and
// how to get a shell in each namespace.
func (l *Lab) Summary() string {
	var b strings.Builder
	fmt.Fprintf(&b, "lab %s (state in %s)\n", l.Name, l.Dir)
	for _, h := range l.Hosts() {
		fmt.Fprintf(&b, "  %-7s ns %-14s eth0 %s %s", h.Name, h.NS, h.LAN4, h.LAN6)
		if h.Link4.IsValid() {
			fmt.Fprintf(&b, "  eth1 %s %s", h.Link4, h.Link6)
		}
		b.WriteString("\n")
	}
	fmt.Fprintf(&b, "  switch  ns %s (bridge br0)\n", l.Switch)
	fmt.Fprintf(&b, "  LAN %s %s, router-client link %s %s\n", l.LAN4, l.LAN6, l.Link4, l.Link6)
	fmt.Fprintf(&b, "  L2 service pool %s %s, BGP service pool %s %s\n", l.L2Pool4, l.L2Pool6, l.BGPPool4, l.BGPPool6)
	fmt.Fprintf(&b, "  shell: ip netns exec %s bash\n", l.Client.NS)
	return b.String()
}

package routers

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"sort"
	"strings"
)

// parseFRRNeighbor reads `show bgp neighbors ADDR json`.
func parseFRRNeighbor(out string, neighbor netip.Addr) (string, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal([]byte(out), &m); err != nil {
		return "", fmt.Errorf("routers: parse frr neighbor json: %w: %s", err, out)
	}
	raw, ok := m[neighbor.String()]
	if !ok {
		return "", fmt.Errorf("routers: frr has no neighbor %s: %s", neighbor, strings.TrimSpace(out))
	}
	var n struct {
		BGPState string `json:"bgpState"`
	}
	if err := json.Unmarshal(raw, &n); err != nil {
		return "", fmt.Errorf("routers: parse frr neighbor %s: %w", neighbor, err)
	}
	return n.BGPState, nil
}

// parseFRRReceived reads `show bgp neighbors ADDR json` for the UPDATE
// messages received.
func parseFRRReceived(out string, neighbor netip.Addr) (Received, error) {
	var m map[string]struct {
		MessageStats *struct {
			UpdatesRecv int `json:"updatesRecv"`
		} `json:"messageStats"`
	}
	if err := json.Unmarshal([]byte(out), &m); err != nil {
		return Received{}, fmt.Errorf("routers: parse frr neighbor json: %w: %s", err, out)
	}
	n, ok := m[neighbor.String()]
	if !ok || n.MessageStats == nil {
		return Received{}, fmt.Errorf("routers: frr has no message counts of neighbor %s: %s", neighbor, strings.TrimSpace(out))
	}
	return Received{Messages: n.MessageStats.UpdatesRecv, Routes: -1}, nil
}

// parseFRRBFD reads `show bfd peers json`.
func parseFRRBFD(out string, neighbor netip.Addr) (string, error) {
	var peers []struct {
		Peer   string `json:"peer"`
		Status string `json:"status"`
	}
	if err := json.Unmarshal([]byte(out), &peers); err != nil {
		return "", fmt.Errorf("routers: parse frr bfd peers json: %w: %s", err, out)
	}
	for _, p := range peers {
		if a, err := netip.ParseAddr(p.Peer); err == nil && a == neighbor {
			return normalizeBFD(p.Status), nil
		}
	}
	return "", fmt.Errorf("routers: frr has no BFD session with %s", neighbor)
}

func normalizeBFD(s string) string {
	s = strings.ToLower(strings.TrimSpace(s))
	switch s {
	case "shutdown", "admin_down", "admindown":
		return "admindown"
	}
	return s
}

// parseFRRTable reads `show bgp ipv4|ipv6 unicast json` for its prefixes.
func parseFRRTable(out string) ([]netip.Prefix, error) {
	var t struct {
		Routes map[string]json.RawMessage `json:"routes"`
	}
	if strings.TrimSpace(out) == "" || strings.TrimSpace(out) == "{}" {
		return nil, nil
	}
	if err := json.Unmarshal([]byte(out), &t); err != nil {
		return nil, fmt.Errorf("parse bgp table json: %w: %s", err, out)
	}
	ps := make([]netip.Prefix, 0, len(t.Routes))
	for k := range t.Routes {
		p, err := netip.ParsePrefix(k)
		if err != nil {
			return nil, fmt.Errorf("bgp table prefix %q: %w", k, err)
		}
		ps = append(ps, p)
	}
	sort.Slice(ps, func(i, j int) bool { return ps[i].String() < ps[j].String() })
	return ps, nil
}

type frrPrefixDetail struct {
	Prefix string `json:"prefix"`
	Paths  []struct {
		ASPath struct {
			Segments []struct {
				List []uint32 `json:"list"`
			} `json:"segments"`
		} `json:"aspath"`
		Origin    string  `json:"origin"`
		Metric    *uint32 `json:"metric"`
		LocPrf    *uint32 `json:"locPrf"`
		Multipath bool    `json:"multipath"`
		Bestpath  *struct {
			Overall bool `json:"overall"`
		} `json:"bestpath"`
		Community *struct {
			List []string `json:"list"`
		} `json:"community"`
		LargeCommunity *struct {
			List   []string `json:"list"`
			String string   `json:"string"`
		} `json:"largeCommunity"`
		Nexthops []struct {
			IP    string `json:"ip"`
			Scope string `json:"scope"`
		} `json:"nexthops"`
		Peer struct {
			PeerID string `json:"peerId"`
		} `json:"peer"`
	} `json:"paths"`
}

// parseFRRDetails reads the concatenated output of several
// `show bgp ... PREFIX json` commands.
func parseFRRDetails(out string) ([]Route, error) {
	dec := json.NewDecoder(strings.NewReader(out))
	var routes []Route
	for {
		var d frrPrefixDetail
		err := dec.Decode(&d)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("routers: parse frr prefix json: %w: %s", err, out)
		}
		if d.Prefix == "" { // withdrawn between the two commands
			continue
		}
		pfx, err := netip.ParsePrefix(d.Prefix)
		if err != nil {
			return nil, fmt.Errorf("routers: frr prefix %q: %w", d.Prefix, err)
		}
		r := Route{Prefix: pfx}
		for _, p := range d.Paths {
			path := Path{Origin: p.Origin, Multipath: p.Multipath}
			path.Best = p.Bestpath != nil && p.Bestpath.Overall
			for _, s := range p.ASPath.Segments {
				path.ASPath = append(path.ASPath, s.List...)
			}
			if p.Metric != nil {
				path.MED, path.HasMED = *p.Metric, true
			}
			if p.LocPrf != nil {
				path.LocalPref, path.HasLocalPref = *p.LocPrf, true
			}
			if p.Community != nil {
				for _, c := range p.Community.List {
					path.Communities = append(path.Communities, frrCommunity(c))
				}
			}
			if p.LargeCommunity != nil {
				path.LargeCommunities = p.LargeCommunity.List
				if len(path.LargeCommunities) == 0 && p.LargeCommunity.String != "" {
					path.LargeCommunities = strings.Fields(p.LargeCommunity.String)
				}
			}
			for _, nh := range p.Nexthops {
				if nh.Scope == "link-local" {
					continue
				}
				if a, err := netip.ParseAddr(nh.IP); err == nil {
					path.NextHop = a
					break
				}
			}
			path.Peer, _ = netip.ParseAddr(p.Peer.PeerID)
			r.Paths = append(r.Paths, path)
			if (path.Best || path.Multipath) && path.NextHop.IsValid() {
				r.NextHops = appendUnique(r.NextHops, path.NextHop)
			}
		}
		routes = append(routes, r)
	}
	return routes, nil
}

func appendUnique(as []netip.Addr, a netip.Addr) []netip.Addr {
	for _, x := range as {
		if x == a {
			return as
		}
	}
	return append(as, a)
}

// frrWellKnown maps the names FRR prints for well-known communities to the
// numeric form BIRD prints (and Herald's configuration accepts), so one test
// reads both routers alike.
var frrWellKnown = map[string]string{
	"gshut":                   "65535:0",
	"acceptown":               "65535:1",
	"routeFilterTranslatedv4": "65535:2",
	"routeFilterv4":           "65535:3",
	"routeFilterTranslatedv6": "65535:4",
	"routeFilterv6":           "65535:5",
	"llgrStale":               "65535:6",
	"noLlgr":                  "65535:7",
	"acceptownNexthop":        "65535:8",
	"blackhole":               "65535:666",
	"noExport":                "65535:65281",
	"noAdvertise":             "65535:65282",
	"localAs":                 "65535:65283",
	"noPeer":                  "65535:65284",
}

func frrCommunity(c string) string {
	if n, ok := frrWellKnown[c]; ok {
		return n
	}
	return c
}

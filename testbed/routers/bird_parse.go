package routers

import (
	"bufio"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// parseBIRDProtocolState reads `show protocols all NAME` for "BGP state:".
func parseBIRDProtocolState(out string) (string, error) {
	for _, line := range strings.Split(out, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "BGP state:"); ok {
			return strings.TrimSpace(v), nil
		}
	}
	return "", fmt.Errorf("routers: no BGP state in bird output: %s", strings.TrimSpace(out))
}

// parseBIRDReceived reads `show protocols all NAME` for the import updates
// received, summed over the channels.
func parseBIRDReceived(out string) (Received, error) {
	r, found := Received{Messages: -1}, false
	for _, line := range strings.Split(out, "\n") {
		v, ok := strings.CutPrefix(strings.TrimSpace(line), "Import updates:")
		if !ok {
			continue
		}
		f := strings.Fields(v)
		if len(f) == 0 {
			return Received{}, fmt.Errorf("routers: bird import updates line without counts: %q", line)
		}
		n, err := strconv.Atoi(f[0])
		if err != nil {
			return Received{}, fmt.Errorf("routers: bird import updates received %q: %w", f[0], err)
		}
		r.Routes += n
		found = true
	}
	if !found {
		return Received{}, fmt.Errorf("routers: no import updates in bird output: %s", strings.TrimSpace(out))
	}
	return r, nil
}

// parseBIRDBFD reads `show bfd sessions`: a table per BFD protocol with
// columns IP address, Interface, State, Since, Interval, Timeout.
func parseBIRDBFD(out string, neighbor netip.Addr) (string, error) {
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) < 3 {
			continue
		}
		if a, err := netip.ParseAddr(f[0]); err == nil && a == neighbor {
			// The interface column is empty for multihop sessions.
			state := f[2]
			if _, err := strconv.ParseFloat(f[1], 64); err == nil || len(f) < 5 {
				state = f[1]
			}
			if !isBFDState(state) && isBFDState(f[1]) {
				state = f[1]
			}
			return normalizeBFD(state), nil
		}
	}
	return "", fmt.Errorf("routers: bird has no BFD session with %s", neighbor)
}

func isBFDState(s string) bool {
	switch strings.ToLower(s) {
	case "up", "down", "init", "admindown":
		return true
	}
	return false
}

// parseBIRDRoutes reads `show route all` output:
//
//	Table master4:
//	10.0.0.1/32          unicast [peer1 2026-11-21 21:00:00.123] * (100) [AS64513i]
//		via 10.240.1.11 on eth0
//		Type: BGP univ
//		BGP.as_path: 64513
//		BGP.community: (65000,100)
//		BGP.large_community: (65000, 1, 2)
//	                     unicast [peer2 ...] (100) [AS64514i]
//
// A path starts with a route line (prefix or blank, then a route type and a
// bracketed protocol name); "*" marks the best. peers maps protocol names
// to neighbor addresses.
func parseBIRDRoutes(out string, peers map[string]netip.Addr) ([]Route, error) {
	var routes []Route
	var bp *birdPath // the path being read
	flush := func() {
		if bp == nil || len(routes) == 0 {
			return
		}
		r := &routes[len(routes)-1]
		if !bp.NextHop.IsValid() && len(bp.via) > 0 {
			bp.NextHop = bp.via[0]
		}
		r.Paths = append(r.Paths, bp.Path)
		if bp.Best {
			for _, nh := range bp.via {
				r.NextHops = appendUnique(r.NextHops, nh)
			}
		}
		bp = nil
	}
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		trim := strings.TrimSpace(line)
		if trim == "" || strings.HasPrefix(trim, "Table ") {
			continue
		}
		lb, rb := strings.Index(line, "["), strings.Index(line, "]")
		if !strings.HasPrefix(line, "\t") && lb > 0 && rb > lb {
			// A route line: a new path, and a new prefix unless indented.
			flush()
			if !strings.HasPrefix(line, " ") {
				pfx, err := netip.ParsePrefix(strings.Fields(line)[0])
				if err != nil {
					return nil, fmt.Errorf("bird route line %q: %w", line, err)
				}
				routes = append(routes, Route{Prefix: pfx})
			}
			if len(routes) == 0 {
				return nil, fmt.Errorf("bird route line without prefix: %q", line)
			}
			proto := strings.Fields(line[lb+1 : rb])[0]
			bp = &birdPath{Path: Path{Peer: peers[proto]}}
			bp.Best = strings.HasPrefix(strings.TrimSpace(line[rb+1:]), "*")
			continue
		}
		if bp == nil {
			continue
		}
		switch {
		case strings.HasPrefix(trim, "via "):
			f := strings.Fields(trim)
			if a, err := netip.ParseAddr(f[1]); err == nil {
				bp.via = append(bp.via, a)
			}
		case strings.HasPrefix(trim, "BGP."):
			key, val, _ := strings.Cut(trim, ":")
			if err := setBIRDAttr(&bp.Path, strings.TrimPrefix(key, "BGP."), strings.TrimSpace(val)); err != nil {
				return nil, fmt.Errorf("bird attribute %q: %w", trim, err)
			}
		}
	}
	flush()
	return routes, sc.Err()
}

type birdPath struct {
	Path
	via []netip.Addr
}

// setBIRDAttr stores one "BGP.name: value" line.
func setBIRDAttr(p *Path, name, val string) error {
	switch name {
	case "origin":
		p.Origin = val
		if val == "Incomplete" {
			p.Origin = "incomplete"
		}
	case "as_path":
		p.ASPath = nil
		for _, f := range strings.Fields(val) {
			f = strings.Trim(f, "{}()")
			if f == "" {
				continue
			}
			n, err := strconv.ParseUint(f, 10, 32)
			if err != nil {
				return err
			}
			p.ASPath = append(p.ASPath, uint32(n))
		}
	case "next_hop":
		// The first address; a second one is an IPv6 link-local.
		f := strings.Fields(val)
		if len(f) > 0 {
			a, err := netip.ParseAddr(f[0])
			if err != nil {
				return err
			}
			p.NextHop = a
		}
	case "med":
		n, err := strconv.ParseUint(val, 10, 32)
		if err != nil {
			return err
		}
		p.MED, p.HasMED = uint32(n), true
	case "local_pref":
		n, err := strconv.ParseUint(val, 10, 32)
		if err != nil {
			return err
		}
		p.LocalPref, p.HasLocalPref = uint32(n), true
	case "community":
		p.Communities = birdTuples(val)
	case "large_community":
		p.LargeCommunities = birdTuples(val)
	}
	return nil
}

// birdTuples turns "(65000,100) (65000,200)" or "(65000, 1, 2)" into
// "65000:100", "65000:200" / "65000:1:2".
func birdTuples(val string) []string {
	var out []string
	for _, part := range strings.Split(val, ")") {
		part = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(part), "("))
		if part == "" {
			continue
		}
		fields := strings.Split(part, ",")
		for i := range fields {
			fields[i] = strings.TrimSpace(fields[i])
		}
		out = append(out, strings.Join(fields, ":"))
	}
	return out
}

package announce

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/heraldlb/herald/config"
	"github.com/heraldlb/herald/config/manifest"
)

// compileYAML compiles a manifest the way `herald validate` reads files.
func compileYAML(t testing.TB, yaml string) *config.Config {
	t.Helper()
	s := manifest.Set{DefaultNamespace: "metallb-system"}
	s.Add("test.yaml", []byte(yaml))
	if len(s.Errors) > 0 {
		t.Fatalf("manifest: %v", s.Errors)
	}
	cfg, err := config.Compile(s.Input)
	if err != nil {
		t.Fatalf("compile: %v", err)
	}
	return cfg
}

func ip(s string) netip.Addr { return netip.MustParseAddr(s) }

func ips(ss ...string) []netip.Addr {
	out := make([]netip.Addr, len(ss))
	for i, s := range ss {
		out[i] = ip(s)
	}
	return out
}

// svc builds a Cluster Service with one ready endpoint on n1.
func svc(name string, addrs ...string) Service {
	return Service{Key: ServiceKey{"default", name}, IPs: ips(addrs...), Endpoints: []Endpoint{{Node: "n1"}}}
}

func (s Service) withLabels(kv ...string) Service {
	s.Labels = map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		s.Labels[kv[i]] = kv[i+1]
	}
	return s
}

func (s Service) local(eps ...Endpoint) Service {
	s.TrafficPolicy = Local
	s.Endpoints = eps
	return s
}

func (s Service) withEndpoints(eps ...Endpoint) Service {
	s.Endpoints = eps
	return s
}

func node(name string, kv ...string) Node {
	n := Node{Name: name, Labels: map[string]string{"kubernetes.io/hostname": name}}
	for i := 0; i+1 < len(kv); i += 2 {
		n.Labels[kv[i]] = kv[i+1]
	}
	return n
}

func speakers(names ...string) []Speaker {
	out := make([]Speaker, len(names))
	for i, n := range names {
		out[i] = Speaker{Node: n, Interfaces: []string{"eth0"}}
	}
	return out
}

// bgpView prints a plan's BGP part as "node peer" -> route strings; a
// session without routes maps to an empty list.
func bgpView(p Plan) map[string][]string {
	out := map[string][]string{}
	for _, pp := range p.BGP {
		k := pp.Node + " " + pp.Peer
		out[k] = []string{}
		for _, r := range pp.Routes {
			out[k] = append(out[k], r.String())
		}
	}
	return out
}

// l2View prints a plan's L2 part as IP -> "owner [interfaces] <- candidates".
func l2View(p Plan) map[string]string {
	out := map[string]string{}
	for _, a := range p.L2 {
		out[a.IP.String()] = ownerString(a.Owner) + " <- " + strings.Join(a.Candidates, ",")
	}
	return out
}

func ownerString(o L2Owner) string {
	if o.Node == "" {
		return "-"
	}
	if o.Interfaces == nil {
		return o.Node
	}
	return fmt.Sprintf("%s%v", o.Node, o.Interfaces)
}

// cmpOpts compare netip values by ==, and nil and empty slices as equal.
var cmpOpts = cmp.Options{
	cmp.Comparer(func(a, b netip.Addr) bool { return a == b }),
	cmp.Comparer(func(a, b netip.Prefix) bool { return a == b }),
	cmpopts.EquateEmpty(),
}

// hashOrderView is the l2View of an IP whose candidates are nodes, none
// preferred: ordered by sha256(node + "#" + ip), computed here on its own.
func hashOrderView(ip string, nodes ...string) string {
	sorted := slices.Clone(nodes)
	slices.SortFunc(sorted, func(a, b string) int {
		ha, hb := sha256.Sum256([]byte(a+"#"+ip)), sha256.Sum256([]byte(b+"#"+ip))
		return bytes.Compare(ha[:], hb[:])
	})
	return sorted[0] + " <- " + strings.Join(sorted, ",")
}

// fataler is what testing.T and rapid.T share.
type fataler interface {
	Helper()
	Fatalf(format string, args ...any)
}

// apply applies changes to a plan, the way a shell keeping every session's
// Adj-RIB-Out and the owners would, and returns the result. L2 candidates
// are not part of Changes; apply keeps the IPs' entries with empty
// candidates.
func apply(t fataler, p Plan, c Changes) Plan {
	t.Helper()
	type sess = [2]string
	ribs := map[sess]map[netip.Prefix]Attrs{}
	for _, pp := range p.BGP {
		m := map[netip.Prefix]Attrs{}
		for _, r := range pp.Routes {
			m[r.Prefix] = r.Attrs
		}
		ribs[sess{pp.Node, pp.Peer}] = m
	}
	for _, sc := range c.Sessions {
		k := sess{sc.Node, sc.Peer}
		if _, ok := ribs[k]; ok == sc.Open {
			t.Fatalf("session change %+v: session exists=%v", sc, ok)
		}
		if sc.Open {
			ribs[k] = map[netip.Prefix]Attrs{}
		}
	}
	for _, rc := range c.Routes {
		k := sess{rc.Node, rc.Peer}
		m, ok := ribs[k]
		if !ok {
			m = map[netip.Prefix]Attrs{} // a closed session's withdrawals
		}
		for _, r := range rc.Added {
			if _, dup := m[r.Prefix]; dup {
				t.Fatalf("%s %s: added %s twice", rc.Node, rc.Peer, r.Prefix)
			}
			m[r.Prefix] = r.Attrs
		}
		for _, r := range rc.Changed {
			old, had := m[r.Prefix]
			if !had || old.Equal(r.Attrs) {
				t.Fatalf("%s %s: changed %s: had=%v, old %v new %v", rc.Node, rc.Peer, r.Prefix, had, old, r.Attrs)
			}
			m[r.Prefix] = r.Attrs
		}
		for _, pfx := range rc.Removed {
			if _, had := m[pfx]; !had {
				t.Fatalf("%s %s: removed %s, not there", rc.Node, rc.Peer, pfx)
			}
			delete(m, pfx)
		}
	}
	for _, sc := range c.Sessions {
		if k := (sess{sc.Node, sc.Peer}); !sc.Open {
			if len(ribs[k]) != 0 {
				t.Fatalf("session %v closed with routes left: %v", k, ribs[k])
			}
			delete(ribs, k)
		}
	}
	var out Plan
	for k, m := range ribs {
		pp := PeerPlan{Node: k[0], Peer: k[1]}
		for pfx, a := range m {
			pp.Routes = append(pp.Routes, Route{pfx, a})
		}
		slices.SortFunc(pp.Routes, func(a, b Route) int { return comparePrefix(a.Prefix, b.Prefix) })
		out.BGP = append(out.BGP, pp)
	}
	slices.SortFunc(out.BGP, func(a, b PeerPlan) int {
		return strings.Compare(a.Node+"\x00"+a.Peer, b.Node+"\x00"+b.Peer)
	})
	owners := map[netip.Addr]L2Owner{}
	for _, a := range p.L2 {
		if a.Owner.Node != "" {
			owners[a.IP] = a.Owner
		}
	}
	for _, lc := range c.L2 {
		if !owners[lc.IP].equal(lc.Old) {
			t.Fatalf("L2 change %v: old owner was %v", lc, owners[lc.IP])
		}
		if lc.New.Node == "" {
			delete(owners, lc.IP)
		} else {
			owners[lc.IP] = lc.New
		}
	}
	for ip, o := range owners {
		out.L2 = append(out.L2, L2Assignment{IP: ip, Owner: o})
	}
	slices.SortFunc(out.L2, func(a, b L2Assignment) int { return a.IP.Compare(b.IP) })
	return out
}

// ownersOnly reduces a plan to what Changes describe: sessions, routes and
// L2 IPs that have an owner, without candidates; conflicts are dropped.
func ownersOnly(p Plan) Plan {
	out := Plan{BGP: p.BGP}
	for _, a := range p.L2 {
		if a.Owner.Node != "" {
			out.L2 = append(out.L2, L2Assignment{IP: a.IP, Owner: a.Owner})
		}
	}
	return out
}

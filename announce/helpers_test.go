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

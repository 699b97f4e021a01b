package speaker

import (
	"maps"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/heraldlb/herald/announce"
)

func TestAnnouncementsFollowHostRoutesAndAggregates(t *testing.T) {
	ips := fakeServiceIPs{}
	a := newAnnouncements(ips)
	web := announce.ServiceKey{Namespace: "app", Name: "web"}
	api := announce.ServiceKey{Namespace: "app", Name: "api"}
	v6 := announce.ServiceKey{Namespace: "app", Name: "v6"}
	route := func(p string) announce.Route { return announce.Route{Prefix: netip.MustParsePrefix(p)} }
	ip := netip.MustParseAddr

	step := func(name string, touched []announce.ServiceKey, want map[announce.ServiceKey][]string) {
		t.Helper()
		got := a.changed(touched)
		if !maps.EqualFunc(got, want, slices.Equal[[]string]) {
			t.Errorf("%s: changed %v, want %v", name, got, want)
		}
	}
	step("a Service with no route yet", ips.set(web, []netip.Addr{ip("10.0.0.1")}), map[announce.ServiceKey][]string{})
	step("its host route to r1",
		a.routes(announce.RouteChanges{Peer: "r1", Added: []announce.Route{route("10.0.0.1/32")}}),
		map[announce.ServiceKey][]string{web: {"r1"}})
	step("an aggregate to r2 covers web and a new api",
		append(ips.set(api, []netip.Addr{ip("10.0.0.2")}),
			a.routes(announce.RouteChanges{Peer: "r2", Added: []announce.Route{route("10.0.0.0/30")}})...),
		map[announce.ServiceKey][]string{web: {"r1", "r2"}, api: {"r2"}})
	step("attributes changing move nothing",
		a.routes(announce.RouteChanges{Peer: "r1", Changed: []announce.Route{route("10.0.0.1/32")}}),
		map[announce.ServiceKey][]string{})
	step("an IPv6 Service under an IPv6 aggregate, not an IPv4 one of the same length",
		append(ips.set(v6, []netip.Addr{ip("2001:db8::1")}),
			a.routes(announce.RouteChanges{Peer: "r1", Added: []announce.Route{route("2001:db8::/30")}})...),
		map[announce.ServiceKey][]string{v6: {"r1"}})
	step("web's host route also to r0, a peer that sorts first",
		a.routes(announce.RouteChanges{Peer: "r0", Added: []announce.Route{route("10.0.0.1/32")}}),
		map[announce.ServiceKey][]string{web: {"r0", "r1", "r2"}})
	step("and withdrawn from r1",
		a.routes(announce.RouteChanges{Peer: "r1", Removed: []netip.Prefix{netip.MustParsePrefix("10.0.0.1/32")}}),
		map[announce.ServiceKey][]string{web: {"r0", "r2"}})
	step("added to r0 again: nothing new",
		a.routes(announce.RouteChanges{Peer: "r0", Added: []announce.Route{route("10.0.0.1/32")}}),
		map[announce.ServiceKey][]string{})
	step("the aggregate withdrawn",
		a.routes(announce.RouteChanges{Peer: "r2", Removed: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/30")}}),
		map[announce.ServiceKey][]string{web: {"r0"}, api: nil})
	step("web gone", ips.set(web, nil), map[announce.ServiceKey][]string{web: nil})
	if got := a.announcedTo(api); len(got) != 0 {
		t.Errorf("api announced to %v after its aggregate went", got)
	}
	// The last host route withdrawn leaves only the IPv6 aggregate: no
	// empty peer list and no count of /32s is left behind.
	a.routes(announce.RouteChanges{Peer: "r0", Removed: []netip.Prefix{netip.MustParsePrefix("10.0.0.1/32")}})
	if len(a.peers) != 1 || a.bits[32] != 0 || a.bits[30] != 1 || len(a.bits) != 1 {
		t.Errorf("after every IPv4 route went: peers %v, prefix lengths %v; want only 2001:db8::/30", a.peers, a.bits)
	}
}

func TestStatusObjectNames(t *testing.T) {
	k := announce.ServiceKey{Namespace: "app", Name: "web"}
	if got := serviceStatusName(k, "node-1"); got != "app.web.node-1" {
		t.Errorf("short name %q", got)
	}
	long := announce.ServiceKey{Namespace: strings.Repeat("a", 63), Name: strings.Repeat("b", 63)}
	a := serviceStatusName(long, strings.Repeat("c", 200))
	b := serviceStatusName(long, strings.Repeat("c", 199)+"d")
	if len(a) > 253 || len(b) > 253 || a == b {
		t.Errorf("long names %d and %d bytes, equal %v", len(a), len(b), a == b)
	}
	// Pairs that joined by dashes made one name.
	for _, pair := range [][2]string{
		{serviceStatusName(announce.ServiceKey{Namespace: "team-a", Name: "web"}, "n1"),
			serviceStatusName(announce.ServiceKey{Namespace: "team", Name: "a-web"}, "n1")},
		{serviceStatusName(announce.ServiceKey{Namespace: "app", Name: "web"}, "worker-1"),
			serviceStatusName(announce.ServiceKey{Namespace: "app", Name: "web-worker"}, "1")},
		{sessionStateName("rack-a", "tor"), sessionStateName("rack", "a-tor")},
		{sessionStateName("a.b", "c"), sessionStateName("a", "b.c")},
		{sessionStateName(strings.Repeat("n", 250), "p1"), sessionStateName(strings.Repeat("n", 250), "p2")},
	} {
		if pair[0] == pair[1] {
			t.Errorf("two objects named %q", pair[0])
		}
	}
	for _, name := range []string{a, b, sessionStateName("n1", "r"), sessionStateName(strings.Repeat("n.", 125), "p")} {
		if errs := validation.IsDNS1123Subdomain(name); len(errs) > 0 {
			t.Errorf("%q: %v", name, errs)
		}
	}
}

// fakeServiceIPs answers for announcements as the planner does, from a
// map of each Service's IPs.
type fakeServiceIPs map[announce.ServiceKey][]netip.Addr

// set records k's IPs (none: gone) and returns k, as the planner actor
// passes a changed Service on.
func (f fakeServiceIPs) set(k announce.ServiceKey, ips []netip.Addr) []announce.ServiceKey {
	if len(ips) == 0 {
		delete(f, k)
	} else {
		f[k] = ips
	}
	return []announce.ServiceKey{k}
}

func (f fakeServiceIPs) ServiceIPs(k announce.ServiceKey) []netip.Addr { return f[k] }

func (f fakeServiceIPs) ServicesIn(dst []announce.ServiceKey, p netip.Prefix) []announce.ServiceKey {
	for k, ips := range f {
		if slices.ContainsFunc(ips, p.Contains) {
			dst = append(dst, k)
		}
	}
	return dst
}

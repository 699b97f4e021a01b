package announce

import (
	"net/netip"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestQueries covers the accessors the shell and `kubectl herald` read.
func TestQueries(t *testing.T) {
	p := New("n1")
	if c := p.SetConfig(compileYAML(t, baseYAML+allAds+emptyL2Ad)); !c.Empty() {
		t.Errorf("SetConfig with no node or Service: %+v, want nothing", c)
	}
	p.SetNode(node("n1"))
	p.SetNode(node("n2"))
	p.SetSpeakers(speakers("n1", "n2"))
	p.SetService(svc("a", "10.0.1.1", "fd00:1::1"))

	if got, want := p.Sessions("n1"), []string{"ebgp", "ibgp"}; !cmp.Equal(got, want) {
		t.Errorf("Sessions(n1) = %v, want %v", got, want)
	}
	if got := p.Sessions("n2"); got != nil {
		t.Errorf("Sessions(n2) = %v: n2 is not planned by New(n1)", got)
	}
	if got := p.Routes("n1", "ibgp"); len(got) != 2 || got[0].String() != "10.0.1.1/32" || got[1].String() != "fd00:1::1/128" {
		t.Errorf("Routes(n1, ibgp) = %v", got)
	}
	if got := p.Routes("n1", "nobody"); got != nil {
		t.Errorf("Routes to an unknown peer = %v", got)
	}
	// By sha256(node#ip) n2 is first for 10.0.1.1 and fd00:1::1.
	if got := p.Owner(ip("::ffff:10.0.1.1")); got.Node != "n2" || got.Interfaces != nil {
		t.Errorf("Owner(::ffff:10.0.1.1) = %+v, want n2 on any interface", got)
	}
	if got := p.Owner(ip("10.0.1.9")); got.Node != "" {
		t.Errorf("Owner of an IP no Service holds = %+v", got)
	}
	if _, ok := p.L2(ip("10.0.1.9")); ok {
		t.Error("L2 of an IP no Service holds: ok")
	}
	if Local.String() != "Local" || Cluster.String() != "Cluster" {
		t.Errorf("TrafficPolicy strings %q %q", Local, Cluster)
	}
	if got := (LargeCommunity{1, 2, 3}).String(); got != "large:1:2:3" {
		t.Errorf("LargeCommunity.String = %q", got)
	}
	if got := (ServiceKey{"ns", "web"}).String(); got != "ns/web" {
		t.Errorf("ServiceKey.String = %q", got)
	}
	// The Services' IPs, as the speaker's announcements read them.
	p.SetService(svc("b", "10.0.1.2", "10.0.1.1"))
	p.SetService(svc("c", "10.0.2.1"))
	a, b := ServiceKey{"default", "a"}, ServiceKey{"default", "b"}
	if got, want := p.ServiceIPs(b), ips("10.0.1.1", "10.0.1.2"); !cmp.Equal(got, want, cmp.Comparer(func(x, y netip.Addr) bool { return x == y })) {
		t.Errorf("ServiceIPs(b) = %v, want %v (sorted)", got, want)
	}
	if got := p.ServiceIPs(ServiceKey{"default", "missing"}); got != nil {
		t.Errorf("ServiceIPs of an unknown Service = %v", got)
	}
	for _, tc := range []struct {
		prefix string
		want   []ServiceKey
	}{
		{"10.0.1.1/32", []ServiceKey{a, b}},
		{"10.0.1.2/32", []ServiceKey{b}},
		{"10.0.1.0/30", []ServiceKey{a, b, b}}, // one per (Service, IP)
		{"fd00:1::/64", []ServiceKey{a}},
		{"10.0.9.0/24", nil},
		// Fewer addresses than IPs known (4): looked up one by one.
		{"10.0.1.0/31", []ServiceKey{a, b}},
		{"10.0.1.2/31", []ServiceKey{b}},
		{"fd00:1::1/127", []ServiceKey{a}}, // not masked
		{"10.0.2.0/31", []ServiceKey{{"default", "c"}}},
		{"10.0.2.2/31", nil},
	} {
		got := p.ServicesIn(nil, netip.MustParsePrefix(tc.prefix))
		slices.SortFunc(got, ServiceKey.Compare)
		if !cmp.Equal(got, tc.want) {
			t.Errorf("ServicesIn(%s) = %v, want %v", tc.prefix, got, tc.want)
		}
	}
	p.DeleteService(b)
	if got := p.ServicesIn(nil, netip.MustParsePrefix("10.0.1.2/32")); got != nil {
		t.Errorf("ServicesIn after b went = %v", got)
	}
	if c := p.DeleteService(ServiceKey{"default", "missing"}); !c.Empty() {
		t.Errorf("DeleteService of an unknown Service: %+v", c)
	}
	if c := p.DeleteNode("n9"); !c.Empty() {
		t.Errorf("DeleteNode of an unknown node: %+v", c)
	}
}

// TestEndpointServes: serving decides when it is set; when it is not, an
// endpoint serves unless it is explicitly not ready (the EndpointSlice
// API's rule, and MetalLB's).
func TestEndpointServes(t *testing.T) {
	for _, tc := range []struct {
		ready, serving Condition
		want           bool
	}{
		{Unset, Unset, true},
		{True, Unset, true},
		{False, Unset, false},
		{False, True, true}, // terminating, still serving
		{False, False, false},
		{Unset, False, false},
		{True, False, false},
		{True, True, true},
		{Unset, True, true},
	} {
		if got := (Endpoint{Ready: tc.ready, Serving: tc.serving}).Serves(); got != tc.want {
			t.Errorf("ready %v serving %v: Serves() = %v, want %v", tc.ready, tc.serving, got, tc.want)
		}
	}
}

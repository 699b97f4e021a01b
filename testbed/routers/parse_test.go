package routers

import (
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// The parsers run on real router output captured by TestCaptureFixtures
// (lab ID 7): no root needed.

func fixture(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

var (
	n1v4   = netip.MustParseAddr("10.240.7.11")
	n1v6   = netip.MustParseAddr("fd00:240:7::11")
	n2v4   = netip.MustParseAddr("10.240.7.12")
	rtrv4  = netip.MustParseAddr("10.240.7.1")
	clv4   = netip.MustParseAddr("10.240.7.100")
	svc1   = netip.MustParsePrefix("10.242.7.1/32")
	svc2   = netip.MustParsePrefix("10.242.7.2/32")
	svc6   = netip.MustParsePrefix("fd00:242:7::1/128")
	ebgpP1 = Path{Peer: n1v4, NextHop: n1v4, ASPath: []uint32{64513, 65001},
		Communities: []string{"65000:100", "65000:200"}, LargeCommunities: []string{"65000:1:2", "65000:3:4"},
		MED: 7, HasMED: true, Origin: "IGP", Best: true}
)

func TestParseFRR(t *testing.T) {
	ps, err := parseFRRTable(fixture(t, "frr-table-v4.json"))
	if err != nil {
		t.Fatal(err)
	}
	if want := []netip.Prefix{svc1, svc2}; !reflect.DeepEqual(ps, want) {
		t.Errorf("table prefixes = %v, want %v", ps, want)
	}

	out := fixture(t, "frr-prefix-ebgp.json") + fixture(t, "frr-prefix-ibgp.json") + fixture(t, "frr-prefix-v6.json")
	rs, err := parseFRRDetails(out)
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 3 {
		t.Fatalf("got %d routes, want 3: %+v", len(rs), rs)
	}
	want := []Route{
		{Prefix: svc1, NextHops: []netip.Addr{n1v4}, Paths: []Path{ebgpP1}},
		{Prefix: svc2, NextHops: []netip.Addr{n2v4}, Paths: []Path{{Peer: n2v4, NextHop: n2v4,
			Communities: []string{"65000:300"}, LocalPref: 250, HasLocalPref: true, Origin: "IGP", Best: true}}},
		{Prefix: svc6, NextHops: []netip.Addr{n1v6}, Paths: []Path{{Peer: n1v6, NextHop: n1v6, ASPath: []uint32{64513},
			Communities: []string{"65000:600"}, Origin: "IGP", Best: true}}},
	}
	for i := range want {
		got := rs[i]
		// FRR reports MED 0 when none was sent; only compare when sent.
		for j := range got.Paths {
			if !want[i].Paths[j].HasMED {
				got.Paths[j].MED, got.Paths[j].HasMED = 0, false
			}
		}
		if !reflect.DeepEqual(got, want[i]) {
			t.Errorf("route %d:\n got %+v\nwant %+v", i, got, want[i])
		}
	}

	if s, err := parseFRRNeighbor(fixture(t, "frr-neighbor.json"), n1v4); err != nil || s != "Established" {
		t.Errorf("neighbor state = %q, %v; want Established", s, err)
	}
	if _, err := parseFRRNeighbor(fixture(t, "frr-neighbor.json"), n2v4); err == nil {
		t.Error("state of a neighbor not in the output: no error")
	}
	if r, err := parseFRRReceived(fixture(t, "frr-neighbor.json"), n1v4); err != nil || r != (Received{Messages: 1, Routes: -1}) {
		t.Errorf("received from the neighbor = %+v, %v; want 1 UPDATE message", r, err)
	}
	if _, err := parseFRRReceived(fixture(t, "frr-neighbor.json"), n2v4); err == nil {
		t.Error("counts of a neighbor not in the output: no error")
	}
	if s, err := parseFRRBFD(fixture(t, "frr-bfd-peers.json"), clv4); err != nil || s != "up" {
		t.Errorf("BFD state = %q, %v; want up", s, err)
	}
	if _, err := parseFRRBFD(fixture(t, "frr-bfd-peers.json"), n1v4); err == nil {
		t.Error("BFD state of a peer without a session: no error")
	}
}

func TestParseBIRD(t *testing.T) {
	peers := map[string]netip.Addr{"peer1": n1v4, "peer2": n1v6, "peer3": n2v4, "peer4": rtrv4}
	rs, err := parseBIRDRoutes(fixture(t, "bird-routes-v4.txt"), peers)
	if err != nil {
		t.Fatal(err)
	}
	viaFRR := ebgpP1
	viaFRR.Peer, viaFRR.Best, viaFRR.LocalPref, viaFRR.HasLocalPref = rtrv4, false, 100, true
	best := ebgpP1
	best.LocalPref, best.HasLocalPref = 100, true
	want := []Route{
		{Prefix: svc2, NextHops: []netip.Addr{n2v4}, Paths: []Path{{Peer: n2v4, NextHop: n2v4,
			Communities: []string{"65000:300"}, LocalPref: 250, HasLocalPref: true, Origin: "IGP", Best: true}}},
		{Prefix: svc1, NextHops: []netip.Addr{n1v4}, Paths: []Path{best, viaFRR}},
	}
	if !reflect.DeepEqual(rs, want) {
		t.Errorf("bird v4 routes:\n got %+v\nwant %+v", rs, want)
	}
	rs, err = parseBIRDRoutes(fixture(t, "bird-routes-v6.txt"), peers)
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 1 || rs[0].Prefix != svc6 || len(rs[0].Paths) != 1 || rs[0].Paths[0].NextHop != n1v6 ||
		!reflect.DeepEqual(rs[0].Paths[0].Communities, []string{"65000:600"}) || rs[0].Paths[0].Peer != n1v6 {
		t.Errorf("bird v6 routes: %+v", rs)
	}

	if s, err := parseBIRDProtocolState(fixture(t, "bird-protocol.txt")); err != nil || s != "Established" {
		t.Errorf("protocol state = %q, %v; want Established", s, err)
	}
	if r, err := parseBIRDReceived(fixture(t, "bird-protocol.txt")); err != nil || r != (Received{Messages: -1, Routes: 1}) {
		t.Errorf("received from the neighbor = %+v, %v; want 1 route", r, err)
	}
	two := strings.Replace(fixture(t, "bird-protocol.txt"), "Import updates:              1", "Import updates:              3", 1) +
		"  Channel ipv6\n    Route change stats:     received   rejected   filtered    ignored   accepted\n      Import updates:              4          0          0          0          4\n"
	if r, err := parseBIRDReceived(two); err != nil || r.Routes != 7 {
		t.Errorf("received over two channels = %+v, %v; want 3+4 routes", r, err)
	}
	if _, err := parseBIRDReceived("BGP state: Established\n"); err == nil {
		t.Error("counts from output without them: no error")
	}
	if s, err := parseBIRDBFD(fixture(t, "bird-bfd.txt"), rtrv4); err != nil || s != "up" {
		t.Errorf("BFD state = %q, %v; want up", s, err)
	}
	if _, err := parseBIRDBFD(fixture(t, "bird-bfd.txt"), n1v4); err == nil {
		t.Error("BFD state of a peer without a session: no error")
	}
}

func TestBIRDTuples(t *testing.T) {
	for in, want := range map[string][]string{
		"(65000,100) (65000,200)":     {"65000:100", "65000:200"},
		"(65000, 1, 2) (65000, 3, 4)": {"65000:1:2", "65000:3:4"},
		"":                            nil,
	} {
		if got := birdTuples(in); !reflect.DeepEqual(got, want) {
			t.Errorf("birdTuples(%q) = %v, want %v", in, got, want)
		}
	}
}

func TestParseFRRNeighborDetail(t *testing.T) {
	n, err := parseFRRNeighborDetail(fixture(t, "frr-neighbor.json"), "10.240.7.11")
	if err != nil {
		t.Fatal(err)
	}
	n.Raw = ""
	want := FRRNeighbor{State: "Established", UpdatesReceived: 1, UpdatesSent: 2, KeepalivesReceived: 1,
		PrefixesAccepted: 1, ConnectionsEstablished: 1, LastResetDueTo: "Waiting for peer OPEN",
		HoldTimeMsecs: 90000, KeepaliveMsecs: 30000, RemoteAS: 64513}
	if !reflect.DeepEqual(n, want) {
		t.Errorf("got  %+v\nwant %+v", n, want)
	}
	if _, err := parseFRRNeighborDetail(fixture(t, "frr-neighbor.json"), "10.240.7.99"); err == nil {
		t.Error("a neighbor FRR does not have: no error")
	}
}

func TestParseBIRDProtocol(t *testing.T) {
	p := parseBIRDProtocol(fixture(t, "bird-protocol.txt"), "peer1")
	p.Raw = ""
	want := BIRDProtocol{State: "Established", Info: "Established",
		LocalCaps:    []string{"Multiprotocol", "Route refresh", "4-octet AS numbers", "Enhanced refresh"},
		NeighborCaps: []string{"Multiprotocol", "Route refresh", "Extended next hop", "4-octet AS numbers", "Hostname: vm"}}
	if !reflect.DeepEqual(p, want) {
		t.Errorf("got  %+v\nwant %+v", p, want)
	}
	if p.ExtendedMessage() {
		t.Error("extended messages negotiated, but BIRD did not offer them")
	}
	failed := "peer2      BGP        ---        start  2026-11-21 21:04:26  Idle          Received: Bad peer AS\n" +
		"  BGP state:          Idle\n    Neighbor address: 10.240.7.12\n    Last error:       Received: Bad peer AS\n"
	if p := parseBIRDProtocol(failed, "peer2"); p.State != "Idle" || p.Info != "Idle Received: Bad peer AS" || p.LastError != "Received: Bad peer AS" {
		t.Errorf("a failed session: %+v", p)
	}
}

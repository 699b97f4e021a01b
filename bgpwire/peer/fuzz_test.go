package peer

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"pgregory.net/rapid"

	"github.com/heraldlb/herald/bgpwire"
	"github.com/heraldlb/herald/bgpwire/fsm"
)

// FuzzPeer runs the simulation of sim_test.go on arbitrary inputs: any
// stream of events and router messages keeps the Peer's invariants (no
// UPDATE before a session is up, End-of-RIB once per session and family,
// the router's view equal to the desired set whenever the queue drains,
// timers and connections well formed), and never panics.
func FuzzPeer(f *testing.F) {
	for _, name := range slices.Sorted(maps.Keys(simSeeds)) {
		f.Add(simSeeds[name])
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := newSim(data)
		if err != nil {
			t.Skip(err) // a configuration the generator should not build
		}
		if err := s.run(); err != nil {
			t.Fatal(err)
		}
	})
}

// seed writes sim inputs op by op, in the encoding sim.op reads.
type seed []byte

// Route bytes: even picks from simV4, odd from simV6; the second byte an
// attribute set.
func (b seed) routes(rs ...byte) seed { return append(b, rs...) }
func (b seed) setRoutes(big byte, rs ...byte) seed {
	b = append(b, 0, byte(len(rs)/2))
	b = b.routes(rs...)
	if big == 0 {
		return append(b, 1)
	}
	return append(b, 0, big) // big*4 more host routes
}
func (b seed) change(add, withdraw []byte) seed {
	b = append(append(b, 1, byte(len(add)/2)), add...)
	return append(append(b, byte(len(withdraw)/2)), withdraw...)
}
func (b seed) dial(ok bool, local byte) seed {
	if !ok {
		return append(b, 3, 0)
	}
	return append(b, 3, 1+4*local)
}
func (b seed) accept(local byte) seed       { return append(b, 4, local) }
func (b seed) open(conn, variant byte) seed { return append(b, 5, conn, variant, 0) }
func (b seed) keepalive(conn byte) seed     { return append(b, 5, conn, 0) }
func (b seed) update(conn, which byte) seed { return append(b, 8, conn, which, 0) }
func (b seed) refresh(conn, f byte) seed    { return append(b, 9, conn, f, 0) }
func (b seed) notify(conn, code byte) seed  { return append(b, 10, conn, code-1, 2, 0, 0) }
func (b seed) closed(conn byte) seed        { return append(b, 11, conn) }
func (b seed) toggleBlock(conn byte) seed   { return append(b, 12, conn) }
func (b seed) liveTimer(which byte) seed    { return append(b, 2, which*5, 0) }
func (b seed) staleTimer() seed             { return append(b, 2, 4) }
func (b seed) junk(conn byte, n byte) seed {
	b = append(b, 14, conn, n)
	for i := range n {
		b = append(b, i*37)
	}
	return append(b, 1, 0)
}

// simSeeds bring sessions up in several shapes and then change routes, so
// that mutations start from interesting places. TestSimSeeds checks each
// does what its name says.
var simSeeds = map[string][]byte{
	"up_change_withdraw": seed{0}.setRoutes(0, 0, 0, 2, 1, 3, 2).dial(true, 0).open(0, 0).keepalive(0).
		change([]byte{4, 3}, []byte{0, 0}),
	"dual_stack_ibgp_big_table_blocked": seed{0x12}.setRoutes(255, 0, 2, 1, 0).dial(true, 4).open(0, 0).keepalive(0).
		toggleBlock(0).change([]byte{6, 1, 5, 4}, nil).change(nil, []byte{1, 0}).toggleBlock(0),
	"passive_refresh_notification": seed{1}.accept(0).open(0, 4).keepalive(0).setRoutes(0, 0, 1, 1, 1).
		refresh(0, 0).notify(0, 6),
	"collision": seed{0}.dial(true, 0).accept(0).open(0, 0).open(1, 0).keepalive(0).setRoutes(0, 2, 0),
	"timers_restarts": seed{0}.dial(false, 0).liveTimer(0).dial(true, 0).open(0, 0).keepalive(0).
		staleTimer().closed(0).liveTimer(0).dial(true, 1).open(0, 16).keepalive(0),
	"malformed_updates_junk": seed{0}.dial(true, 0).open(0, 0).keepalive(0).setRoutes(0, 0, 0).
		update(0, 1).update(0, 2).update(0, 6).junk(0, 30).update(0, 3),
}

// The same simulation with rapid's generated and shrunk inputs; it also
// shows that the generator brings sessions up and checks tables, so the
// fuzz target is not vacuous.
func TestPropertySimulation(t *testing.T) {
	var sessions, checks, updates int
	defer func() {
		if sessions == 0 || checks == 0 || updates == 0 {
			t.Errorf("%d sessions, %d table checks, %d UPDATEs: the simulation no longer reaches Established with routes", sessions, checks, updates)
		}
	}()
	rapid.Check(t, func(t *rapid.T) {
		data := rapid.SliceOfN(rapid.Byte(), 64, 1500).Draw(t, "input")
		s, err := newSim(data)
		if err != nil {
			t.Skip(err)
		}
		if err := s.run(); err != nil {
			t.Fatal(err)
		}
		sessions += s.sessions
		checks += s.tableChecks
		updates += s.updates
	})
	t.Logf("%d sessions, %d table checks, %d UPDATEs", sessions, checks, updates)
}

// Each seed reaches what its name says; the committed corpus in
// testdata/fuzz/FuzzPeer is these seeds (TestSeedCorpus).
func TestSimSeeds(t *testing.T) {
	want := map[string]func(s *sim, st Status) bool{
		"up_change_withdraw": func(s *sim, st Status) bool {
			return st.State == fsm.Established && st.UpdatesSent >= 3 && st.Announced[IPv4] == 2
		},
		"dual_stack_ibgp_big_table_blocked": func(s *sim, st Status) bool {
			return st.Session.IBGP && st.Session.Families[IPv6] && st.Announced[IPv4] == 1022 && st.Announced[IPv6] == 1
		},
		"passive_refresh_notification": func(s *sim, st Status) bool {
			return s.sessions == 1 && st.MessagesIn[bgpwire.TypeRouteRefresh] == 1 && st.LastReceived.Code == bgpwire.CodeCease
		},
		"collision": func(s *sim, st Status) bool {
			return st.Session.Slot == Incoming && st.LastSent.Subcode == bgpwire.SubcodeConnectionCollision
		},
		"timers_restarts": func(s *sim, st Status) bool {
			return s.sessions == 2 && st.State == fsm.Established && st.Failures == 2
		},
		"malformed_updates_junk": func(s *sim, st Status) bool {
			return s.sessions == 1 && st.State == fsm.Idle && st.LastSent.Code != 0 && st.MessagesIn[bgpwire.TypeUpdate] >= 3
		},
	}
	for name, data := range simSeeds {
		s, err := newSim(data)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if err := s.run(); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if st := s.p.Status(); !want[name](s, st) {
			t.Errorf("%s does not do what its name says: %d sessions, %+v", name, s.sessions, st)
		}
	}
}

// The committed corpus is the seeds, so that plain go test runs them and a
// change of the encoding shows.
func TestSeedCorpus(t *testing.T) {
	for name, data := range simSeeds {
		file := filepath.Join("testdata/fuzz/FuzzPeer", name)
		want := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", data)
		if *update {
			if err := os.WriteFile(file, []byte(want), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := os.ReadFile(file)
		if err != nil || string(got) != want {
			t.Errorf("%s is not the seed (go test -run TestSeedCorpus -update): %v", file, err)
		}
	}
}

// Nothing the Peer keeps or reports points into the bytes the shell
// passed in: the shell reuses its read buffer after every step.
func TestReceivedBytesAreNotKept(t *testing.T) {
	p, _ := up(t, baseConfig(), nil, baseLocal, caps4)
	conn := p.est.conn
	// A malformed UPDATE (COMMUNITIES of 3 bytes, treat-as-withdraw), then
	// one whose unrecognized well-known attribute resets the session: both
	// errors carry data from the message.
	bad := []string{
		"0000 001a 40010100 40020602010000fc01 400304c0000201 c00803000001 180a0000",
		"0000 0017 40010100 40020602010000fc01 400304c0000201 406300 180a0000",
	}
	var reports []ReportInfo
	for _, body := range bad {
		msg := routerUpdateFrom(body)
		for _, a := range p.Step(Event{Kind: Received, Conn: conn, Data: msg}) {
			if a.Kind == Report {
				reports = append(reports, a.Report)
			}
		}
		before := p.Status().LastError.Error()
		for i := range msg {
			msg[i] = 0xee // the shell reuses its buffer
		}
		if after := p.Status().LastError.Error(); after != before {
			t.Errorf("LastError changed with the shell's buffer:\n%s\n%s", before, after)
		}
	}
	for _, r := range reports {
		var ne *bgpwire.NotificationError
		if errors.As(r.Err, &ne) && bytes.Contains(ne.Data, []byte{0xee, 0xee}) {
			t.Errorf("report %s keeps the shell's bytes: %x", r.Kind, ne.Data)
		}
		if bytes.Contains(r.Notification.Data, []byte{0xee, 0xee}) {
			t.Errorf("report %s keeps the shell's bytes: %x", r.Kind, r.Notification.Data)
		}
	}
	// The two errors, with the attribute each is about as data.
	var kinds []string
	for _, r := range reports {
		kinds = append(kinds, r.Kind.String())
	}
	if got := strings.Join(kinds, " "); got != "MalformedUpdate NotificationSent" {
		t.Fatalf("reports %s", got)
	}
	var ne *bgpwire.NotificationError
	if !errors.As(reports[0].Err, &ne) || len(ne.Data) != 6 || ne.Attr != bgpwire.AttrCommunities {
		t.Fatalf("malformed UPDATE report %v", reports[0].Err)
	}
	if len(reports[1].Notification.Data) != 3 {
		t.Fatalf("NOTIFICATION %s", reports[1].Notification)
	}
}

func routerUpdateFrom(body string) []byte {
	b, _ := hex.DecodeString(strings.ReplaceAll(body, " ", ""))
	msg := make([]byte, bgpwire.HeaderLen, bgpwire.HeaderLen+len(b))
	for i := range 16 {
		msg[i] = 0xff
	}
	msg[16], msg[17] = byte((bgpwire.HeaderLen+len(b))>>8), byte(bgpwire.HeaderLen+len(b))
	msg[18] = byte(bgpwire.TypeUpdate)
	return append(msg, b...)
}

package bfd

import (
	"strings"
	"testing"
)

// The tables below are RFC 5880 §6.8.6 (reception), §6.8.4 (detection),
// §6.8.5 (Echo) and §6.8.16 (administrative control) reduced to "what
// happens", written from the RFC independently of the code. Rows are the
// states (reached by cellSetup with cellConfig), columns the events of
// cellEvents, in this order:
//
//	En    Enable
//	Dis   Disable (AdministrativelyDown)
//	RAD   a valid packet from the peer in AdminDown
//	RDn   ... in Down
//	RIn   ... in Init
//	RUp   ... in Up
//	RPo   ... in the state the peer has at this point, with P set
//	RBd   a packet with a Your Discriminator of another session (discarded)
//	DtX   expiry of the Detection Timer (the running token, if any)
//	TxX   expiry of the transmit timer
//	EdX   expiry of the Echo detection timer
//	Ech   an Echo packet came back
//	Stl   an expiry with a token that is not running
//	Rcf   a new profile (200 ms intervals)
var cellColumns = []string{"En", "Dis", "RAD", "RDn", "RIn", "RUp", "RPo", "RBd", "DtX", "TxX", "EdX", "Ech", "Stl", "Rcf"}

// nextState: "." stays.
var nextState = map[State]string{
	//          En   Dis  RAD  RDn  RIn  RUp  RPo  RBd  DtX  TxX  EdX  Ech  Stl  Rcf
	AdminDown: "Dn   .    .    .    .    .    .    .    .    .    .    .    .    .",
	Down:      ".    AD   .    In   Up   .    In   .    .    .    .    .    .    .",
	Init:      ".    AD   Dn   .    Up   Up   Up   .    Dn   .    .    .    .    .",
	Up:        ".    AD   Dn   Dn   .    .    .    .    Dn   .    Dn   .    .    .",
}

// diagAfter is the local diagnostic after the cell: 0 None, 1 Control
// Detection Time Expired, 2 Echo Function Failed, 3 Neighbor Signaled
// Session Down, 7 Administratively Down.
var diagAfter = map[State]string{
	//          En   Dis  RAD  RDn  RIn  RUp  RPo  RBd  DtX  TxX  EdX  Ech  Stl  Rcf
	AdminDown: "0    7    7    7    7    7    7    7    7    7    7    7    7    7",
	Down:      "0    7    0    0    0    0    0    0    0    0    0    0    0    0",
	Init:      "0    7    3    0    0    0    0    0    1    0    0    0    0    0",
	Up:        "0    7    3    3    0    0    0    0    1    0    2    0    0    0",
}

// reported is what the cell reports to clients: U SessionUp, or the
// DownCause of SessionDown: t detection time, e echo, n neighbor down,
// a neighbor AdminDown, l local AdminDown. "." nothing.
var reported = map[State]string{
	//          En   Dis  RAD  RDn  RIn  RUp  RPo  RBd  DtX  TxX  EdX  Ech  Stl  Rcf
	AdminDown: ".    .    .    .    .    .    .    .    .    .    .    .    .    .",
	Down:      ".    .    .    .    U    .    .    .    .    .    .    .    .    .",
	Init:      ".    .    .    .    U    U    U    .    .    .    .    .    .    .",
	Up:        ".    l    a    n    .    .    .    .    t    .    e    .    .    .",
}

// sends is whether a Control packet leaves in the cell: "F" a Final, "S"
// any other packet, "." none. A packet goes out on a state or diagnostic
// change (§6.8.7 SHOULD), on a Poll (§6.8.7 MUST), and on the periodic
// timer (AdminDown included, §6.8.16). A packet in AdminDown is discarded
// before its Poll is answered (§6.8.6).
var sends = map[State]string{
	//          En   Dis  RAD  RDn  RIn  RUp  RPo  RBd  DtX  TxX  EdX  Ech  Stl  Rcf
	AdminDown: "S    .    .    .    .    .    .    .    .    S    .    .    .    .",
	Down:      ".    S    .    S    S    .    F    .    .    S    .    .    .    .",
	Init:      ".    S    S    .    S    S    F    .    S    S    .    .    .    .",
	Up:        ".    S    S    S    .    .    F    .    S    S    S    .    .    .",
}

var stateAbbrev = map[string]State{"AD": AdminDown, "Dn": Down, "In": Init, "Up": Up}

// cellConfig runs Echo, so that the Echo timers exist in Up.
func cellConfig() Config {
	cfg := baseConfig()
	cfg.EchoCapable, cfg.Profile.EchoMode = true, true
	return cfg
}

// peer builds the packet the peer sends, encoded and decoded.
func peer(t testing.TB, p Packet) Event {
	t.Helper()
	if p.MyDiscr == 0 {
		p.MyDiscr = remoteDiscr
	}
	if p.DetectMult == 0 {
		p.DetectMult = 3
	}
	if p.DesiredMinTx == 0 {
		p.DesiredMinTx, p.RequiredMinRx = 100_000, 100_000
	}
	raw, err := AppendPacket(nil, &p)
	if err != nil {
		t.Fatal(err)
	}
	var got Packet
	if err := Decode(raw, &got); err != nil {
		t.Fatalf("peer packet %s does not decode: %v", p.String(), err)
	}
	return Event{Kind: Received, Packet: &got, Raw: raw}
}

// cellSetup drives a fresh machine to each state. The peer advertises Echo
// reception so that Echo runs in Up.
var cellSetup = map[State][]Packet{
	Down: nil,
	Init: {{State: Down}},
	Up:   {{State: Down}, {State: Init, YourDiscr: localDiscr, RequiredMinEchoRx: 50_000}},
}

func setupCell(t *testing.T, s State) *Machine {
	t.Helper()
	m, err := New(cellConfig())
	if err != nil {
		t.Fatal(err)
	}
	m.Step(Event{Kind: Enable})
	if s == AdminDown {
		m.Step(Event{Kind: Disable})
	}
	for _, p := range cellSetup[s] {
		m.Step(peer(t, p))
	}
	if m.State() != s {
		t.Fatalf("setup of %s ended in %s", s, m.State())
	}
	return m
}

// peerStateFor is the state a peer that follows the protocol has when the
// local session is in s (the RPo column's packet).
var peerStateFor = map[State]State{AdminDown: Down, Down: Down, Init: Init, Up: Up}

func cellEvent(t *testing.T, m *Machine, s State, col string) Event {
	rp := func(st State) Event {
		return peer(t, Packet{State: st, YourDiscr: localDiscr, RequiredMinEchoRx: 50_000})
	}
	switch col {
	case "En":
		return Event{Kind: Enable}
	case "Dis":
		return Event{Kind: Disable}
	case "RAD":
		return rp(AdminDown)
	case "RDn":
		return rp(Down)
	case "RIn":
		return rp(Init)
	case "RUp":
		return rp(Up)
	case "RPo":
		ev := peer(t, Packet{State: peerStateFor[s], Poll: true, YourDiscr: localDiscr, RequiredMinEchoRx: 50_000})
		return ev
	case "RBd":
		return peer(t, Packet{State: Up, YourDiscr: localDiscr + 7})
	case "DtX":
		return Event{Kind: TimerExpired, Timer: DetectTimer, Token: m.Token(DetectTimer)}
	case "TxX":
		return Event{Kind: TimerExpired, Timer: TransmitTimer, Token: m.Token(TransmitTimer)}
	case "EdX":
		return Event{Kind: TimerExpired, Timer: EchoDetectTimer, Token: m.Token(EchoDetectTimer)}
	case "Ech":
		return Event{Kind: EchoReceived}
	case "Stl":
		return Event{Kind: TimerExpired, Timer: DetectTimer, Token: 1 << 40}
	case "Rcf":
		p := m.Config().Profile
		p.TransmitInterval, p.ReceiveInterval = 200, 200
		return Event{Kind: Reconfigure, Profile: p}
	}
	t.Fatalf("no event for column %s", col)
	return Event{}
}

func TestEveryStateEventCell(t *testing.T) {
	for _, s := range States() {
		next := strings.Fields(nextState[s])
		diags := strings.Fields(diagAfter[s])
		reps := strings.Fields(reported[s])
		snd := strings.Fields(sends[s])
		for _, row := range [][]string{next, diags, reps, snd} {
			if len(row) != len(cellColumns) {
				t.Fatalf("%s: a table row has %d columns, want %d", s, len(row), len(cellColumns))
			}
		}
		for i, col := range cellColumns {
			m := setupCell(t, s)
			before := m.Counters()
			acts := m.Step(cellEvent(t, m, s, col))
			after := m.Counters()

			want := s
			if next[i] != "." {
				want = stateAbbrev[next[i]]
			}
			if m.State() != want {
				t.Errorf("%s x %s: state %s, want %s", s, col, m.State(), want)
			}
			if uint8(after.LocalDiag) != atoiDigit(diags[i]) {
				t.Errorf("%s x %s: diag %s (%d), want %s", s, col, after.LocalDiag, after.LocalDiag, diags[i])
			}
			gotRep := "."
			for _, a := range acts {
				switch a.Kind {
				case SessionUp:
					gotRep = "U"
				case SessionDown:
					gotRep = map[DownCause]string{CauseDetectionTimeExpired: "t", CauseEchoFailed: "e",
						CauseNeighborDown: "n", CauseNeighborAdminDown: "a", CauseAdminDown: "l"}[a.Cause]
				}
			}
			if gotRep != reps[i] {
				t.Errorf("%s x %s: reported %q, want %q\n%s", s, col, gotRep, reps[i], FormatActions(acts))
			}
			gotSend := "."
			for _, a := range acts {
				if a.Kind == SendControl {
					if gotSend != "." {
						t.Errorf("%s x %s: two packets in one step", s, col)
					}
					gotSend = "S"
					if a.Packet.Final {
						gotSend = "F"
					}
					if a.Packet.Poll && a.Packet.Final {
						t.Errorf("%s x %s: P and F together", s, col)
					}
					if a.Packet.State != m.State() {
						t.Errorf("%s x %s: sent state %s in %s", s, col, a.Packet.State, m.State())
					}
				}
			}
			if gotSend != snd[i] {
				t.Errorf("%s x %s: sends %q, want %q\n%s", s, col, gotSend, snd[i], FormatActions(acts))
			}
			// Flaps count exactly the Up->Down transitions.
			if wantFlaps := before.Flaps + b2u(s == Up && want != Up); after.Flaps != wantFlaps {
				t.Errorf("%s x %s: flaps %d, want %d", s, col, after.Flaps, wantFlaps)
			}
			// Echo runs exactly in Up (the peer accepts it throughout).
			if after.EchoActive != (m.State() == Up) {
				t.Errorf("%s x %s: echo active %v in %s", s, col, after.EchoActive, m.State())
			}
			// A discarded packet is counted by its reason.
			if col == "RBd" && after.Drops.Of(DropNoSession) != before.Drops.Of(DropNoSession)+1 {
				t.Errorf("%s x %s: drop not counted", s, col)
			}
			if col == "Stl" && after.StaleTimers != before.StaleTimers+1 {
				t.Errorf("%s x %s: stale expiry not counted", s, col)
			}
		}
	}
}

func atoiDigit(s string) uint8 { return s[0] - '0' }

func b2u(b bool) uint64 {
	if b {
		return 1
	}
	return 0
}

func TestNamesAreComplete(t *testing.T) {
	for _, k := range EventKinds() {
		if strings.HasPrefix(k.String(), "EventKind(") {
			t.Errorf("event %d has no name", k)
		}
	}
	for k := ActionKind(1); k < numActionKinds; k++ {
		if strings.HasPrefix(k.String(), "ActionKind(") {
			t.Errorf("action %d has no name", k)
		}
	}
	for c := DownCause(1); c < numCauses; c++ {
		if strings.HasPrefix(c.String(), "DownCause(") {
			t.Errorf("cause %d has no name", c)
		}
	}
	for _, tm := range Timers() {
		if strings.HasPrefix(tm.String(), "Timer(") {
			t.Errorf("timer %d has no name", tm)
		}
	}
	for _, r := range DropReasons() {
		if strings.HasPrefix(r.String(), "DropReason(") || r.Err() == nil {
			t.Errorf("drop reason %d has no name or error", r)
		}
		if DropReasonOf(r.Err()) != r {
			t.Errorf("DropReasonOf(%v) = %s, want %s", r.Err(), DropReasonOf(r.Err()), r)
		}
	}
	for d := Diag(0); d <= DiagReverseConcatenatedPathDown; d++ {
		if strings.HasPrefix(d.String(), "Diag(") {
			t.Errorf("diag %d has no name", d)
		}
	}
	if got := State(4).String(); got != "State(4)" {
		t.Errorf("unknown state prints %q", got)
	}
}

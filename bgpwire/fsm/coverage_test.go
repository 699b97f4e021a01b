package fsm

import (
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/heraldlb/herald/bgpwire"
)

// nextState is RFC 4271 section 8.2.2 reduced to "where does the machine
// go", written from the RFC independently of the code: for each state
// (reached by setupPaths with the base config) and each event (with the
// payload of cellEvent), the state after the step. "." means "stays".
// Columns follow EventKinds().
//
// A timer expiry carries the token of the timer's running instance, or 0
// when the timer is not running in that state; the machine drops such an
// expiry. So the RFC rows for the expiry of a timer that cannot be running
// in a state (KeepaliveTimer in OpenSent, HoldTimer in Connect, ...) are
// "." here: only a stale expiry can reach them, and a stale expiry must
// change nothing. runningExpiries covers the timers setupPaths leaves off.
var nextState = map[State]string{
	//                 MS   MSt  AS   MSP  ASP  ASt  CRT  HT   KT   IHT  CRA  TCC  TCF  Open HErr OErr Dump NVE  Notf KA   Upd  UErr SHT  SBl  SPr  USt
	Idle:        "     Con  .    Con  Act  Act  .    .    .    .    .    .    .    .    .    .    .    .    .    .    .    .    .    .    .    .    .",
	Connect:     "     .    Idl  .    .    .    Idl  .    .    .    .    OSn  OSn  Idl  Idl  Idl  Idl  Idl  Idl  Idl  Idl  Idl  Idl  .    .    .    .",
	Active:      "     .    Idl  .    .    .    Idl  .    .    .    .    OSn  OSn  Idl  Idl  Idl  Idl  Idl  Idl  Idl  Idl  Idl  Idl  .    .    .    .",
	OpenSent:    "     .    Idl  .    .    .    Idl  .    Idl  .    .    .    .    Act  OCf  Idl  Idl  Idl  Idl  Idl  Idl  Idl  Idl  .    .    .    .",
	OpenConfirm: "     .    Idl  .    .    .    Idl  .    Idl  .    .    .    .    Idl  Idl  Idl  Idl  Idl  Idl  Idl  Est  Idl  Idl  .    .    .    .",
	Established: "     .    Idl  .    .    .    Idl  .    Idl  .    .    .    .    Idl  Idl  Idl  Idl  Idl  Idl  Idl  .    .    Idl  .    .    .    .",
}

var stateAbbrev = map[string]State{"Idl": Idle, "Con": Connect, "Act": Active, "OSn": OpenSent, "OCf": OpenConfirm, "Est": Established}

// notifies is whether the cell sends a NOTIFICATION, same layout ("N" or ".").
var notifies = map[State]string{
	Idle:        "     .    .    .    .    .    .    .    .    .    .    .    .    .    .    .    .    .    .    .    .    .    .    .    .    .    .",
	Connect:     "     .    .    .    .    .    .    .    .    .    .    .    .    .    .    .    .    .    .    .    .    .    .    .    .    .    .",
	Active:      "     .    .    .    .    .    .    .    .    .    .    .    .    .    .    .    .    .    .    .    .    .    .    .    .    .    .",
	OpenSent:    "     .    N    .    .    .    N    .    N    .    .    .    .    .    .    N    N    N    .    N    N    N    N    .    .    .    .",
	OpenConfirm: "     .    N    .    .    .    N    .    N    .    .    .    .    .    N    N    N    N    .    .    .    N    N    .    .    .    .",
	Established: "     .    N    .    .    .    N    .    N    .    .    .    .    .    N    N    N    N    .    .    .    .    N    .    .    .    .",
}

// cellEvent is the event of kind k for a machine m in the cell's state:
// a timer expiry echoes the token of m's running instance of the timer (0,
// and so dropped, when it is not running).
func cellEvent(m *Machine, k EventKind) Event {
	ev := Event{Kind: k}
	if t := expiredTimer(k); t != 0 {
		ev.Token = m.TimerToken(t)
	}
	switch k {
	case BGPOpen:
		ev.Open = peerOpen()
	case BGPHeaderErr:
		ev.Notification = bgpwire.Notification{Code: bgpwire.CodeMessageHeader, Subcode: 2}
	case BGPOpenMsgErr:
		ev.Notification = bgpwire.Notification{Code: bgpwire.CodeOpenMessage, Subcode: 4}
	case NotifMsgVerErr:
		ev.Notification = bgpwire.Notification{Code: bgpwire.CodeOpenMessage, Subcode: 1}
	case NotifMsg:
		ev.Notification = bgpwire.Notification{Code: bgpwire.CodeCease, Subcode: 2}
	case UpdateMsgErr:
		ev.Notification = bgpwire.Notification{Code: bgpwire.CodeUpdateMessage, Subcode: 1}
	}
	return ev
}

func TestEveryStateEventCell(t *testing.T) {
	kinds := EventKinds()
	for _, s := range States() {
		next := strings.Fields(nextState[s])
		notify := strings.Fields(notifies[s])
		if len(next) != len(kinds) || len(notify) != len(kinds) {
			t.Fatalf("%s: table has %d/%d columns, want %d", s, len(next), len(notify), len(kinds))
		}
		for i, k := range kinds {
			m, err := New(baseConfig())
			if err != nil {
				t.Fatal(err)
			}
			for _, ev := range setupPaths[s] {
				m.Step(ev)
			}
			counterBefore := m.ConnectRetryCounter()
			actions := m.Step(cellEvent(m, k))
			want := s
			if next[i] != "." {
				want = stateAbbrev[next[i]]
			}
			if got := m.State(); got != want {
				t.Errorf("%s x %s: state %s, want %s", s, k, got, want)
			}
			sent := false
			for _, a := range actions {
				if a.Kind == SendNotification {
					sent = true
					// "Any other event" in the three OPEN-exchanged states is
					// an FSM error with the RFC 6608 subcode of the state.
					if a.Notification.Code == bgpwire.CodeFSM {
						wantSub := map[State]uint8{OpenSent: 1, OpenConfirm: 2, Established: 3}[s]
						if a.Notification.Subcode != wantSub {
							t.Errorf("%s x %s: FSM error subcode %d, want %d", s, k, a.Notification.Subcode, wantSub)
						}
					}
				}
			}
			if sent != (notify[i] == "N") {
				t.Errorf("%s x %s: sends NOTIFICATION %v, want %v", s, k, sent, !sent)
			}
			// Every fall to Idle from a state with a connection drops it.
			if want == Idle && s != Idle && s != Active {
				if !hasAction(actions, DropConnection) {
					t.Errorf("%s x %s: to Idle without DropConnection", s, k)
				}
			}
			if s == Idle && m.ConnectRetryCounter() != counterBefore {
				t.Errorf("Idle x %s: counter changed", k)
			}
		}
	}
}

func hasAction(actions []Action, k ActionKind) bool {
	for _, a := range actions {
		if a.Kind == k {
			return true
		}
	}
	return false
}

func TestNamesAreComplete(t *testing.T) {
	for _, k := range EventKinds() {
		if strings.HasPrefix(k.String(), "EventKind(") {
			t.Errorf("event %d has no name", k)
		}
		if back, ok := ParseEventKind(k.String()); !ok || back != k {
			t.Errorf("ParseEventKind(%s) = %v, %v", k, back, ok)
		}
	}
	for k := ActionKind(1); k < numActionKinds; k++ {
		if strings.HasPrefix(k.String(), "ActionKind(") {
			t.Errorf("action %d has no name", k)
		}
	}
	for r := DownReason(1); r < numReasons; r++ {
		if strings.HasPrefix(r.String(), "DownReason(") {
			t.Errorf("reason %d has no name", r)
		}
	}
	for tm := Timer(1); tm < numTimers; tm++ {
		if strings.HasPrefix(tm.String(), "Timer(") {
			t.Errorf("timer %d has no name", tm)
		}
	}
	if got := State(9).String(); got != "State(9)" {
		t.Errorf("unknown state prints %q", got)
	}
}

func TestConfigValidate(t *testing.T) {
	bad := []func(*Config){
		func(c *Config) { c.LocalAS = 0 },
		func(c *Config) { c.RouterID = netip.Addr{} },
		func(c *Config) { c.RouterID = netip.IPv4Unspecified() },
		func(c *Config) { c.RouterID = netip.MustParseAddr("2001:db8::1") },
		func(c *Config) { c.PeerAS = 0 },
		func(c *Config) { c.PeerASMode = 7 },
		func(c *Config) { c.HoldTime = 2 * time.Second },
		func(c *Config) { c.HoldTime = 1500 * time.Millisecond },
		func(c *Config) { c.HoldTime = 65536 * time.Second },
		func(c *Config) { c.Keepalive = 90 * time.Second },
		func(c *Config) { c.Keepalive = -time.Second },
		func(c *Config) { c.ConnectRetryTime = -time.Second },
	}
	for i, mutate := range bad {
		cfg := baseConfig()
		mutate(&cfg)
		if _, err := New(cfg); err == nil {
			t.Errorf("case %d: %+v accepted", i, cfg)
		}
	}
	good := []func(*Config){
		func(c *Config) {},
		func(c *Config) { c.NoHoldTime = true },
		func(c *Config) { c.HoldTime = 3 * time.Second },
		func(c *Config) { c.PeerAS, c.PeerASMode = 0, PeerASExternal },
		func(c *Config) { c.Keepalive = 89 * time.Second },
	}
	for i, mutate := range good {
		cfg := baseConfig()
		mutate(&cfg)
		if _, err := New(cfg); err != nil {
			t.Errorf("case %d: %v", i, err)
		}
	}
}

func TestKeepLocallyInitiated(t *testing.T) {
	cases := []struct {
		localID, peerID string
		localAS, peerAS uint32
		want            bool
	}{
		{"0.0.0.1", "0.0.0.2", 100, 100, false},
		{"0.0.0.2", "0.0.0.1", 100, 100, true},
		{"255.255.255.255", "127.255.255.255", 1, 2, true}, // unsigned comparison
		{"128.0.0.0", "127.255.255.255", 1, 2, true},
		{"10.0.0.9", "9.255.255.255", 1, 2, true},
		{"0.0.0.5", "0.0.0.5", 200, 100, true},
		{"0.0.0.5", "0.0.0.5", 100, 200, false},
	}
	for _, c := range cases {
		local, peer := netip.MustParseAddr(c.localID), netip.MustParseAddr(c.peerID)
		if got := KeepLocallyInitiated(local, peer, c.localAS, c.peerAS); got != c.want {
			t.Errorf("KeepLocallyInitiated(%s, %s, %d, %d) = %v", c.localID, c.peerID, c.localAS, c.peerAS, got)
		}
	}
}

// The speaker steps every keepalive and update through the machine, so a
// reused action slice must not allocate.
func TestStepAppendDoesNotAllocate(t *testing.T) {
	m, _ := New(baseConfig())
	for _, ev := range setupPaths[Established] {
		m.Step(ev)
	}
	buf := make([]Action, 0, 16)
	allocs := testing.AllocsPerRun(1000, func() {
		buf = m.StepAppend(buf[:0], Event{Kind: KeepAliveMsg})
		buf = m.StepAppend(buf[:0], Event{Kind: UpdateMsg})
		buf = m.StepAppend(buf[:0], Event{Kind: KeepaliveTimerExpired, Token: m.TimerToken(KeepaliveTimer)})
	})
	if allocs != 0 {
		t.Errorf("%v allocations per steady-state round", allocs)
	}
	// A whole session, down and up again, does not allocate either.
	allocs = testing.AllocsPerRun(100, func() {
		buf = m.StepAppend(buf[:0], Event{Kind: HoldTimerExpired, Token: m.TimerToken(HoldTimer)})
		for _, ev := range setupPaths[Established] {
			buf = m.StepAppend(buf[:0], ev)
		}
	})
	if allocs != 0 {
		t.Errorf("%v allocations per session cycle", allocs)
	}
}

func BenchmarkStepKeepalive(b *testing.B) {
	m, _ := New(baseConfig())
	for _, ev := range setupPaths[Established] {
		m.Step(ev)
	}
	buf := make([]Action, 0, 16)
	b.ReportAllocs()
	for b.Loop() {
		buf = m.StepAppend(buf[:0], Event{Kind: KeepAliveMsg})
	}
}

// runningExpiries are the timer cells nextState cannot reach, because
// setupPaths leaves the timer stopped: each is reached by its own setup
// with the base config changed by mutate, then the running instance
// expires. Written from RFC 4271 (and RFC 9687 for the send hold timer).
var runningExpiries = []struct {
	name   string
	mutate func(*Config)
	setup  []Event
	timer  Timer
	want   State
	notify bool
	quiet  bool // RFC 4271 ignores it: no action
}{
	{"Idle, damping after a failure", func(c *Config) { c.AutomaticRestart = true },
		append(setupPaths[Established], Event{Kind: TCPConnectionFails}), IdleHoldTimer, Connect, false, false},
	{"Idle, passive damping", func(c *Config) { c.AutomaticRestart, c.Passive = true, true },
		append(setupPaths[OpenConfirm], Event{Kind: TCPConnectionFails}), IdleHoldTimer, Active, false, false},
	{"Idle, ConnectRetry left running by Active's TCP failure", nil,
		append(setupPaths[Active], Event{Kind: TCPConnectionFails}), ConnectRetryTimer, Idle, false, true},
	{"Active after OpenSent's TCP failure dials again", nil,
		append(setupPaths[OpenSent], Event{Kind: TCPConnectionFails}), ConnectRetryTimer, Connect, false, false},
	{"OpenSent, send hold", nil, append(setupPaths[OpenSent], Event{Kind: SendBlocked}), SendHoldTimer, Idle, true, false},
	{"OpenConfirm, send hold", nil, append(setupPaths[OpenConfirm], Event{Kind: SendBlocked}), SendHoldTimer, Idle, true, false},
	{"Established, send hold", nil, append(setupPaths[Established], Event{Kind: SendBlocked}), SendHoldTimer, Idle, true, false},
	{"OpenConfirm, keepalive", nil, setupPaths[OpenConfirm], KeepaliveTimer, OpenConfirm, false, false},
	{"Established, keepalive", nil, setupPaths[Established], KeepaliveTimer, Established, false, false},
}

func TestRunningTimerExpiries(t *testing.T) {
	for _, c := range runningExpiries {
		t.Run(c.name, func(t *testing.T) {
			cfg := baseConfig()
			if c.mutate != nil {
				c.mutate(&cfg)
			}
			m, err := New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			for _, ev := range c.setup {
				m.Step(ev)
			}
			tok := m.TimerToken(c.timer)
			if tok == 0 {
				t.Fatalf("setup left %s stopped", c.timer)
			}
			actions := m.Step(Event{Kind: expiryOf(c.timer), Token: tok})
			if m.State() != c.want {
				t.Errorf("state %s, want %s", m.State(), c.want)
			}
			if got := hasAction(actions, SendNotification); got != c.notify {
				t.Errorf("sends NOTIFICATION %v, want %v:\n%s", got, c.notify, FormatActions(actions))
			}
			if (len(actions) == 0) != c.quiet {
				t.Errorf("%d actions, want quiet=%v", len(actions), c.quiet)
			}
			if c.quiet && m.TimerRunning(c.timer) {
				t.Errorf("%s still running after its expiry", c.timer)
			}
		})
	}
}

// The case of issue 9: a HoldTimerExpired that was queued when a KEEPALIVE
// restarted the hold timer reaches the machine in Established. It must be
// dropped; the expiry of the restarted timer must still end the session.
func TestStaleHoldExpiryKeepsEstablished(t *testing.T) {
	m, _ := New(baseConfig())
	for _, ev := range setupPaths[Established] {
		m.Step(ev)
	}
	queued := m.TimerToken(HoldTimer)
	if acts := m.Step(Event{Kind: KeepAliveMsg}); !hasAction(acts, StartTimer) {
		t.Fatalf("KEEPALIVE did not restart the hold timer: %v", acts)
	}
	live := m.TimerToken(HoldTimer)
	if live == queued || live == 0 {
		t.Fatalf("restarted hold timer has token %d, the old one %d", live, queued)
	}
	if acts := m.Step(Event{Kind: HoldTimerExpired, Token: queued}); len(acts) != 0 {
		t.Errorf("stale expiry acted:\n%s", FormatActions(acts))
	}
	if m.State() != Established || m.TimerToken(HoldTimer) != live {
		t.Fatalf("after the stale expiry: %s, hold #%d (want Established, #%d)", m.State(), m.TimerToken(HoldTimer), live)
	}
	acts := m.Step(Event{Kind: HoldTimerExpired, Token: live})
	if m.State() != Idle || !hasAction(acts, SessionDown) {
		t.Fatalf("live expiry: %s\n%s", m.State(), FormatActions(acts))
	}
}

// In every state reachable by the setups above, every timer's expiry with
// a token that is not the running instance's — never issued, issued for
// an instance since stopped or restarted, or not yet issued — leaves the
// machine exactly as it was and returns no action.
func TestEveryStaleExpiryIsDropped(t *testing.T) {
	type setup struct {
		name   string
		cfg    Config
		events []Event
	}
	var setups []setup
	for _, s := range States() {
		setups = append(setups, setup{s.String(), baseConfig(), setupPaths[s]})
	}
	for _, c := range runningExpiries {
		cfg := baseConfig()
		if c.mutate != nil {
			c.mutate(&cfg)
		}
		setups = append(setups, setup{c.name, cfg, c.setup})
	}
	checked := 0
	for _, su := range setups {
		m, err := New(su.cfg)
		if err != nil {
			t.Fatal(err)
		}
		var issued uint64
		for _, ev := range su.events {
			for _, a := range m.Step(ev) {
				issued = max(issued, a.Token)
			}
		}
		for tm := Timer(1); tm < numTimers; tm++ {
			for tok := uint64(0); tok <= issued+1; tok++ {
				if tok != 0 && tok == m.TimerToken(tm) {
					continue
				}
				copied := *m
				acts := copied.Step(Event{Kind: expiryOf(tm), Token: tok})
				if len(acts) != 0 || !reflect.DeepEqual(copied, *m) {
					t.Errorf("%s: %s with stale token %d acted (%s -> %s):\n%s",
						su.name, expiryOf(tm), tok, m.State(), copied.State(), FormatActions(acts))
				}
				checked++
			}
		}
	}
	if checked < 100 {
		t.Fatalf("only %d stale expiries checked", checked)
	}
}

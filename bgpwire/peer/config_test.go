package peer

import (
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/heraldlb/herald/bgpwire"
)

func TestConfigValidate(t *testing.T) {
	bad := map[string]func(*Config){
		"no MyAS":                   func(c *Config) { c.MyAS = 0 },
		"no PeerAS":                 func(c *Config) { c.PeerAS = 0 },
		"PeerAS and dynamic":        func(c *Config) { c.DynamicAS = DynamicInternal },
		"unknown dynamic mode":      func(c *Config) { c.PeerAS, c.DynamicAS = 0, 9 },
		"no router ID":              func(c *Config) { c.RouterID = netip.Addr{} },
		"IPv6 router ID":            func(c *Config) { c.RouterID = netip.MustParseAddr("2001:db8::1") },
		"hold time 2s":              func(c *Config) { c.HoldTime = 2 * time.Second },
		"keepalive not below hold":  func(c *Config) { c.HoldTime, c.KeepaliveTime = 9*time.Second, 9*time.Second },
		"restart time over 4095s":   func(c *Config) { c.RestartTime = 4096 * time.Second },
		"restart time not whole":    func(c *Config) { c.RestartTime = 1500 * time.Millisecond },
		"negative connect time":     func(c *Config) { c.ConnectTime = -time.Second },
		"backoff max below initial": func(c *Config) { c.Backoff = Backoff{Initial: 10 * time.Second, Max: time.Second} },
		"negative backoff forget":   func(c *Config) { c.Backoff.Forget = -time.Second },
	}
	for name, mutate := range bad {
		cfg := baseConfig()
		mutate(&cfg)
		_, err := New(cfg)
		if !errors.Is(err, ErrConfig) {
			t.Errorf("%s: %v, want ErrConfig", name, err)
		}
	}
	good := map[string]func(*Config){
		"base":             func(c *Config) {},
		"dynamic external": func(c *Config) { c.PeerAS, c.DynamicAS = 0, DynamicExternal },
		"no hold time":     func(c *Config) { c.NoHoldTime = true },
		"everything": func(c *Config) {
			c.GracefulRestart, c.RestartTime, c.Passive, c.DualStack = true, 4095*time.Second, true, true
		},
	}
	for name, mutate := range good {
		cfg := baseConfig()
		mutate(&cfg)
		if _, err := New(cfg); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// The backoff's defaults follow the connect time.
func TestBackoffDefaults(t *testing.T) {
	cfg := baseConfig()
	if b := cfg.backoff(); b != (Backoff{Initial: time.Second, Max: DefaultConnectTime, Forget: DefaultBackoffForget}) {
		t.Errorf("defaults %+v", b)
	}
	cfg.ConnectTime = 5 * time.Second
	if b := cfg.backoff(); b.Max != 5*time.Second {
		t.Errorf("max %s with connect time 5s", b.Max)
	}
}

func TestNamesAreComplete(t *testing.T) {
	for k := EventKind(1); k < numEventKinds; k++ {
		if strings.HasPrefix(k.String(), "EventKind(") {
			t.Errorf("event %d has no name", k)
		}
	}
	for k := ActionKind(1); k < numActionKinds; k++ {
		if strings.HasPrefix(k.String(), "ActionKind(") {
			t.Errorf("action %d has no name", k)
		}
	}
	for k := ReportKind(1); k < numReportKinds; k++ {
		if strings.HasPrefix(k.String(), "ReportKind(") {
			t.Errorf("report %d has no name", k)
		}
	}
	for id := timerID(0); int(id) < numTimers; id++ {
		tm := id.timer()
		back, ok := tm.id()
		if !ok || back != id || strings.Contains(tm.String(), "(") {
			t.Errorf("timer %d: %s -> %d %v", id, tm, back, ok)
		}
	}
	if _, ok := (Timer{Slot: Incoming, Kind: RestartTimer}).id(); ok {
		t.Errorf("a restart timer of the incoming slot has an id")
	}
}

// A received KEEPALIVE, the most frequent step, does not allocate with a
// reused action slice.
func TestKeepaliveStepDoesNotAllocate(t *testing.T) {
	p, _ := up(t, baseConfig(), hostRoutes("10.0.0.0", 1000, Attrs{}), baseLocal, caps4)
	conn := p.est.conn
	ka := []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 19, 4}
	buf := make([]Action, 0, 8)
	allocs := testing.AllocsPerRun(1000, func() {
		buf = p.StepAppend(buf[:0], Event{Kind: Received, Conn: conn, Data: ka})
	})
	if allocs != 0 {
		t.Errorf("%v allocations per KEEPALIVE", allocs)
	}
	if len(buf) != 1 || buf[0].Kind != StartTimer || buf[0].Timer.Kind != HoldTimer {
		t.Errorf("actions %+v, want the hold timer restarted", buf)
	}
}

// Attribute sets no route uses are forgotten, also while no session is up
// (a peer down for long must not accumulate them).
func TestDeadAttributeSetsAreCollected(t *testing.T) {
	p, err := New(baseConfig())
	if err != nil {
		t.Fatal(err)
	}
	for i := range 50 {
		attrs := Attrs{LargeCommunities: []bgpwire.LargeCommunity{{GlobalAdmin: uint32(i)}}}
		p.Step(Event{Kind: SetRoutes, Routes: hostRoutes("10.0.0.0", 3, attrs)})
	}
	if n := len(p.rib.sets); n != 1 || len(p.rib.order) != 1 {
		t.Fatalf("%d sets (%d in order) for 1 in use", n, len(p.rib.order))
	}
	p.Step(Event{Kind: ChangeRoutes, Withdraw: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/32"),
		netip.MustParsePrefix("10.0.0.1/32"), netip.MustParsePrefix("10.0.0.2/32")}})
	if n := len(p.rib.sets); n != 0 {
		t.Fatalf("%d sets with no routes", n)
	}
}

// Why a connection could not be made is kept for the session status (a TCP
// MD5 mismatch shows only as a timeout, which the shell's error says).
func TestDialFailureIsTheLastError(t *testing.T) {
	p, err := New(baseConfig())
	if err != nil {
		t.Fatal(err)
	}
	var dial ConnID
	for _, a := range p.Step(Event{Kind: Start}) {
		if a.Kind == Dial {
			dial = a.Conn
		}
	}
	if dial == 0 {
		t.Fatal("no Dial after Start")
	}
	p.Step(Event{Kind: DialFailed, Conn: dial, Err: errors.New("i/o timeout (a TCP MD5 mismatch looks like this)")})
	if got := p.Status().LastError; got == nil || !strings.Contains(got.Error(), "TCP MD5 mismatch") {
		t.Errorf("LastError %v, want the dial's error", got)
	}
}

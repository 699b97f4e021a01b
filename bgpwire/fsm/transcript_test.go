package fsm

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/heraldlb/herald/bgpwire"
)

// The transcripts in testdata/*.txt are the readable specification of the
// machine. Their language, one directive per line:
//
//	# text                      a comment, kept as is
//	config [name=N] [k=v ...]   a fresh machine (the base config plus the
//	                            changes), made current; see applyConfig
//	use N                       make machine N current
//	setup STATE                 drive the current machine silently to STATE
//	> EVENT [args]              step; the lines after it, up to the next
//	                            directive or blank line, are the expected
//	                            actions and a final "= STATE counter=N"
//	                            (a timer expiry echoes the token of the
//	                            last StartTimer of that timer, 0 if none,
//	                            unless token=N says otherwise)
//	collide N [open args]       CheckCollision on machine N for an OPEN
//	                            arriving on another connection; expected
//	                            result on the next line
//
// go test -run TestTranscripts -update rewrites the expected blocks.
var update = flag.Bool("update", false, "rewrite the expected output of testdata/*.txt transcripts")

func TestTranscripts(t *testing.T) {
	files, err := filepath.Glob("testdata/*.txt")
	if err != nil || len(files) == 0 {
		t.Fatalf("no transcripts: %v", err)
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) { runTranscript(t, file) })
	}
}

const (
	baseLocalAS = 64512
	basePeerAS  = 64513
)

var (
	baseRouter = netip.MustParseAddr("10.0.0.1")
	basePeerID = netip.MustParseAddr("10.0.0.2")
)

func baseConfig() Config {
	return Config{LocalAS: baseLocalAS, RouterID: baseRouter, PeerAS: basePeerAS}
}

type transcript struct {
	t        *testing.T
	machines map[string]*Machine
	current  *Machine
	// started is the token of the last StartTimer of each timer of each
	// machine, as a shell would remember it: the token an expiry of that
	// timer would carry.
	started map[*Machine]*[numTimers]uint64
}

// stepMachine steps m as the shell would, remembering timer tokens.
func (tr *transcript) stepMachine(m *Machine, ev Event) []Action {
	if t := expiredTimer(ev.Kind); t != 0 && ev.Token == useLastToken {
		ev.Token = tr.started[m][t]
	}
	actions := m.Step(ev)
	for _, a := range actions {
		if a.Kind == StartTimer {
			tr.started[m][a.Timer] = a.Token
		}
	}
	return actions
}

// useLastToken marks a parsed expiry without token=N: the transcript fills
// in the token of the timer's last start.
const useLastToken = ^uint64(0)

func runTranscript(t *testing.T, file string) {
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	tr := &transcript{t: t, machines: map[string]*Machine{}, started: map[*Machine]*[numTimers]uint64{}}
	var out []string
	for i := 0; i < len(lines); {
		line := lines[i]
		i++
		out = append(out, line)
		fields := strings.Fields(line)
		if len(fields) == 0 || strings.HasPrefix(line, "#") {
			continue
		}
		var got []string
		switch fields[0] {
		case "config":
			tr.config(file, i, fields[1:])
			continue
		case "use":
			tr.current = tr.machines[fields[1]]
			if tr.current == nil {
				t.Fatalf("%s:%d: no machine %q", file, i, fields[1])
			}
			continue
		case "setup":
			tr.setup(file, i, fields[1])
			continue
		case ">":
			got = tr.step(file, i, fields[1:])
		case "collide":
			got = []string{tr.collide(file, i, fields[1:])}
		default:
			t.Fatalf("%s:%d: unknown directive %q", file, i, fields[0])
		}
		// The expected block runs to the next directive or blank line.
		var want []string
		for i < len(lines) && isExpectation(lines[i]) {
			want = append(want, lines[i])
			i++
		}
		out = append(out, got...)
		if !*update && strings.Join(want, "\n") != strings.Join(got, "\n") {
			t.Errorf("%s:%d: %s\n--- want\n%s\n--- got\n%s", file, i-len(want), line,
				strings.Join(want, "\n"), strings.Join(got, "\n"))
		}
	}
	if *update {
		if err := os.WriteFile(file, []byte(strings.Join(out, "\n")+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func isExpectation(line string) bool {
	f := strings.Fields(line)
	if len(f) == 0 || strings.HasPrefix(line, "#") {
		return false
	}
	switch f[0] {
	case "config", "use", "setup", ">", "collide":
		return false
	}
	return true
}

// applyConfig understands: local-as, peer-as, router-id, hold (0 means
// NoHoldTime), keepalive, connect-retry, opensent-hold, send-hold,
// peer-mode=exact|internal|external, and the flags passive, auto-restart,
// notify-without-open.
func (tr *transcript) config(file string, line int, args []string) {
	cfg := baseConfig()
	name := "default"
	for _, a := range args {
		k, v, _ := strings.Cut(a, "=")
		var err error
		switch k {
		case "name":
			name = v
		case "local-as":
			cfg.LocalAS, err = parseUint32(v)
		case "peer-as":
			cfg.PeerAS, err = parseUint32(v)
		case "router-id":
			cfg.RouterID, err = parseID(v)
		case "hold":
			cfg.HoldTime, err = time.ParseDuration(v)
			cfg.NoHoldTime = cfg.HoldTime == 0
		case "keepalive":
			cfg.Keepalive, err = time.ParseDuration(v)
		case "connect-retry":
			cfg.ConnectRetryTime, err = time.ParseDuration(v)
		case "opensent-hold":
			cfg.OpenSentHoldTime, err = time.ParseDuration(v)
		case "send-hold":
			cfg.SendHoldTime, err = time.ParseDuration(v)
		case "peer-mode":
			cfg.PeerASMode = map[string]PeerASMode{"exact": PeerASExact, "internal": PeerASInternal, "external": PeerASExternal}[v]
		case "passive":
			cfg.Passive = true
		case "auto-restart":
			cfg.AutomaticRestart = true
		case "notify-without-open":
			cfg.SendNotificationWithoutOpen = true
		default:
			err = fmt.Errorf("unknown key")
		}
		if err != nil {
			tr.t.Fatalf("%s:%d: config %s: %v", file, line, a, err)
		}
	}
	m, err := New(cfg)
	if err != nil {
		tr.t.Fatalf("%s:%d: %v", file, line, err)
	}
	tr.machines[name] = m
	tr.current = m
	tr.started[m] = new([numTimers]uint64)
}

// setupPaths are the shortest event sequences from Idle to each state.
var setupPaths = map[State][]Event{
	Idle:        nil,
	Connect:     {{Kind: ManualStart}},
	Active:      {{Kind: ManualStartPassive}},
	OpenSent:    {{Kind: ManualStart}, {Kind: TCPCRAcked}},
	OpenConfirm: {{Kind: ManualStart}, {Kind: TCPCRAcked}, {Kind: BGPOpen, Open: peerOpen()}},
	Established: {{Kind: ManualStart}, {Kind: TCPCRAcked}, {Kind: BGPOpen, Open: peerOpen()}, {Kind: KeepAliveMsg}},
}

// peerOpen is the OPEN the base configuration's peer sends.
func peerOpen() bgpwire.Open {
	return bgpwire.Open{Version: 4, AS: basePeerAS, WireAS: basePeerAS, HoldTime: 90, Identifier: basePeerID}
}

// openEvent is what a speaker feeds the machine when the peer sends an OPEN
// with o's fields: o is encoded (with o.Version and o.WireAS written as
// given, where AppendOpen would write 4 and derive the field from o.AS) and
// decoded, and a decoding error becomes BGPOpenMsgErr carrying the
// decoder's NOTIFICATION. So OPENs in tests meet the decoder's message
// checks before the machine's peer checks, as they do in the speaker.
func openEvent(o bgpwire.Open) Event {
	b, err := bgpwire.AppendOpen(nil, &o)
	if err != nil {
		panic(fmt.Sprintf("encoding test OPEN %+v: %v", o, err))
	}
	b[bgpwire.HeaderLen] = o.Version
	binary.BigEndian.PutUint16(b[bgpwire.HeaderLen+1:], o.WireAS)
	var m bgpwire.Message
	if err := m.Decode(b, bgpwire.Session{}); err != nil {
		var ne *bgpwire.NotificationError
		if !errors.As(err, &ne) {
			panic(fmt.Sprintf("decoding test OPEN: %v", err))
		}
		return Event{Kind: BGPOpenMsgErr, Notification: ne.Notification()}
	}
	return Event{Kind: BGPOpen, Open: m.Open}
}

func (tr *transcript) setup(file string, line int, state string) {
	for _, s := range States() {
		if s.String() == state {
			for _, ev := range setupPaths[s] {
				tr.stepMachine(tr.current, ev)
			}
			if got := tr.current.State(); got != s {
				tr.t.Fatalf("%s:%d: setup %s ended in %s", file, line, s, got)
			}
			return
		}
	}
	tr.t.Fatalf("%s:%d: unknown state %q", file, line, state)
}

func (tr *transcript) step(file string, line int, args []string) []string {
	ev, err := parseEvent(args)
	if err != nil {
		tr.t.Fatalf("%s:%d: %v", file, line, err)
	}
	m := tr.current
	var got []string
	for _, a := range tr.stepMachine(m, ev) {
		got = append(got, a.String())
	}
	return append(got, fmt.Sprintf("= %s counter=%d", m.State(), m.ConnectRetryCounter()))
}

func (tr *transcript) collide(file string, line int, args []string) string {
	m := tr.machines[args[0]]
	if m == nil {
		tr.t.Fatalf("%s:%d: no machine %q", file, line, args[0])
	}
	ev, err := parseEvent(append([]string{"BGPOpen"}, args[1:]...))
	if err == nil && ev.Kind != BGPOpen {
		err = fmt.Errorf("the OPEN does not decode: %s", ev)
	}
	if err != nil {
		tr.t.Fatalf("%s:%d: %v", file, line, err)
	}
	detect := false
	for _, a := range args[1:] {
		detect = detect || a == "detect-established"
	}
	return "= " + m.CheckCollision(&ev.Open, detect).String()
}

// parseEvent reads "KIND [args]". BGPOpen takes v=, as= (the 2-octet
// field), hold=, id=, as4= (the 4-octet AS capability), defaulting to the
// base peer's OPEN, and goes through openEvent. Events with a NOTIFICATION take
// "CODE/SUBCODE" and an optional data=HEX. Timer expiries take token=N;
// without it the token is useLastToken.
func parseEvent(args []string) (Event, error) {
	if len(args) == 0 {
		return Event{}, fmt.Errorf("missing event")
	}
	kind, ok := ParseEventKind(args[0])
	if !ok {
		return Event{}, fmt.Errorf("unknown event %q", args[0])
	}
	ev := Event{Kind: kind}
	open := peerOpen()
	if expiredTimer(kind) != 0 {
		ev.Token = useLastToken
	}
	for _, a := range args[1:] {
		k, v, hasValue := strings.Cut(a, "=")
		var err error
		var n uint32
		switch {
		case !hasValue && strings.Contains(a, "/"):
			c, s, _ := strings.Cut(a, "/")
			var code, sub uint32
			if code, err = parseUint32(c); err == nil {
				sub, err = parseUint32(s)
			}
			ev.Notification.Code, ev.Notification.Subcode = bgpwire.ErrorCode(code), uint8(sub)
		case k == "data":
			ev.Notification.Data, err = hex.DecodeString(v)
		case k == "v":
			n, err = parseUint32(v)
			open.Version = uint8(n)
		case k == "as":
			n, err = parseUint32(v)
			open.WireAS = uint16(n)
			if !open.Capabilities.FourOctetAS {
				open.AS = n
			}
		case k == "hold":
			n, err = parseUint32(v)
			open.HoldTime = uint16(n)
		case k == "id":
			open.Identifier, err = parseID(v)
		case k == "as4":
			open.Capabilities.FourOctetAS = true
			open.AS, err = parseUint32(v)
		case k == "token" && expiredTimer(kind) != 0:
			var tok uint64
			tok, err = strconv.ParseUint(v, 10, 64)
			ev.Token = tok
		case a == "detect-established":
		default:
			err = fmt.Errorf("unknown argument")
		}
		if err != nil {
			return Event{}, fmt.Errorf("%s: %v", a, err)
		}
	}
	if kind == BGPOpen {
		// Through the codec, as the speaker does: a message error
		// becomes BGPOpenMsgErr.
		return openEvent(open), nil
	}
	return ev, nil
}

func parseUint32(s string) (uint32, error) {
	n, err := strconv.ParseUint(s, 10, 32)
	return uint32(n), err
}

func parseID(s string) (netip.Addr, error) {
	a, err := netip.ParseAddr(s)
	if err == nil && !a.Is4() {
		err = fmt.Errorf("not an IPv4 address")
	}
	return a, err
}

package peer

import (
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
// Peer. Their language, one directive per line:
//
//	# text                       a comment
//	config [k=v ...]             a fresh Peer: the base config with changes
//	                             (see applyConfig), and a fresh clock
//	> EVENT [args] [jitter=F]    step (see parseEvent); the lines after it, up
//	                             to the next directive or blank line, are the
//	                             expected actions and a final "= ..." line
//	< cN MESSAGE [args]          the peer sends MESSAGE on connection N
//	                             (see peerMessage): a Received step, or one per
//	                             piece with chunks=K; expected as for >
//	establish [ADDR=A ...] [OPEN-ARGS]
//	                             start, connected c1 (with the address
//	                             arguments of connected), the peer's open
//	                             (with the rest) and keepalive, silently but
//	                             the last step, whose output is expected
//	wait DURATION                advance the clock the events carry
//	status                       the expected block is the Peer's Status
//
// Sends are printed decoded, one line per message. The shell this runner
// plays remembers the token of each timer's last StartTimer; an expire
// without token=N delivers that one.
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
	baseMyAS   = 64512
	basePeerAS = 64513
)

var (
	baseRouterID = netip.MustParseAddr("10.0.0.1")
	basePeerID   = netip.MustParseAddr("10.0.0.2")
	baseLocal    = LocalAddrs{Transport: netip.MustParseAddr("192.0.2.1")}
	epoch        = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
)

func baseConfig() Config {
	return Config{MyAS: baseMyAS, PeerAS: basePeerAS, RouterID: baseRouterID}
}

type transcript struct {
	t       *testing.T
	file    string
	line    int
	p       *Peer
	now     time.Time
	started map[Timer]uint64
	// wire is the session of each connection, from SessionUp, to decode
	// what the Peer sends on it.
	wire map[ConnID]bgpwire.Session
}

func runTranscript(t *testing.T, file string) {
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	tr := &transcript{t: t, file: file}
	var out []string
	for i := 0; i < len(lines); {
		line := lines[i]
		i++
		tr.line = i
		out = append(out, line)
		fields := splitArgs(line)
		if len(fields) == 0 || strings.HasPrefix(line, "#") {
			continue
		}
		var got []string
		switch fields[0] {
		case "config":
			tr.config(fields[1:])
			continue
		case "wait":
			d, err := time.ParseDuration(fields[1])
			if err != nil {
				tr.fatalf("wait: %v", err)
			}
			tr.now = tr.now.Add(d)
			continue
		case ">":
			got = tr.event(fields[1:])
		case "<":
			got = tr.peerSends(fields[1:])
		case "establish":
			got = tr.establish(fields[1:])
		case "status":
			got = formatStatus(tr.p.Status())
		default:
			tr.fatalf("unknown directive %q", fields[0])
		}
		var want []string
		for i < len(lines) && isExpectation(lines[i]) {
			want = append(want, lines[i])
			i++
		}
		out = append(out, got...)
		if !*update && strings.Join(want, "\n") != strings.Join(got, "\n") {
			t.Errorf("%s:%d: %s\n--- want\n%s\n--- got\n%s", file, tr.line, line,
				strings.Join(want, "\n"), strings.Join(got, "\n"))
		}
	}
	if *update {
		if err := os.WriteFile(file, []byte(strings.Join(out, "\n")+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func (tr *transcript) fatalf(format string, args ...any) {
	tr.t.Helper()
	tr.t.Fatalf("%s:%d: %s", tr.file, tr.line, fmt.Sprintf(format, args...))
}

func isExpectation(line string) bool {
	f := strings.Fields(line)
	if len(f) == 0 || strings.HasPrefix(line, "#") {
		return false
	}
	switch f[0] {
	case "config", ">", "<", "wait", "status", "establish":
		return false
	}
	return true
}

// splitArgs splits on spaces, keeping "quoted strings" whole.
func splitArgs(line string) []string {
	var out []string
	var cur strings.Builder
	inQuote := false
	for _, r := range line {
		switch {
		case r == '"':
			inQuote = !inQuote
			cur.WriteRune(r)
		case r == ' ' && !inQuote:
			if cur.Len() > 0 {
				out = append(out, cur.String())
				cur.Reset()
			}
		default:
			cur.WriteRune(r)
		}
	}
	if cur.Len() > 0 {
		out = append(out, cur.String())
	}
	return out
}

func unquote(s string) string {
	if u, err := strconv.Unquote(s); err == nil {
		return u
	}
	return s
}

// config understands my-as, local-as, peer-as, dynamic=internal|external,
// router-id, hold (0 for none), keepalive, connect, restart-time,
// backoff=INITIAL,MAX,FORGET and the flags passive, dual-stack, multihop,
// no-extmsg, detect-established, gr, restarted, no-forwarding.
func (tr *transcript) config(args []string) {
	cfg := baseConfig()
	for _, a := range args {
		k, v, _ := strings.Cut(a, "=")
		var err error
		switch k {
		case "my-as":
			cfg.MyAS, err = parseUint32(v)
		case "local-as":
			cfg.LocalAS, err = parseUint32(v)
		case "peer-as":
			cfg.PeerAS, err = parseUint32(v)
		case "dynamic":
			cfg.PeerAS = 0
			cfg.DynamicAS = map[string]DynamicAS{"internal": DynamicInternal, "external": DynamicExternal}[v]
		case "router-id":
			cfg.RouterID, err = netip.ParseAddr(v)
		case "hold":
			cfg.HoldTime, err = time.ParseDuration(v)
			cfg.NoHoldTime = cfg.HoldTime == 0
		case "keepalive":
			cfg.KeepaliveTime, err = time.ParseDuration(v)
		case "connect":
			cfg.ConnectTime, err = time.ParseDuration(v)
		case "restart-time":
			cfg.RestartTime, err = time.ParseDuration(v)
		case "backoff":
			var ds []time.Duration
			for _, s := range strings.Split(v, ",") {
				d, e := time.ParseDuration(s)
				err = cmpErr(err, e)
				ds = append(ds, d)
			}
			if len(ds) == 3 {
				cfg.Backoff = Backoff{Initial: ds[0], Max: ds[1], Forget: ds[2]}
			}
		case "passive":
			cfg.Passive = true
		case "dual-stack":
			cfg.DualStack = true
		case "multihop":
			cfg.Multihop = true
		case "no-extmsg":
			cfg.NoExtendedMessage = true
		case "detect-established":
			cfg.CollisionDetectEstablished = true
		case "gr":
			cfg.GracefulRestart = true
		case "restarted":
			cfg.Restarted = true
		case "no-forwarding":
			cfg.ForwardingNotPreserved = true
		default:
			err = fmt.Errorf("unknown key")
		}
		if err != nil {
			tr.fatalf("config %s: %v", a, err)
		}
	}
	p, err := New(cfg)
	if err != nil {
		tr.fatalf("%v", err)
	}
	tr.p, tr.now = p, epoch
	tr.started = map[Timer]uint64{}
	tr.wire = map[ConnID]bgpwire.Session{}
}

func cmpErr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

func parseUint32(s string) (uint32, error) {
	n, err := strconv.ParseUint(s, 10, 32)
	return uint32(n), err
}

func parseConn(s string) (ConnID, error) {
	n, err := strconv.ParseUint(strings.TrimPrefix(s, "c"), 10, 32)
	return ConnID(n), err
}

// step runs one event as the shell would and renders the result.
func (tr *transcript) step(ev Event) []string {
	if tr.p == nil {
		tr.fatalf("no config")
	}
	ev.At = tr.now
	var got []string
	for _, a := range tr.p.Step(ev) {
		switch a.Kind {
		case StartTimer:
			tr.started[a.Timer] = a.Token
		case SessionUp:
			tr.wire[a.Session.Conn] = bgpwire.Session{FourOctetAS: a.Session.FourOctetAS, ExtendedMessage: a.Session.ExtendedMessage}
		}
		got = append(got, formatAction(&a, tr.wire[a.Conn])...)
	}
	return got
}

func (tr *transcript) summary() string {
	st := tr.p.Status()
	return fmt.Sprintf("= %s out=%s in=%s", st.State, tr.p.slots[Outgoing].m.State(), tr.p.slots[Incoming].m.State())
}

// event parses and steps one event:
//
//	start | stop [reason="..."] | deconfigure | bfd-down
//	connected cN [local=A] [v4=A] [v6=A] [ll=A] | dial-failed cN
//	accepted [local=A] [v4=A] [v6=A] [ll=A] | closed cN
//	blocked cN | progressed cN
//	expire TIMER [token=N]          (TIMER: restart, out.hold, in.keepalive, ...)
//	set-routes ROUTE...             (ROUTE: see parseRoutes)
//	change [ROUTE...] [withdraw PREFIX...]
//
// Every event takes jitter=F.
func (tr *transcript) event(args []string) []string {
	ev := Event{}
	rest := args[1:]
	var plain []string
	for _, a := range rest {
		if v, ok := strings.CutPrefix(a, "jitter="); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				tr.fatalf("jitter: %v", err)
			}
			ev.Jitter = f
			continue
		}
		plain = append(plain, a)
	}
	var err error
	switch args[0] {
	case "start":
		ev.Kind = Start
	case "stop":
		ev.Kind = Stop
		for _, a := range plain {
			if v, ok := strings.CutPrefix(a, "reason="); ok {
				ev.Reason = unquote(v)
			}
		}
	case "deconfigure":
		ev.Kind = Deconfigure
	case "bfd-down":
		ev.Kind = BFDDown
	case "connected", "dial-failed", "closed", "blocked", "progressed":
		ev.Kind = map[string]EventKind{"connected": Connected, "dial-failed": DialFailed, "closed": Closed,
			"blocked": SendBlocked, "progressed": SendProgressed}[args[0]]
		if len(plain) == 0 {
			tr.fatalf("%s needs a connection", args[0])
		}
		ev.Conn, err = parseConn(plain[0])
		if ev.Kind == Connected {
			ev.Local = tr.local(plain[1:])
		}
	case "accepted":
		ev.Kind = Accepted
		ev.Local = tr.local(plain)
	case "expire":
		ev.Kind = TimerExpired
		ev.Timer = parseTimer(tr, plain[0])
		ev.Token = tr.started[ev.Timer]
		for _, a := range plain[1:] {
			if v, ok := strings.CutPrefix(a, "token="); ok {
				ev.Token, err = strconv.ParseUint(v, 10, 64)
			}
		}
	case "set-routes":
		ev.Kind = SetRoutes
		ev.Routes = tr.routes(plain)
	case "change":
		ev.Kind = ChangeRoutes
		for i, a := range plain {
			if a == "withdraw" {
				for _, r := range tr.routes(plain[i+1:]) {
					ev.Withdraw = append(ev.Withdraw, r.Prefix)
				}
				plain = plain[:i]
				break
			}
		}
		ev.Routes = tr.routes(plain)
	default:
		tr.fatalf("unknown event %q", args[0])
	}
	if err != nil {
		tr.fatalf("%v", err)
	}
	return append(tr.step(ev), tr.summary())
}

func (tr *transcript) establish(args []string) []string {
	var addrs, open []string
	for _, a := range args {
		switch k, _, _ := strings.Cut(a, "="); k {
		case "local", "v4", "v6", "ll":
			addrs = append(addrs, a)
		default:
			open = append(open, a)
		}
	}
	tr.event([]string{"start"})
	conn := tr.p.lastConn
	tr.event(append([]string{"connected", fmt.Sprintf("c%d", conn)}, addrs...))
	tr.peerSends(append([]string{fmt.Sprintf("c%d", conn), "open"}, open...))
	return tr.peerSends([]string{fmt.Sprintf("c%d", conn), "keepalive"})
}

func (tr *transcript) local(args []string) LocalAddrs {
	l := baseLocal
	for _, a := range args {
		k, v, _ := strings.Cut(a, "=")
		addr, err := netip.ParseAddr(v)
		if err != nil {
			tr.fatalf("%s: %v", a, err)
		}
		switch k {
		case "local":
			l.Transport = addr
		case "v4":
			l.IPv4 = addr
		case "v6":
			l.IPv6 = addr
		case "ll":
			l.LinkLocal = addr
		default:
			tr.fatalf("unknown address %q", k)
		}
	}
	return l
}

func parseTimer(tr *transcript, s string) Timer {
	if s == "restart" {
		return Timer{Kind: RestartTimer}
	}
	sl, k, _ := strings.Cut(s, ".")
	t := Timer{}
	switch sl {
	case "out":
		t.Slot = Outgoing
	case "in":
		t.Slot = Incoming
	default:
		tr.fatalf("unknown timer %q", s)
	}
	for kind := RestartTimer; kind <= SendHoldTimer; kind++ {
		if kind.String() == k {
			t.Kind = kind
			return t
		}
	}
	tr.fatalf("unknown timer %q", s)
	return t
}

// routes parses PREFIX[;comm=A:B,C:D][;lc=A:B:C,...][;lp=N][*COUNT]. A
// COUNT makes that many host routes counting up from PREFIX's address.
func (tr *transcript) routes(args []string) []Route {
	var out []Route
	for _, a := range args {
		count := 1
		if i := strings.LastIndexByte(a, '*'); i >= 0 {
			n, err := strconv.Atoi(a[i+1:])
			if err != nil {
				tr.fatalf("%s: %v", a, err)
			}
			a, count = a[:i], n
		}
		parts := strings.Split(a, ";")
		pfx, err := netip.ParsePrefix(parts[0])
		if err != nil {
			tr.fatalf("%s: %v", a, err)
		}
		var attrs Attrs
		for _, part := range parts[1:] {
			k, v, _ := strings.Cut(part, "=")
			switch k {
			case "comm":
				for _, c := range strings.Split(v, ",") {
					hi, lo, _ := strings.Cut(c, ":")
					h, e1 := strconv.ParseUint(hi, 10, 16)
					l, e2 := strconv.ParseUint(lo, 10, 16)
					if e1 != nil || e2 != nil {
						tr.fatalf("community %q", c)
					}
					attrs.Communities = append(attrs.Communities, bgpwire.NewCommunity(uint16(h), uint16(l)))
				}
			case "lc":
				for _, c := range strings.Split(v, ",") {
					f := strings.Split(c, ":")
					var n [3]uint32
					for i := range n {
						if i < len(f) {
							n[i], err = parseUint32(f[i])
						}
					}
					if len(f) != 3 || err != nil {
						tr.fatalf("large community %q", c)
					}
					attrs.LargeCommunities = append(attrs.LargeCommunities, bgpwire.LargeCommunity{GlobalAdmin: n[0], LocalData1: n[1], LocalData2: n[2]})
				}
			case "lp":
				attrs.LocalPref, err = parseUint32(v)
				attrs.HasLocalPref = true
				if err != nil {
					tr.fatalf("lp: %v", err)
				}
			default:
				tr.fatalf("unknown route attribute %q", k)
			}
		}
		addr := pfx.Addr()
		for range count {
			out = append(out, Route{Prefix: netip.PrefixFrom(addr, pfx.Bits()), Attrs: attrs})
			addr = addr.Next()
		}
	}
	return out
}

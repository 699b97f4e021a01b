package bfd

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The transcripts in testdata/*.txt are the readable specification of the
// session machine. One directive per line:
//
//	# text                 a comment
//	config [k=v|flag ...]  a fresh machine: the base config (see baseConfig)
//	                       with changes; see applyConfig
//	> EVENT [args]         step; the following lines, up to the next
//	                       directive or blank line, are the expected actions
//	                       and a final "= STATE diag=D tx=T detect=T [poll]"
//
// Events: Enable; Disable [diag=N]; Recv STATE [your=N] [my=N] [tx=D]
// [rx=D] [echo=D] [mult=N] [diag=N] [P] [F] [D] [auth=T key=S keyid=N
// seq=N] (the packet is encoded with AppendPacket and decoded with Decode
// first); Expire TIMER [token=N] (default: the running timer's token);
// Echo; Reconfigure [tx=D] [rx=D] [mult=N] [echo=D] [echo-mode=B]
// [passive=B]. Any event takes rand=N for Event.Rand.
//
// go test -run TestTranscripts -update rewrites the expected blocks; read
// the diff before committing it.
var update = flag.Bool("update", false, "rewrite the expected output of testdata/*.txt transcripts")

const (
	localDiscr  = 1
	remoteDiscr = 2
)

// baseConfig is an active session with the 100 ms × 3 profile, no Echo and
// no authentication.
func baseConfig() Config {
	return Config{
		Profile:    Profile{Name: "test", ReceiveInterval: 100, TransmitInterval: 100, DetectMultiplier: 3, EchoInterval: 50, MinimumTTL: 254},
		LocalDiscr: localDiscr,
	}
}

func TestTranscripts(t *testing.T) {
	files, err := filepath.Glob("testdata/*.txt")
	if err != nil || len(files) == 0 {
		t.Fatalf("no transcripts: %v", err)
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) { runTranscript(t, file) })
	}
}

func runTranscript(t *testing.T, file string) {
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	var m *Machine
	var out []string
	for i := 0; i < len(lines); {
		line := lines[i]
		i++
		out = append(out, line)
		fields := strings.Fields(line)
		if len(fields) == 0 || strings.HasPrefix(line, "#") {
			continue
		}
		switch fields[0] {
		case "config":
			cfg, err := applyConfig(baseConfig(), fields[1:])
			if err == nil {
				m, err = New(cfg)
			}
			if err != nil {
				t.Fatalf("%s:%d: %v", file, i, err)
			}
			continue
		case ">":
		default:
			t.Fatalf("%s:%d: unknown directive %q", file, i, fields[0])
		}
		if m == nil {
			t.Fatalf("%s:%d: event before config", file, i)
		}
		ev, err := parseEvent(m, fields[1:])
		if err != nil {
			t.Fatalf("%s:%d: %v", file, i, err)
		}
		var got []string
		for _, a := range m.Step(ev) {
			got = append(got, a.String())
		}
		got = append(got, summary(m))
		var want []string
		for i < len(lines) && lines[i] != "" && !strings.HasPrefix(lines[i], ">") &&
			!strings.HasPrefix(lines[i], "config") && !strings.HasPrefix(lines[i], "#") {
			want = append(want, lines[i])
			i++
		}
		if *update {
			out = append(out, got...)
			continue
		}
		out = append(out, want...)
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Errorf("%s:%d: %s\ngot:\n\t%s\nwant:\n\t%s", file, i-len(want), line,
				strings.Join(got, "\n\t"), strings.Join(want, "\n\t"))
		}
	}
	if *update {
		if err := os.WriteFile(file, []byte(strings.Join(out, "\n")+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func summary(m *Machine) string {
	c := m.Counters()
	s := fmt.Sprintf("= %s diag=%s tx=%s", c.State, c.LocalDiag, c.TransmitInterval)
	if c.DetectionTime != 0 {
		s += fmt.Sprintf(" detect=%s", c.DetectionTime)
	}
	if c.Polling {
		s += " poll"
	}
	if c.EchoActive {
		s += fmt.Sprintf(" echo=%s/%s", c.EchoInterval, c.EchoDetectionTime)
	}
	return s
}

func applyConfig(cfg Config, args []string) (Config, error) {
	for _, a := range args {
		k, v, _ := strings.Cut(a, "=")
		var err error
		switch k {
		case "discr":
			cfg.LocalDiscr, err = parseU32(v)
		case "echo-capable":
			cfg.EchoCapable = true
		case "auth":
			cfg.Auth.Type, err = parseAuthType(v)
		case "key":
			cfg.Auth.Secret = []byte(v)
		case "keyid":
			var n uint32
			n, err = parseU32(v)
			cfg.Auth.KeyID = uint8(n)
		case "seq0":
			cfg.InitialAuthSeq, err = parseU32(v)
		default:
			err = applyProfile(&cfg.Profile, k, v)
		}
		if err != nil {
			return cfg, fmt.Errorf("config %s: %v", a, err)
		}
	}
	return cfg, nil
}

func applyProfile(p *Profile, k, v string) error {
	var err error
	switch k {
	case "tx":
		p.TransmitInterval, err = parseMillis(v)
	case "rx":
		p.ReceiveInterval, err = parseMillis(v)
	case "echo":
		p.EchoInterval, err = parseMillis(v)
	case "mult":
		p.DetectMultiplier, err = parseU32(v)
	case "echo-mode":
		p.EchoMode, err = strconv.ParseBool(orTrue(v))
	case "passive":
		p.PassiveMode, err = strconv.ParseBool(orTrue(v))
	default:
		err = fmt.Errorf("unknown key")
	}
	return err
}

func orTrue(v string) string {
	if v == "" {
		return "true"
	}
	return v
}

func parseEvent(m *Machine, args []string) (Event, error) {
	if len(args) == 0 {
		return Event{}, fmt.Errorf("missing event")
	}
	var ev Event
	rest := args[1:]
	// rand= is common to every event.
	var kept []string
	for _, a := range rest {
		if v, ok := strings.CutPrefix(a, "rand="); ok {
			n, err := parseU32(v)
			if err != nil {
				return ev, err
			}
			ev.Rand = n
			continue
		}
		kept = append(kept, a)
	}
	rest = kept
	switch args[0] {
	case "Enable":
		ev.Kind = Enable
	case "Disable":
		ev.Kind = Disable
		for _, a := range rest {
			v, ok := strings.CutPrefix(a, "diag=")
			if !ok {
				return ev, fmt.Errorf("Disable: unknown argument %q", a)
			}
			n, err := parseU32(v)
			if err != nil {
				return ev, err
			}
			ev.Diag = Diag(n)
		}
	case "Recv":
		p, raw, err := parsePacket(rest)
		if err != nil {
			return ev, err
		}
		ev.Kind, ev.Packet, ev.Raw = Received, p, raw
	case "Expire":
		if len(rest) == 0 {
			return ev, fmt.Errorf("Expire: missing timer")
		}
		ev.Kind = TimerExpired
		t, ok := parseTimer(rest[0])
		if !ok {
			return ev, fmt.Errorf("unknown timer %q", rest[0])
		}
		ev.Timer, ev.Token = t, m.Token(t)
		for _, a := range rest[1:] {
			v, ok := strings.CutPrefix(a, "token=")
			if !ok {
				return ev, fmt.Errorf("Expire: unknown argument %q", a)
			}
			n, err := strconv.ParseUint(v, 10, 64)
			if err != nil {
				return ev, err
			}
			ev.Token = n
		}
	case "Echo":
		ev.Kind = EchoReceived
	case "Reconfigure":
		ev.Kind = Reconfigure
		ev.Profile = m.Config().Profile
		for _, a := range rest {
			k, v, _ := strings.Cut(a, "=")
			if err := applyProfile(&ev.Profile, k, v); err != nil {
				return ev, fmt.Errorf("%s: %v", a, err)
			}
		}
	default:
		return ev, fmt.Errorf("unknown event %q", args[0])
	}
	return ev, nil
}

// parsePacket builds the remote's packet, encodes and decodes it.
func parsePacket(args []string) (*Packet, []byte, error) {
	if len(args) == 0 {
		return nil, nil, fmt.Errorf("Recv: missing state")
	}
	p := Packet{DetectMult: 3, MyDiscr: remoteDiscr, YourDiscr: localDiscr, DesiredMinTx: 100_000, RequiredMinRx: 100_000}
	found := false
	for _, s := range States() {
		if s.String() == args[0] {
			p.State, found = s, true
		}
	}
	if !found {
		return nil, nil, fmt.Errorf("Recv: unknown state %q", args[0])
	}
	for _, a := range args[1:] {
		k, v, _ := strings.Cut(a, "=")
		var err error
		var n uint32
		switch k {
		case "P":
			p.Poll = true
		case "F":
			p.Final = true
		case "D":
			p.Demand = true
		case "your":
			p.YourDiscr, err = parseU32(v)
		case "my":
			p.MyDiscr, err = parseU32(v)
		case "tx":
			p.DesiredMinTx, err = parseMicros(v)
		case "rx":
			p.RequiredMinRx, err = parseMicros(v)
		case "echo":
			p.RequiredMinEchoRx, err = parseMicros(v)
		case "mult":
			n, err = parseU32(v)
			p.DetectMult = uint8(n)
		case "diag":
			n, err = parseU32(v)
			p.Diag = Diag(n)
		case "auth":
			p.Auth.Type, err = parseAuthType(v)
		case "key":
			p.Auth.Data = []byte(v)
		case "keyid":
			n, err = parseU32(v)
			p.Auth.KeyID = uint8(n)
		case "seq":
			p.Auth.Seq, err = parseU32(v)
		default:
			err = fmt.Errorf("unknown argument")
		}
		if err != nil {
			return nil, nil, fmt.Errorf("Recv %s: %v", a, err)
		}
	}
	raw, err := AppendPacket(nil, &p)
	if err != nil {
		return nil, nil, err
	}
	var got Packet
	if err := Decode(raw, &got); err != nil {
		return nil, nil, fmt.Errorf("Recv: the packet does not decode: %v", err)
	}
	return &got, raw, nil
}

func parseTimer(s string) (Timer, bool) {
	for _, t := range Timers() {
		if t.String() == s {
			return t, true
		}
	}
	return 0, false
}

func parseAuthType(s string) (AuthType, error) {
	switch s {
	case "simple":
		return AuthSimplePassword, nil
	case "md5":
		return AuthKeyedMD5, nil
	case "mmd5":
		return AuthMeticulousKeyedMD5, nil
	case "sha1":
		return AuthKeyedSHA1, nil
	case "msha1":
		return AuthMeticulousKeyedSHA1, nil
	}
	n, err := parseU32(s)
	return AuthType(n), err
}

func parseU32(s string) (uint32, error) {
	n, err := strconv.ParseUint(s, 10, 32)
	return uint32(n), err
}

func parseMicros(s string) (uint32, error) {
	d, err := time.ParseDuration(s)
	return uint32(d / time.Microsecond), err
}

func parseMillis(s string) (uint32, error) {
	d, err := time.ParseDuration(s)
	return uint32(d / time.Millisecond), err
}

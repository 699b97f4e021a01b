package bfd

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"pgregory.net/rapid"
)

func profileGen() *rapid.Generator[Profile] {
	return rapid.Custom(func(t *rapid.T) Profile {
		iv := []uint32{10, 50, 100, 300, 1000, 2000}
		return Profile{
			Name:             "p",
			TransmitInterval: rapid.SampledFrom(iv).Draw(t, "tx"),
			ReceiveInterval:  rapid.SampledFrom(iv).Draw(t, "rx"),
			DetectMultiplier: rapid.SampledFrom([]uint32{1, 2, 3, 5}).Draw(t, "mult"),
			EchoInterval:     rapid.SampledFrom([]uint32{50, 100, 300}).Draw(t, "echoInterval"),
			EchoMode:         rapid.Bool().Draw(t, "echoMode"),
			MinimumTTL:       254,
		}
	})
}

// pairGen draws the two ends' configurations: the same authentication on
// both, at most one passive end.
func pairGen() *rapid.Generator[[2]Config] {
	return rapid.Custom(func(t *rapid.T) [2]Config {
		auth := AuthConfig{Type: AuthType(rapid.IntRange(0, 5).Draw(t, "auth")), KeyID: 7, Secret: []byte("shared")}
		if auth.Type == AuthNone {
			auth.Secret = nil
		}
		echoCapable := rapid.Bool().Draw(t, "echoCapable")
		passive := rapid.IntRange(-1, 1).Draw(t, "passiveEnd")
		var out [2]Config
		for i := range out {
			out[i] = Config{
				Profile:        profileGen().Draw(t, fmt.Sprintf("profile%d", i)),
				LocalDiscr:     uint32(0xa0 + i),
				Auth:           auth,
				InitialAuthSeq: rapid.Uint32().Draw(t, fmt.Sprintf("seq%d", i)),
				EchoCapable:    echoCapable,
			}
			out[i].Profile.PassiveMode = passive == i
		}
		return out
	})
}

// A clean link (no loss, 0.1 to 1 ms of latency, far below every
// interval): the session comes up, and no profile change on either side,
// however timed, ever takes it down. This is what the §6.8.3 rules (a
// slower transmit interval only after the Final, a faster receive interval
// in the Detection Time only after the Final) and the re-polling of
// changes made during a Poll Sequence are for.
func TestPropertyProfileChangesNeverDropACleanSession(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		cfgs := pairGen().Draw(t, "configs")
		latency := time.Duration(rapid.IntRange(100, 1000).Draw(t, "latencyMicros")) * time.Microsecond
		s, err := newSim(rapid.Uint64().Draw(t, "seed"), latency, cfgs[0], cfgs[1])
		if err != nil {
			t.Fatalf("%v", err)
		}
		s.at(0, func(s *sim) { s.admin(0, Event{Kind: Enable}) })
		s.at(time.Duration(rapid.IntRange(0, 2000).Draw(t, "startB"))*time.Millisecond, func(s *sim) { s.admin(1, Event{Kind: Enable}) })
		s.stopOnFailure = func(*simEnd, simReport) bool { return true }
		changes := rapid.IntRange(0, 12).Draw(t, "changes")
		for c := range changes {
			end := rapid.IntRange(0, 1).Draw(t, fmt.Sprintf("end%d", c))
			at := time.Duration(rapid.IntRange(3000, 20000).Draw(t, fmt.Sprintf("at%d", c))) * time.Millisecond
			p := profileGen().Draw(t, fmt.Sprintf("new%d", c))
			p.PassiveMode = cfgs[end].Profile.PassiveMode
			s.at(at, func(s *sim) { s.admin(end, Event{Kind: Reconfigure, Profile: p}) })
		}
		s.run(30 * time.Second)
		if len(s.errs) > 0 {
			t.Fatalf("%s", strings.Join(s.errs, "\n"))
		}
		for i, e := range s.ends {
			if len(e.ups) == 0 {
				t.Fatalf("end %d never came up", i)
			}
			if e.ups[0].at > 5*time.Second {
				t.Fatalf("end %d came up only at %v", i, e.ups[0].at)
			}
			if len(e.downs) > 0 {
				t.Fatalf("end %d went down at %v (%s) on a clean link; counters %+v\n%s", i, e.downs[0].at, e.downs[0].cause, e.m.Counters(), s.recent())
			}
		}
	})
}

// A link that is cut and restored, and ends disabled and enabled: a
// failure is reported only when packets were lost shortly before, or, as
// the peer's Down with diag 3, after an AdminDown (see explained); an
// AdminDown is never reported as a failure; and once everything is
// restored the session comes back.
func TestPropertyFailuresAreRealAndRecover(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		cfgs := pairGen().Draw(t, "configs")
		latency := time.Duration(rapid.IntRange(100, 1000).Draw(t, "latencyMicros")) * time.Microsecond
		s, err := newSim(rapid.Uint64().Draw(t, "seed"), latency, cfgs[0], cfgs[1])
		if err != nil {
			t.Fatalf("%v", err)
		}
		s.at(0, func(s *sim) { s.admin(0, Event{Kind: Enable}) })
		s.at(0, func(s *sim) { s.admin(1, Event{Kind: Enable}) })
		const horizon = 20 * time.Second
		n := rapid.IntRange(1, 8).Draw(t, "disruptions")
		for d := range n {
			start := time.Duration(rapid.IntRange(2000, 15000).Draw(t, fmt.Sprintf("start%d", d))) * time.Millisecond
			length := time.Duration(rapid.IntRange(1, 3000).Draw(t, fmt.Sprintf("len%d", d))) * time.Millisecond
			end := rapid.IntRange(0, 1).Draw(t, fmt.Sprintf("end%d", d))
			if rapid.Bool().Draw(t, fmt.Sprintf("admin%d", d)) {
				diag := rapid.SampledFrom([]Diag{DiagNone, DiagPathDown}).Draw(t, fmt.Sprintf("diag%d", d))
				s.at(start, func(s *sim) { s.admin(end, Event{Kind: Disable, Diag: diag}) })
				s.at(start+length, func(s *sim) { s.admin(end, Event{Kind: Enable}) })
			} else {
				s.at(start, func(s *sim) { s.cut[end] = true })
				s.at(start+length, func(s *sim) { s.cut[end] = false })
			}
		}
		s.stopOnFailure = func(e *simEnd, r simReport) bool { return !explained(s, e, r) }
		s.run(horizon + 4*time.Second)
		if len(s.errs) > 0 {
			t.Fatalf("%s", strings.Join(s.errs, "\n"))
		}
		// Every end's failures first: a run stopped at an unexplained
		// failure of one end leaves the other wherever it was then.
		for i, e := range s.ends {
			for _, d := range e.downs {
				if !d.cause.Failure() {
					continue
				}
				if !explained(s, e, d) {
					t.Fatalf("end %d: failure %s (remote diag %s) at %v without a lost packet or an AdminDown before it\n%s",
						i, d.cause, d.remoteDiag, d.at, s.recent())
				}
			}
		}
		if s.stopped {
			t.Fatalf("the run stopped at %v without a failure to explain", s.now)
		}
		for i, e := range s.ends {
			// Everything is restored by 18 s; 6 s are enough to come back
			// (a packet within 2 s, then a Detection Time to forget a
			// sequence number lost track of during a cut).
			if c := e.m.Counters(); c.State != Up {
				t.Fatalf("end %d in %s at the end; counters %+v\n%s", i, c.State, c, s.recent())
			}
		}
	})
}

// TestAdminDownShorterThanARoundTrip replays the run the property above
// found (-rapid.seed=11870271136037003664, shrunk), with the passive end of
// that run and with two active ends: on a link that loses nothing, end 0
// is disabled for 1 ms at 2 s, end 1 for 1 ms at 2.001 s. End 1 goes Up on
// end 0's Init answering the Down it sent before its Disable, then Down on
// end 0's Down with diag 3 answering its AdminDown: a failure that only
// the AdminDown explains. Both ends are Up again at the end.
func TestAdminDownShorterThanARoundTrip(t *testing.T) {
	const latency = 667 * time.Microsecond
	prof := Profile{Name: "p", ReceiveInterval: 10, TransmitInterval: 10, DetectMultiplier: 1, EchoInterval: 50, MinimumTTL: 254}
	for _, passive := range []bool{true, false} {
		t.Run(fmt.Sprintf("end-0-passive-%v", passive), func(t *testing.T) {
			cfgs := [2]Config{{Profile: prof, LocalDiscr: 0xa0}, {Profile: prof, LocalDiscr: 0xa1}}
			cfgs[0].Profile.PassiveMode = passive
			s, err := newSim(0, latency, cfgs[0], cfgs[1])
			if err != nil {
				t.Fatal(err)
			}
			const ms = time.Millisecond
			s.at(0, func(s *sim) { s.admin(0, Event{Kind: Enable}); s.admin(1, Event{Kind: Enable}) })
			s.at(2000*ms, func(s *sim) { s.admin(0, Event{Kind: Disable}) })
			s.at(2001*ms, func(s *sim) { s.admin(0, Event{Kind: Enable}) })
			s.at(2001*ms, func(s *sim) { s.admin(1, Event{Kind: Disable}) })
			s.at(2002*ms, func(s *sim) { s.admin(1, Event{Kind: Enable}) })
			s.run(6 * time.Second)
			if len(s.errs) > 0 {
				t.Fatalf("%s", strings.Join(s.errs, "\n"))
			}
			// End 0's Init left when end 1's Down (sent on end 0's
			// AdminDown, 2 s + 1 latency) reached it; end 0's Down with
			// diag 3 when end 1's AdminDown (2.001 s) did.
			staleUp, down := 2000*ms+3*latency, 2001*ms+2*latency
			e := s.ends[1]
			if !slices.ContainsFunc(e.ups, func(r simReport) bool { return r.at == staleUp }) {
				t.Errorf("end 1 up at %v, want an Up at %v", e.ups, staleUp)
			}
			i := slices.IndexFunc(e.downs, func(r simReport) bool { return r.cause.Failure() })
			if i < 0 || e.downs[i] != (simReport{at: down, cause: CauseNeighborDown, remoteDiag: DiagNeighborSignaledSessionDown}) {
				t.Fatalf("end 1 downs %+v, want first failure NeighborDown (remote diag 3) at %v", e.downs, down)
			}
			for i, e := range s.ends {
				if len(e.drops) != 0 {
					t.Fatalf("end %d: packets lost at %v on a clean link", i, e.drops)
				}
				for _, d := range e.downs {
					if d.cause.Failure() && !explained(s, e, d) {
						t.Errorf("end %d: failure %+v not explained", i, d)
					}
				}
				if c := e.m.Counters(); c.State != Up {
					t.Errorf("end %d in %s at the end", i, c.State)
				}
			}
		})
	}
}

// explained is whether a failure has a cause in the longest Detection
// Time before it (5 × 2 s here): a packet to or from the end lost; or,
// when the failure is the peer's Down with diag 3 (Neighbor Signaled
// Session Down: its answer to a Down or AdminDown it received), a Disable
// of either end.
//
// The second cause needs no loss. Say an end sent Down (the peer's
// AdminDown took it there) and is disabled and enabled again before the
// peer's answer, Init, arrives. Down again, it goes Up on that Init
// (§6.8.6: Down + Init), since nothing in a Control packet tells an answer
// to the old Down from one to the new. The peer, in Init, got the end's
// AdminDown meanwhile and answers it with Down, diag 3, which takes the end
// Down (Up + Down) as NeighborDown; the peer, taken Up by the end's Up in
// turn, can go the same way. Every transition is the RFC's;
// TestAdminDownShorterThanARoundTrip replays one such run.
func explained(s *sim, e *simEnd, d simReport) bool {
	from := d.at - 10*time.Second - 2*s.latency
	if within(e.drops, from, d.at) {
		return true
	}
	return d.cause == CauseNeighborDown && d.remoteDiag == DiagNeighborSignaledSessionDown && within(s.disables, from, d.at)
}

// within is whether any of times is in [from, to].
func within(times []time.Duration, from, to time.Duration) bool {
	for _, t := range times {
		if t >= from && t <= to {
			return true
		}
	}
	return false
}

// When the link dies for good each end detects it after exactly the
// Detection Time in force at its last received packet.
func TestPropertyDetectionTimeIsExact(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		cfgs := pairGen().Draw(t, "configs")
		for i := range cfgs {
			cfgs[i].Profile.EchoMode = false
		}
		latency := 500 * time.Microsecond
		s, err := newSim(rapid.Uint64().Draw(t, "seed"), latency, cfgs[0], cfgs[1])
		if err != nil {
			t.Fatalf("%v", err)
		}
		s.at(0, func(s *sim) { s.admin(0, Event{Kind: Enable}); s.admin(1, Event{Kind: Enable}) })
		cutAt := time.Duration(rapid.IntRange(5000, 9000).Draw(t, "cut")) * time.Millisecond
		var detect [2]time.Duration
		s.at(cutAt, func(s *sim) {
			s.cut[0], s.cut[1] = true, true
			for i, e := range s.ends {
				detect[i] = e.m.Counters().DetectionTime
			}
		})
		s.run(30 * time.Second)
		if len(s.errs) > 0 {
			t.Fatalf("%s", strings.Join(s.errs, "\n"))
		}
		for i, e := range s.ends {
			if len(e.downs) != 1 || e.downs[0].cause != CauseDetectionTimeExpired {
				t.Fatalf("end %d: downs %+v", i, e.downs)
			}
			if got := e.downs[0].at - e.lastRecv; got != detect[i] {
				t.Fatalf("end %d: down %v after its last packet, Detection Time %v", i, got, detect[i])
			}
			if e.downs[0].at-cutAt > detect[i]+latency {
				t.Fatalf("end %d: down %v after the cut, Detection Time %v", i, e.downs[0].at-cutAt, detect[i])
			}
		}
	})
}

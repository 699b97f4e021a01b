package liveness

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"pgregory.net/rapid"
)

// A scenario is written as the votes each reporter casts: "W: X+ Y-" is
// W's report, X Up and Y Down; "W: leaving" a leaving report. The self's
// own observations are the line of the self. want lists the dead, from the
// rules of Decide's documentation, not from running it.
var scenarios = []struct {
	name  string
	votes []string
	dead  string
}{
	{"nobody reported: all alive (the API's list stands)", nil, ""},
	{"all watchers see x up", []string{"a: x+", "b: x+", "c: x+", "d: x+"}, ""},
	{"all watchers lost x", []string{"a: x-", "b: x-", "c: x-", "d: x-"}, "x"},
	{"one watcher's link to x is broken: 1 down, 3 up", []string{"a: x-", "b: x+", "c: x+", "d: x+"}, ""},
	{"x cut off from half its watchers: a tie keeps it", []string{"a: x-", "b: x-", "c: x+", "d: x+"}, ""},
	{"x cut off from three of four: dead although it runs", []string{"a: x-", "b: x-", "c: x-", "d: x+"}, "x"},
	{"a leaving speaker is dead whatever the votes", []string{"x: leaving", "a: x+", "b: x+"}, "x"},
	{"a dead reporter's up vote no longer saves x", []string{"w: x+", "a: x-", "b: w-", "c: w-"}, "w x"},
	{"a dead reporter's down vote no longer kills x", []string{"w: x-", "a: x+", "b: w-", "c: w-"}, "w"},
	{"but death is monotone: x, killed in the round w still voted, stays dead",
		[]string{"w: x-", "a: x+", "b: w-", "c: w-", "d: x-"}, "w x"},
	{"a reporter cannot vote about itself", []string{"x: x-", "a: x+"}, ""},
	{"votes of non-members and about non-members are ignored", []string{"zz: x-", "a: zz-"}, ""},
	{"two that lost each other, whose only witness died, both go",
		[]string{"a: b-", "b: a-", "c: a+ b+", "d: c-"}, "a b c"},
	{"self isolated: every own session down, so self stands down",
		[]string{"self: a- b- c- d-"}, "self"},
	{"self with one session up is not isolated", []string{"self: a- b- c- d+", "w: a+ b+ c+"}, ""},
	{"self's own votes count like a report",
		[]string{"self: x- y+", "a: x-", "b: x+"}, "x"},
	{"the others' majority is followed for self too",
		[]string{"self: a+ b+", "a: self-", "b: self-", "c: self-", "d: self+"}, "self"},
}

var scenarioMembers = []string{"self", "a", "b", "c", "d", "w", "x", "y"}

func parseScenario(t testing.TB, lines []string) (own []Observation, reports []Report) {
	for _, l := range lines {
		who, rest, ok := strings.Cut(l, ":")
		if !ok {
			t.Fatalf("bad line %q", l)
		}
		var obs []Observation
		leaving := false
		for _, f := range strings.Fields(rest) {
			switch {
			case f == "leaving":
				leaving = true
			case strings.HasSuffix(f, "+"):
				obs = append(obs, Observation{Node: strings.TrimSuffix(f, "+"), Up: true})
			case strings.HasSuffix(f, "-"):
				obs = append(obs, Observation{Node: strings.TrimSuffix(f, "-")})
			default:
				t.Fatalf("bad vote %q", f)
			}
		}
		if who == "self" {
			own = obs
			continue
		}
		reports = append(reports, Report{Reporter: who, Epoch: 1, Seq: 1, Leaving: leaving, Observations: obs})
	}
	return own, reports
}

func TestDecideScenarios(t *testing.T) {
	for _, s := range scenarios {
		t.Run(s.name, func(t *testing.T) {
			own, reports := parseScenario(t, s.votes)
			alive := Decide(Inputs{Members: scenarioMembers, Self: "self", Own: own, Reports: reports})
			var dead []string
			for _, m := range scenarioMembers {
				if !slices.Contains(alive, m) {
					dead = append(dead, m)
				}
			}
			slices.Sort(dead)
			want := strings.Fields(s.dead)
			slices.Sort(want)
			if !slices.Equal(dead, want) {
				t.Errorf("dead %v, want %v", dead, want)
			}
		})
	}
}

// Every speaker computes the same answer: a speaker's own observations
// weigh exactly like its report does in another speaker's view, so two
// speakers holding the same information agree on every member but
// themselves. Self-isolation is the one rule only the self applies, so the
// property holds between speakers alive in their own view (and a speaker
// dead in its own view publishes no observations, see View.Publish). The
// order of members and reports does not matter either.
func TestPropertySpeakersAgree(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		n := rapid.IntRange(2, 12).Draw(t, "n")
		var members []string
		for i := range n {
			members = append(members, fmt.Sprintf("n%02d", i))
		}
		var reports []Report
		for _, m := range members {
			var obs []Observation
			for _, o := range members {
				if o != m && rapid.IntRange(0, 2).Draw(t, m+o) > 0 {
					obs = append(obs, Observation{Node: o, Up: rapid.IntRange(0, 3).Draw(t, m+o+"up") > 0})
				}
			}
			reports = append(reports, Report{Reporter: m, Epoch: 1, Leaving: rapid.IntRange(0, 9).Draw(t, m+"leaving") == 0, Observations: obs})
		}
		views := map[string][]string{}
		for i, self := range members {
			var others []Report
			for j, r := range reports {
				if j != i {
					others = append(others, r)
				}
			}
			// The self's leaving flag is not in its own observations; a
			// leaving speaker computes nothing that matters.
			if reports[i].Leaving {
				continue
			}
			alive := Decide(Inputs{Members: members, Self: self, Own: reports[i].Observations, Reports: others})
			if !slices.Contains(alive, self) {
				continue
			}
			views[self] = alive
			shuffled := slices.Clone(members)
			rand.New(rand.NewPCG(uint64(i), 7)).Shuffle(len(shuffled), func(a, b int) { shuffled[a], shuffled[b] = shuffled[b], shuffled[a] })
			slices.Reverse(others)
			if again := Decide(Inputs{Members: shuffled, Self: self, Own: reports[i].Observations, Reports: others}); !slices.Equal(again, views[self]) {
				t.Fatalf("%s: order changed the answer: %v vs %v", self, views[self], again)
			}
		}
		for a, va := range views {
			for b, vb := range views {
				for _, m := range members {
					if m == a || m == b {
						continue
					}
					if slices.Contains(va, m) != slices.Contains(vb, m) {
						t.Fatalf("%s and %s disagree about %s: %v vs %v", a, b, m, va, vb)
					}
				}
			}
		}
	})
}

// Without cascades (every reporter alive), a member is dead exactly when
// more of its votes are Down than Up.
func TestPropertyMajority(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		up := rapid.IntRange(0, 6).Draw(t, "up")
		down := rapid.IntRange(0, 6).Draw(t, "down")
		members := []string{"self", "x"}
		var reports []Report
		for i := range up + down {
			w := fmt.Sprintf("w%d", i)
			members = append(members, w)
			reports = append(reports, Report{Reporter: w, Observations: []Observation{{Node: "x", Up: i < up}}})
		}
		alive := Decide(Inputs{Members: members, Self: "self", Reports: reports})
		if got, want := !slices.Contains(alive, "x"), down > up; got != want {
			t.Fatalf("%d up %d down: dead=%v", up, down, got)
		}
		if len(alive) < len(members)-1 {
			t.Fatalf("a watcher died: %v", alive)
		}
	})
}

func BenchmarkDecide1000(b *testing.B) {
	var members []string
	for i := range 1000 {
		members = append(members, fmt.Sprintf("node-%04d", i))
	}
	ring := Ring(members)
	var reports []Report
	for _, m := range ring[1:] {
		var obs []Observation
		for _, p := range Neighbors(ring, m, 2) {
			obs = append(obs, Observation{Node: p, Up: true})
		}
		reports = append(reports, Report{Reporter: m, Observations: obs})
	}
	b.ReportAllocs()
	for b.Loop() {
		Decide(Inputs{Members: ring, Self: ring[0], Reports: reports})
	}
}

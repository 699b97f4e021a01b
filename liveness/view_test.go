package liveness

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

func names(n int) []string {
	var out []string
	for i := range n {
		out = append(out, fmt.Sprintf("node-%04d", i))
	}
	return out
}

func TestRingAndNeighbors(t *testing.T) {
	for _, n := range []int{1, 2, 3, 4, 5, 6, 10, 100, 1000} {
		members := names(n)
		ring := Ring(members)
		rev := slices.Clone(members)
		slices.Reverse(rev)
		if !slices.Equal(ring, Ring(append(rev, rev[0]))) {
			t.Fatalf("n=%d: the ring depends on input order or duplicates", n)
		}
		for _, r := range []int{1, 2, 3} {
			watchers := map[string]int{}
			for _, m := range ring {
				nb := Neighbors(ring, m, r)
				if want := min(2*r, n-1); len(nb) != want {
					t.Fatalf("n=%d r=%d: %s has %d neighbours, want %d", n, r, m, len(nb), want)
				}
				for _, p := range nb {
					if p == m {
						t.Fatalf("%s is its own neighbour", m)
					}
					// Sessions are symmetric: each end wants the other.
					if !slices.Contains(Neighbors(ring, p, r), m) {
						t.Fatalf("n=%d r=%d: %s wants %s but not the other way", n, r, m, p)
					}
					watchers[p]++
				}
			}
			for _, m := range ring {
				if watchers[m] != min(2*r, n-1) {
					t.Fatalf("n=%d r=%d: %s has %d watchers", n, r, m, watchers[m])
				}
			}
		}
	}
}

// upView is the view of ring[0] among n members, with every wanted
// session Up.
func upView(t *testing.T, cfg Config, n int) (*View, []string) {
	t.Helper()
	ring := Ring(names(n))
	v := NewView(cfg, ring[0], 1)
	v.SetMembers(0, ring)
	for _, p := range v.Sessions() {
		v.SetSession(0, p, SessionUp)
	}
	return v, ring
}

func TestSessionsFollowTheRingAndHeal(t *testing.T) {
	v, ring := upView(t, Config{Neighbors: 2}, 20)
	want := Neighbors(ring, ring[0], 2)
	slices.Sort(want)
	if got := v.Sessions(); !slices.Equal(got, want) {
		t.Fatalf("sessions %v, want %v", got, want)
	}
	// Both successors die (their other watchers report them down): the
	// next two alive successors become sessions too, the dead ones stay.
	votes := map[string][]Observation{}
	for _, dead := range []string{ring[1], ring[2]} {
		for _, w := range Neighbors(ring, dead, 2) {
			if w != ring[0] {
				votes[w] = append(votes[w], Observation{Node: dead})
			}
		}
	}
	for w, obs := range votes {
		slices.SortFunc(obs, func(a, b Observation) int { return strings.Compare(a.Node, b.Node) })
		v.Receive(time.Second, Report{Reporter: w, Epoch: 1, Seq: 1, Observations: obs})
	}
	if v.IsAlive(ring[1]) || v.IsAlive(ring[2]) {
		t.Fatalf("%s and %s should be dead: %v", ring[1], ring[2], v.Alive())
	}
	got := v.Sessions()
	for _, p := range []string{ring[1], ring[2], ring[3], ring[4], ring[19], ring[18]} {
		if !slices.Contains(got, p) {
			t.Errorf("sessions %v lack %s", got, p)
		}
	}
	if len(got) != 6 {
		t.Errorf("sessions %v, want 6", got)
	}
}

func TestGraceTurnsASilentSessionIntoADownVote(t *testing.T) {
	cfg := Config{Neighbors: 1, Grace: 3 * time.Second}
	ring := Ring(names(10))
	v := NewView(cfg, ring[0], 1)
	v.SetMembers(time.Second, ring)
	v.SetSession(time.Second, ring[1], SessionUp)
	if obs := v.Observations(); len(obs) != 1 || obs[0] != (Observation{Node: ring[1], Up: true}) {
		t.Fatalf("observations %v", obs)
	}
	if d, ok := v.Deadline(); !ok || d != 4*time.Second {
		t.Fatalf("deadline %v %v, want the grace end at 4s", d, ok)
	}
	v.Tick(3999 * time.Millisecond)
	if obs := v.Observations(); len(obs) != 1 {
		t.Fatalf("a vote before the grace ended: %v", obs)
	}
	v.Tick(4 * time.Second)
	obs := v.Observations()
	if len(obs) != 2 || !slices.Contains(obs, Observation{Node: ring[9]}) {
		t.Fatalf("after the grace: %v", obs)
	}
	// A withdrawn session (the peer's AdminDown) does not vote for a
	// grace period: the peer may only have stopped wanting it, and then
	// answers again.
	v.SetSession(5*time.Second, ring[9], SessionWithdrawn)
	v.SetSession(5*time.Second, ring[1], SessionFailed)
	if obs := v.Observations(); len(obs) != 1 || obs[0] != (Observation{Node: ring[1]}) {
		t.Fatalf("observations %v", obs)
	}
	if d, ok := v.Deadline(); !ok || d != 8*time.Second {
		t.Fatalf("deadline %v %v, want the new grace end at 8s", d, ok)
	}
	// One that stays down past it (the peer stopped, and its leaving
	// report was lost) votes Down.
	v.Tick(8 * time.Second)
	if obs := v.Observations(); len(obs) != 2 || !slices.Contains(obs, Observation{Node: ring[9]}) {
		t.Fatalf("after the new grace: %v", obs)
	}
	// One that comes back Up votes Up.
	v.SetSession(9*time.Second, ring[9], SessionWithdrawn)
	v.SetSession(9500*time.Millisecond, ring[9], SessionUp)
	v.Tick(13 * time.Second)
	if obs := v.Observations(); len(obs) != 2 || !slices.Contains(obs, Observation{Node: ring[9], Up: true}) {
		t.Fatalf("back up: %v", obs)
	}
}

func TestReportsExpireAndOrderByVersion(t *testing.T) {
	cfg := Config{Neighbors: 2, ReportTTL: 30 * time.Second}
	v, ring := upView(t, cfg, 10)
	x := ring[5]
	down := func(w string, epoch, seq uint64) Report {
		return Report{Reporter: w, Epoch: epoch, Seq: seq, Observations: []Observation{{Node: x}}}
	}
	ws := Neighbors(ring, x, 2)
	for _, w := range ws[:3] {
		if !v.Receive(time.Second, down(w, 5, 5)) {
			t.Fatalf("report of %s not taken", w)
		}
	}
	if v.IsAlive(x) {
		t.Fatalf("%s alive with three of four watchers down", x)
	}
	// Older versions are ignored; a newer epoch wins over any sequence.
	up := down(ws[0], 5, 4)
	up.Observations[0].Up = true
	if v.Receive(2*time.Second, up) {
		t.Fatal("an older report was taken")
	}
	up.Epoch, up.Seq = 6, 1
	if !v.Receive(2*time.Second, up) {
		t.Fatal("a newer epoch was not taken")
	}
	if v.IsAlive(x) {
		t.Fatal("two down, one up: still dead")
	}
	// The reports of ws[1] and ws[2] expire 30 s after they arrived.
	if d, ok := v.Deadline(); !ok || d != 31*time.Second {
		t.Fatalf("deadline %v, want 31s", d)
	}
	v.Tick(31 * time.Second)
	if !v.IsAlive(x) {
		t.Fatalf("%s still dead on expired reports", x)
	}
	if v.Receive(32*time.Second, Report{Reporter: ring[0], Epoch: 99, Observations: []Observation{{Node: x}}}) {
		t.Fatal("a report claiming to be from self was taken")
	}
}

func TestPublishVersionsAndRefreshes(t *testing.T) {
	cfg := Config{Neighbors: 1, ReportTTL: 30 * time.Second}
	ring := Ring(names(5))
	v := NewView(cfg, ring[0], 7)
	v.SetMembers(0, ring)
	r1, ok := v.Publish(0)
	if !ok || r1.Epoch != 7 || r1.Seq != 1 || len(r1.Observations) != 0 {
		t.Fatalf("first report %+v %v", r1, ok)
	}
	if _, ok := v.Publish(time.Second); ok {
		t.Fatal("an unchanged report was republished")
	}
	v.SetSession(2*time.Second, ring[1], SessionUp)
	r2, ok := v.Publish(2 * time.Second)
	if !ok || r2.Seq != 2 || !slices.Equal(r2.Observations, []Observation{{Node: ring[1], Up: true}}) {
		t.Fatalf("changed report %+v %v", r2, ok)
	}
	if r3, ok := v.Publish(12 * time.Second); !ok || r3.Seq != 3 {
		t.Fatalf("no refresh after TTL/3: %+v %v", r3, ok)
	}
	v.Leave(13 * time.Second)
	if r4, ok := v.Publish(13 * time.Second); !ok || !r4.Leaving {
		t.Fatalf("leaving report %+v %v", r4, ok)
	}
	// The others count a leaving speaker dead at once.
	o := NewView(cfg, ring[2], 1)
	o.SetMembers(0, ring)
	r4, _ := v.Publish(13 * time.Second)
	o.Receive(14*time.Second, r4)
	if o.IsAlive(ring[0]) {
		t.Fatal("a leaving speaker is alive")
	}
}

// A speaker that sees none of its peers stands down, and says nothing
// about them.
func TestIsolatedSpeakerStandsDown(t *testing.T) {
	v, _ := upView(t, Config{Neighbors: 2}, 10)
	self := v.self
	for _, p := range v.Sessions() {
		v.SetSession(time.Second, p, SessionFailed)
	}
	if v.IsAlive(self) {
		t.Fatal("an isolated speaker thinks itself alive")
	}
	for _, p := range v.Sessions() {
		if !v.IsAlive(p) {
			t.Errorf("its own votes killed %s", p)
		}
	}
	if r, _ := v.Publish(time.Second); len(r.Observations) != 0 {
		t.Errorf("an isolated speaker published %v", r.Observations)
	}
	// A session it answers without wanting it (a second opinion another
	// speaker asked for) shows it is not isolated after all. (Its peers'
	// other watchers see them Up, so its own Down votes kill nobody.)
	var others []string
	for _, m := range v.ring {
		if m != self && !slices.Contains(v.Sessions(), m) {
			others = append(others, m)
		}
	}
	var ups []Observation
	for _, p := range v.Sessions() {
		ups = append(ups, Observation{Node: p, Up: true})
	}
	for _, w := range others[1:3] {
		v.Receive(2*time.Second, Report{Reporter: w, Epoch: 1, Seq: 1, Observations: ups})
	}
	other := others[0]
	v.SetSession(2*time.Second, other, SessionUp)
	if !v.IsAlive(self) {
		t.Error("a speaker with an answered session Up stands down")
	}
	v.SetSession(3*time.Second, other, SessionWithdrawn)
	if v.IsAlive(self) {
		t.Error("isolated again, but alive")
	}
	// The member leaving the list forgets the answered session too.
	v.SetSession(4*time.Second, other, SessionUp)
	var rest []string
	for _, m := range v.ring {
		if m != other {
			rest = append(rest, m)
		}
	}
	v.SetMembers(5*time.Second, rest)
	if v.IsAlive(self) {
		t.Error("an answered session of a former member keeps the speaker alive")
	}
}

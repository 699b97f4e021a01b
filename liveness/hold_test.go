package liveness

import (
	"slices"
	"testing"
	"time"
)

// The start hold, step by step: what Alive and Deadline say at each point
// for the member list the first SetMembers gives.
func TestStartHold(t *testing.T) {
	const hold = 3 * time.Second
	type step struct {
		at      time.Duration
		members []string // nil: no SetMembers at this step
		tick    bool
		alive   []string // in sorted order
		holding bool
		left    time.Duration // HoldLeft
	}
	for _, tc := range []struct {
		name  string
		cfg   Config
		steps []step
	}{
		{"alone at first: held for StartHold, then alive", Config{}, []step{
			{at: 0, members: []string{}, alive: []string{}, holding: true, left: hold},
			{at: hold - time.Millisecond, tick: true, alive: []string{}, holding: true, left: time.Millisecond},
			{at: hold, tick: true, alive: []string{"a"}},
		}},
		{"the list naming only self counts as alone", Config{}, []step{
			{at: 0, members: []string{"a"}, alive: []string{}, holding: true, left: hold},
			{at: hold, tick: true, alive: []string{"a"}},
		}},
		{"others heard of during the hold count at once; self still waits", Config{}, []step{
			{at: 0, members: []string{}, alive: []string{}, holding: true, left: hold},
			{at: time.Second, members: []string{"b", "c"}, alive: []string{"b", "c"}, holding: true, left: hold - time.Second},
			{at: hold, tick: true, alive: []string{"a", "b", "c"}},
		}},
		{"others listed at first: no hold", Config{}, []step{
			{at: 0, members: []string{"b"}, alive: []string{"a", "b"}},
			{at: time.Second, members: []string{}, alive: []string{"a"}},
		}},
		{"StartHold negative: no hold", Config{StartHold: -1}, []step{
			{at: 0, members: []string{}, alive: []string{"a"}},
		}},
		{"StartHold set", Config{StartHold: 500 * time.Millisecond}, []step{
			{at: 100 * time.Millisecond, members: []string{}, alive: []string{}, holding: true, left: 500 * time.Millisecond},
			{at: 600 * time.Millisecond, tick: true, alive: []string{"a"}},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := NewView(tc.cfg, "a", 1)
			for i, s := range tc.steps {
				if s.members != nil {
					v.SetMembers(s.at, s.members)
				}
				if s.tick {
					v.Tick(s.at)
				}
				got := v.Alive()
				slices.Sort(got)
				if !slices.Equal(got, s.alive) {
					t.Fatalf("step %d (t=%v): alive %v, want %v", i, s.at, got, s.alive)
				}
				if v.Holding() != s.holding || v.IsAlive("a") == s.holding {
					t.Fatalf("step %d (t=%v): Holding %v, IsAlive(self) %v, want holding %v", i, s.at, v.Holding(), v.IsAlive("a"), s.holding)
				}
				if left := v.HoldLeft(); left != s.left {
					t.Fatalf("step %d (t=%v): HoldLeft %v, want %v", i, s.at, left, s.left)
				}
				if d, ok := v.Deadline(); s.holding && (!ok || d > v.holdUntil) {
					t.Fatalf("step %d (t=%v): deadline %v %v, want no later than the hold's end %v", i, s.at, d, ok, v.holdUntil)
				}
			}
		})
	}
}

// A held speaker is not dead: it runs its sessions and publishes its
// votes, and the others count it alive, so the IPs that rank it first
// wait for it rather than moving twice.
func TestHeldSpeakerStillVotesAndCounts(t *testing.T) {
	v := NewView(Config{}, "a", 1)
	v.SetMembers(0, nil)
	v.SetMembers(time.Second, []string{"b"})
	if !slices.Equal(v.Sessions(), []string{"b"}) {
		t.Fatalf("held speaker's sessions %v, want [b]", v.Sessions())
	}
	v.SetSession(time.Second, "b", SessionUp)
	r, ok := v.Publish(time.Second)
	if !ok || r.Leaving || !slices.Equal(r.Observations, []Observation{{Node: "b", Up: true}}) {
		t.Fatalf("held speaker published %+v (new %v), want its Up vote for b", r, ok)
	}
	other := NewView(Config{}, "b", 1)
	other.SetMembers(time.Second, []string{"a"})
	other.Receive(time.Second, r)
	if !other.IsAlive("a") {
		t.Fatal("the others do not count a held speaker alive")
	}
}

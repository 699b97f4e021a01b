package bfdnet

import (
	"slices"
	"testing"
	"time"

	"github.com/heraldlb/herald/bgpwire/bfd"
	"pgregory.net/rapid"
)

// schedModel is the scheduler's reference: armed deadlines in a map, the
// due ones found by sorting all of them.
type schedModel struct {
	armed map[int]schedArm
}

type schedArm struct {
	at    time.Time
	token uint64
}

func (m *schedModel) due(now time.Time) []schedArm {
	var out []schedArm
	for i, a := range m.armed {
		if !a.at.After(now) {
			out = append(out, a)
			delete(m.armed, i)
		}
	}
	slices.SortFunc(out, func(x, y schedArm) int { return x.at.Compare(y.at) })
	return out
}

// The heap against the model: arbitrary sequences of set, re-set, cancel
// and popDue give the same expiries in deadline order, and the same next
// deadline.
func TestSchedulerModel(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	rapid.Check(t, func(rt *rapid.T) {
		q := newScheduler()
		model := &schedModel{armed: map[int]schedArm{}}
		entries := make([]*timerEntry, 12)
		for i := range entries {
			// Distinct sessions tell the entries apart in fired.
			entries[i] = &timerEntry{s: &Session{discr: uint32(i)}, t: bfd.TransmitTimer, index: -1}
		}
		now := t0
		token := uint64(0)
		rt.Repeat(map[string]func(*rapid.T){
			"set": func(rt *rapid.T) {
				i := rapid.IntRange(0, len(entries)-1).Draw(rt, "entry")
				// Deadlines on a 1 ms grid, some equal, none in a tie
				// whose order matters (ties compare by deadline only).
				at := now.Add(time.Duration(rapid.IntRange(-5, 50).Draw(rt, "ms")) * time.Millisecond)
				token++
				q.set(entries[i], at, token)
				model.armed[i] = schedArm{at: at, token: token}
			},
			"cancel": func(rt *rapid.T) {
				i := rapid.IntRange(0, len(entries)-1).Draw(rt, "entry")
				q.cancel(entries[i])
				delete(model.armed, i)
			},
			"pop": func(rt *rapid.T) {
				now = now.Add(time.Duration(rapid.IntRange(0, 20).Draw(rt, "advance ms")) * time.Millisecond)
				got, next, ok := q.popDue(now, nil)
				want := model.due(now)
				if len(got) != len(want) {
					rt.Fatalf("popDue(%s): %d expiries, model %d", now.Sub(t0), len(got), len(want))
				}
				for k := range got {
					if !got[k].at.Equal(want[k].at) {
						rt.Fatalf("expiry %d at %s, model %s", k, got[k].at.Sub(t0), want[k].at.Sub(t0))
					}
					if k > 0 && got[k].at.Before(got[k-1].at) {
						rt.Fatalf("expiries out of order")
					}
				}
				// Tokens: every expiry carries the token of its last set.
				tokens := map[uint64]bool{}
				for _, w := range want {
					tokens[w.token] = true
				}
				for _, g := range got {
					if !tokens[g.token] {
						rt.Fatalf("expiry with token %d, not one the model has due", g.token)
					}
				}
				var wantNext time.Time
				wantOK := false
				for _, a := range model.armed {
					if !wantOK || a.at.Before(wantNext) {
						wantNext, wantOK = a.at, true
					}
				}
				if ok != wantOK || (ok && !next.Equal(wantNext)) {
					rt.Fatalf("next %v %v, model %v %v", next.Sub(t0), ok, wantNext.Sub(t0), wantOK)
				}
			},
		})
		// The heap's invariant and the entries' indexes hold at the end.
		for i, e := range q.heap {
			if e.index != i {
				rt.Fatalf("entry at %d has index %d", i, e.index)
			}
			if i > 0 && q.heap[(i-1)/2].at.After(e.at) {
				rt.Fatalf("heap order broken at %d", i)
			}
		}
	})
}

func TestLatenessHistogram(t *testing.T) {
	var l lateness
	for _, d := range []time.Duration{-time.Millisecond, 50 * time.Microsecond, 100 * time.Microsecond,
		700 * time.Microsecond, 3 * time.Millisecond, 3 * time.Millisecond, 70 * time.Millisecond} {
		l.record(d)
	}
	s := l.snapshot()
	want := [len(LatenessBounds) + 1]uint64{3, 0, 1, 0, 2, 0, 0, 0, 1}
	if s.Counts != want || s.Count != 7 || s.Max != 70*time.Millisecond {
		t.Fatalf("counts %v count %d max %s", s.Counts, s.Count, s.Max)
	}
	for _, tc := range []struct {
		q    float64
		want time.Duration
	}{{0.3, 100 * time.Microsecond}, {0.5, time.Millisecond}, {0.8, 5 * time.Millisecond}, {1, 70 * time.Millisecond}} {
		if got := s.Quantile(tc.q); got != tc.want {
			t.Errorf("quantile %.1f: %s, want %s", tc.q, got, tc.want)
		}
	}
	if (Lateness{}).Quantile(0.5) != 0 {
		t.Error("empty histogram has a quantile")
	}
}

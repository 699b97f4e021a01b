package l2

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"testing"
	"time"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func ms(n int) time.Duration { return time.Duration(n) * time.Millisecond }

// scheduleStep is one action on a schedule and what due/next must say.
type scheduleStep struct {
	at    time.Duration // offset from t0
	start []netip.Addr  // start these first
	stop  []netip.Addr  // then stop these
	due   []netip.Addr  // due(at) must return these
	next  time.Duration // then next() must be t0+next; -1 for none
}

func TestAnnounceSchedule(t *testing.T) {
	a, b := svc4, svc6
	tests := []struct {
		name    string
		offsets []time.Duration
		refresh time.Duration
		steps   []scheduleStep
	}{
		{
			name:    "default schedule: 0, 250 ms, 1 s, 2 s, then nothing",
			offsets: DefaultSchedule,
			steps: []scheduleStep{
				{at: 0, start: []netip.Addr{a}, due: []netip.Addr{a}, next: ms(250)},
				{at: ms(249), next: ms(250)},
				{at: ms(250), due: []netip.Addr{a}, next: ms(1000)},
				{at: ms(1000), due: []netip.Addr{a}, next: ms(2000)},
				{at: ms(2000), due: []netip.Addr{a}, next: -1},
				{at: ms(60000), next: -1},
			},
		},
		{
			name:    "a late caller sends once and skips the offsets it missed",
			offsets: DefaultSchedule,
			steps: []scheduleStep{
				{at: 0, start: []netip.Addr{a}, due: []netip.Addr{a}, next: ms(250)},
				{at: ms(1500), due: []netip.Addr{a}, next: ms(2000)},
				{at: ms(2000), due: []netip.Addr{a}, next: -1},
			},
		},
		{
			name:    "refresh after the schedule, counted from the last offset",
			offsets: []time.Duration{0, ms(500)},
			refresh: ms(10000),
			steps: []scheduleStep{
				{at: 0, start: []netip.Addr{a}, due: []netip.Addr{a}, next: ms(500)},
				{at: ms(500), due: []netip.Addr{a}, next: ms(10500)},
				{at: ms(10600), due: []netip.Addr{a}, next: ms(20500)},
				{at: ms(45000), due: []netip.Addr{a}, next: ms(50500)},
			},
		},
		{
			name:    "two IPs on their own clocks, due in address order",
			offsets: []time.Duration{0, ms(1000)},
			steps: []scheduleStep{
				{at: 0, start: []netip.Addr{b}, due: []netip.Addr{b}, next: ms(1000)},
				{at: ms(400), start: []netip.Addr{a}, due: []netip.Addr{a}, next: ms(1000)},
				{at: ms(1000), due: []netip.Addr{b}, next: ms(1400)},
				{at: ms(1400), due: []netip.Addr{a}, next: -1},
			},
		},
		{
			name:    "both due at once come out sorted",
			offsets: []time.Duration{0},
			steps: []scheduleStep{
				{at: 0, start: []netip.Addr{b, a}, due: []netip.Addr{a, b}, next: -1},
			},
		},
		{
			name:    "restart begins again from the first offset",
			offsets: DefaultSchedule,
			steps: []scheduleStep{
				{at: 0, start: []netip.Addr{a}, due: []netip.Addr{a}, next: ms(250)},
				{at: ms(250), due: []netip.Addr{a}, next: ms(1000)},
				{at: ms(600), start: []netip.Addr{a}, due: []netip.Addr{a}, next: ms(850)},
				{at: ms(850), due: []netip.Addr{a}, next: ms(1600)},
			},
		},
		{
			name:    "stop forgets the IP",
			offsets: DefaultSchedule,
			refresh: time.Minute,
			steps: []scheduleStep{
				{at: 0, start: []netip.Addr{a, b}, due: []netip.Addr{a, b}, next: ms(250)},
				{at: ms(100), stop: []netip.Addr{a}, next: ms(250)},
				{at: ms(250), due: []netip.Addr{b}, next: ms(1000)},
				{at: ms(300), stop: []netip.Addr{b}, next: -1},
			},
		},
		{
			name:    "a first offset above zero delays the first send",
			offsets: []time.Duration{ms(100)},
			steps: []scheduleStep{
				{at: 0, start: []netip.Addr{a}, next: ms(100)},
				{at: ms(100), due: []netip.Addr{a}, next: -1},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := newAnnounceSchedule(tt.offsets, tt.refresh)
			if err != nil {
				t.Fatal(err)
			}
			for i, st := range tt.steps {
				now := t0.Add(st.at)
				for _, ip := range st.start {
					s.start(ip, now)
				}
				for _, ip := range st.stop {
					s.stop(ip)
				}
				got := s.due(now, nil)
				if !slices.Equal(got, st.due) {
					t.Fatalf("step %d at %v: due %v, want %v", i, st.at, got, st.due)
				}
				at, ok := s.next()
				switch {
				case st.next < 0 && ok:
					t.Fatalf("step %d at %v: next %v, want none", i, st.at, at.Sub(t0))
				case st.next >= 0 && (!ok || !at.Equal(t0.Add(st.next))):
					t.Fatalf("step %d at %v: next %v (pending %v), want %v", i, st.at, at.Sub(t0), ok, st.next)
				}
			}
		})
	}
}

func TestAnnounceScheduleRejects(t *testing.T) {
	tests := []struct {
		offsets []time.Duration
		refresh time.Duration
	}{
		{nil, 0},
		{[]time.Duration{-1}, 0},
		{[]time.Duration{0, 0}, 0},
		{[]time.Duration{ms(500), ms(100)}, 0},
		{[]time.Duration{0}, -time.Second},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.offsets, tt.refresh), func(t *testing.T) {
			if _, err := newAnnounceSchedule(tt.offsets, tt.refresh); !errors.Is(err, ErrConfig) {
				t.Fatalf("error %v, want ErrConfig", err)
			}
		})
	}
}

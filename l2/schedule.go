package l2

import (
	"fmt"
	"net/netip"
	"slices"
	"time"
)

// DefaultSchedule is when gratuitous messages go out after an IP is taken
// over, as offsets from the takeover: at once, then three repeats that
// cover a lost first frame and a switch that learns the MAC late. RFC 4861
// §7.2.6 suggests at most 3 unsolicited NAs spaced by 1 s; the extra early
// repeat trades one frame for a faster fix when the first is lost.
var DefaultSchedule = []time.Duration{0, 250 * time.Millisecond, time.Second, 2 * time.Second}

// announceSchedule is the pure state of the gratuitous schedule: which IPs
// are due to be announced when. It reads no clock; the caller passes the
// time in and arms one timer for next().
type announceSchedule struct {
	offsets []time.Duration
	refresh time.Duration
	pending map[netip.Addr]*announceState
}

type announceState struct {
	start time.Time
	step  int       // index into offsets of the next send; len(offsets) once in refresh
	at    time.Time // when the next send is due
}

// newAnnounceSchedule checks offsets (non-empty, non-negative, strictly
// increasing) and refresh (zero for none, else positive).
func newAnnounceSchedule(offsets []time.Duration, refresh time.Duration) (*announceSchedule, error) {
	if len(offsets) == 0 {
		return nil, fmt.Errorf("%w: gratuitous schedule is empty", ErrConfig)
	}
	for i, d := range offsets {
		if d < 0 || (i > 0 && d <= offsets[i-1]) {
			return nil, fmt.Errorf("%w: gratuitous schedule %v must start at 0 or later and increase", ErrConfig, offsets)
		}
	}
	if refresh < 0 {
		return nil, fmt.Errorf("%w: gratuitous refresh %v is negative", ErrConfig, refresh)
	}
	return &announceSchedule{offsets: slices.Clone(offsets), refresh: refresh, pending: map[netip.Addr]*announceState{}}, nil
}

// start (re)starts the schedule for ip from its first offset at now.
func (s *announceSchedule) start(ip netip.Addr, now time.Time) {
	s.pending[ip] = &announceState{start: now, at: now.Add(s.offsets[0])}
}

// stop forgets ip: nothing more is sent for it.
func (s *announceSchedule) stop(ip netip.Addr) {
	delete(s.pending, ip)
}

// due appends to dst, in address order, the IPs whose next send is due at
// now and advances each one past now. A late caller (a stalled goroutine,
// a stepped clock) gets each due IP once, not one send per missed offset:
// a burst of stale repeats helps nobody. After the last offset an IP moves
// to the refresh period, or leaves the schedule when there is none.
func (s *announceSchedule) due(now time.Time, dst []netip.Addr) []netip.Addr {
	first := len(dst)
	for ip, st := range s.pending {
		if st.at.After(now) {
			continue
		}
		dst = append(dst, ip)
		for !st.at.After(now) {
			if st.step+1 < len(s.offsets) {
				st.step++
				st.at = st.start.Add(s.offsets[st.step])
				continue
			}
			if s.refresh == 0 {
				delete(s.pending, ip)
				break
			}
			st.step = len(s.offsets)
			st.at = st.at.Add(s.refresh)
		}
	}
	slices.SortFunc(dst[first:], func(a, b netip.Addr) int { return a.Compare(b) })
	return dst
}

// next is when the earliest pending send is due; ok is false when nothing
// is pending.
func (s *announceSchedule) next() (at time.Time, ok bool) {
	for _, st := range s.pending {
		if !ok || st.at.Before(at) {
			at, ok = st.at, true
		}
	}
	return at, ok
}

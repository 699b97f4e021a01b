package bfdnet

import (
	"sync"
	"time"

	"github.com/heraldlb/herald/bgpwire/bfd"
)

// The scheduler is one min-heap of deadlines for every timer of every
// session, run by one goroutine (Manager.run). A timer wheel was the other
// candidate: it costs a wake-up per tick whether or not anything is due,
// and a tick fine enough for 50 ms sessions with 25% jitter (1 ms or less)
// means a thousand wake-ups a second on an idle node; a heap sleeps until
// the next deadline exactly and costs O(log n) per arm, which at 4 timers
// per session and a few thousand sessions is a handful of comparisons. One
// goroutine per session was the third: the runtime's timers are a heap as
// well, but every expiry then wakes its own goroutine, and the receive
// path would have to hand packets to that goroutine through a channel.
// Here the reader goroutines step a session's machine themselves, under
// the session's lock, and only the expiries go through this heap.

// lingerTimer is the shell's own timer in a session's table (bfd.Timer
// values start at 1): the repeats of the last AdminDown after Remove.
const lingerTimer bfd.Timer = 0

// timerSlots is the size of a session's timer table: lingerTimer and the
// machine's four.
const timerSlots = 5

// timerEntry is one timer of one session. Its fields after s and t are
// guarded by the scheduler's mutex.
type timerEntry struct {
	s     *Session
	t     bfd.Timer
	at    time.Time
	token uint64
	index int // in the heap; -1 when not scheduled
}

// fired is an expiry taken off the heap, to be stepped without the
// scheduler's lock.
type fired struct {
	s     *Session
	t     bfd.Timer
	token uint64
	at    time.Time
}

type scheduler struct {
	mu   sync.Mutex
	heap []*timerEntry
	// wake is poked when a deadline earlier than the one the loop sleeps
	// toward is set.
	wake chan struct{}
}

func newScheduler() *scheduler { return &scheduler{wake: make(chan struct{}, 1)} }

// set (re)arms e for at with token.
func (q *scheduler) set(e *timerEntry, at time.Time, token uint64) {
	q.mu.Lock()
	e.at, e.token = at, token
	if e.index >= 0 {
		q.fix(e.index)
	} else {
		e.index = len(q.heap)
		q.heap = append(q.heap, e)
		q.up(e.index)
	}
	first := q.heap[0] == e
	q.mu.Unlock()
	if first {
		select {
		case q.wake <- struct{}{}:
		default:
		}
	}
}

// cancel disarms e if it is armed.
func (q *scheduler) cancel(e *timerEntry) {
	q.mu.Lock()
	if i := e.index; i >= 0 {
		last := len(q.heap) - 1
		if i != last {
			q.swap(i, last)
		}
		q.heap[last] = nil
		q.heap = q.heap[:last]
		e.index = -1
		if i != last {
			q.fix(i)
		}
	}
	q.mu.Unlock()
}

// popDue appends to out every entry due at now, in deadline order, and
// returns the next deadline after them (ok false when nothing is armed).
func (q *scheduler) popDue(now time.Time, out []fired) (_ []fired, next time.Time, ok bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for len(q.heap) > 0 {
		e := q.heap[0]
		if e.at.After(now) {
			return out, e.at, true
		}
		out = append(out, fired{s: e.s, t: e.t, token: e.token, at: e.at})
		last := len(q.heap) - 1
		q.swap(0, last)
		q.heap[last] = nil
		q.heap = q.heap[:last]
		e.index = -1
		if last > 0 {
			q.down(0)
		}
	}
	return out, time.Time{}, false
}

// next is the earliest deadline.
func (q *scheduler) next() (time.Time, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.heap) == 0 {
		return time.Time{}, false
	}
	return q.heap[0].at, true
}

func (q *scheduler) less(i, j int) bool { return q.heap[i].at.Before(q.heap[j].at) }

func (q *scheduler) swap(i, j int) {
	q.heap[i], q.heap[j] = q.heap[j], q.heap[i]
	q.heap[i].index, q.heap[j].index = i, j
}

func (q *scheduler) fix(i int) {
	if !q.down(i) {
		q.up(i)
	}
}

func (q *scheduler) up(i int) {
	for i > 0 {
		p := (i - 1) / 2
		if !q.less(i, p) {
			return
		}
		q.swap(i, p)
		i = p
	}
}

// down sifts i down and reports whether it moved.
func (q *scheduler) down(i int) bool {
	start, n := i, len(q.heap)
	for {
		l := 2*i + 1
		if l >= n {
			break
		}
		c := l
		if r := l + 1; r < n && q.less(r, l) {
			c = r
		}
		if !q.less(c, i) {
			break
		}
		q.swap(i, c)
		i = c
	}
	return i > start
}

package actors

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/cenkalti/backoff/v4"
	"k8s.io/utils/clock"
)

// Runtime is what every actor of one tree shares to reach the world: the
// tree's lifetime, the root context that carries results and timer messages
// back into actors, the injected clock, the retry bounds and a counter for
// failed API writes. A tree fills it before its first actor starts and never
// changes it, so actors read it without locks.
type Runtime struct {
	Log *slog.Logger
	// Ctx is the tree's lifetime (a leadership term, a speaker run): every
	// API call uses it, so a deposed leader or a stopping speaker stops
	// writing at once, and results that arrive after it ended are dropped.
	Ctx context.Context
	// Root sends results of API calls (made on their own goroutines) and
	// timer messages back into the actors; an actor's Context is never
	// used off its own goroutine.
	Root  *actor.RootContext
	Clock clock.WithDelayedExecution
	// BackoffInitial and BackoffMax bound every actor's retry delays.
	BackoffInitial, BackoffMax time.Duration
	// APIError counts a failed write to the Kubernetes API, by resource
	// (nil: not counted).
	APIError func(resource string)

	// calls are the API calls in flight (GoAPI), so a tree that stops can
	// wait for its last writes before it says it has stopped.
	calls sync.WaitGroup
}

// Retry is the timer message an actor's backoff sends to itself.
type Retry struct{}

// After sends msg to pid once delay has passed on the injected clock,
// unless the tree's lifetime has ended by then.
func (r *Runtime) After(delay time.Duration, pid *actor.PID, msg any) {
	r.Clock.AfterFunc(delay, func() {
		if r.Ctx.Err() == nil {
			r.Root.Send(pid, msg)
		}
	})
}

// GoAPI runs an API call on its own goroutine and sends its result to pid,
// so no actor ever waits on the network.
func GoAPI[T any](r *Runtime, pid *actor.PID, call func(ctx context.Context) T) {
	r.calls.Add(1)
	go func() {
		defer r.calls.Done()
		res := call(r.Ctx)
		if r.Ctx.Err() != nil {
			// The tree is being stopped: the result would land in a dead
			// mailbox or, worse, in the next term's actor of that name.
			return
		}
		r.Root.Send(pid, res)
	}()
}

// WaitCalls waits until no API call started by GoAPI is in flight, or
// timeout passes; it reports whether they all returned.
func (r *Runtime) WaitCalls(timeout time.Duration) bool {
	done := make(chan struct{})
	go func() { r.calls.Wait(); close(done) }()
	select {
	case <-done:
		return true
	case <-time.After(timeout):
		return false
	}
}

// NewBackoff is the per-actor retry policy for expected failures (API
// conflicts, timeouts, a restarting API server, a refused connection):
// exponential between the configured bounds, on the injected clock, and it
// never gives up (MaxElapsedTime 0), because the actor's job does not go
// away.
func (r *Runtime) NewBackoff() *backoff.ExponentialBackOff {
	b := backoff.NewExponentialBackOff(
		backoff.WithInitialInterval(r.BackoffInitial),
		backoff.WithMaxInterval(r.BackoffMax),
		backoff.WithMaxElapsedTime(0),
		backoff.WithClockProvider(r.Clock),
	)
	b.Reset()
	return b
}

// NextDelay returns the next retry delay. With MaxElapsedTime 0 the policy
// never says Stop, but a Stop would mean "give up", which Herald's actors
// never do: it then retries at the longest interval.
func NextDelay(b *backoff.ExponentialBackOff) time.Duration {
	d := b.NextBackOff()
	if d == backoff.Stop {
		return b.MaxInterval
	}
	return d
}

func (r *Runtime) apiError(resource string) {
	if r.APIError != nil {
		r.APIError(resource)
	}
}

package actors

import (
	"context"
	"errors"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/cenkalti/backoff/v4"
)

// StatusWriter publishes one object's status for the actor that owns it:
// it keeps only the latest desired value, has at most one write in flight
// (a burst of changes costs one or two writes, not one per change), skips
// a write of what was last written, and retries failures on the actor's
// backoff. The owning actor passes it the StatusWritten and Retry messages
// it receives.
type StatusWriter[T any] struct {
	rt *Runtime
	// what names the object kind in logs and the API error metric; name
	// is the object's.
	what, name string
	same       func(a, b T) bool
	// write runs on its own goroutine and makes the object's status say
	// v; ErrNothingToWrite means there is no object to write to. first is
	// set until a write of this writer has succeeded: only then may write
	// skip the API call because the object already says v, judged on a
	// live read. Afterwards the writer knows what it last wrote, and the
	// informer cache may lag behind it, so comparing with the cache could
	// skip a write that is needed.
	write func(ctx context.Context, v T, first bool) error

	desired  T
	have     bool
	written  *T
	inflight bool
	dirty    bool
	bo       *backoff.ExponentialBackOff
}

// StatusWritten is the outcome of one StatusWriter write.
type StatusWritten[T any] struct {
	status T
	err    error
}

// ErrNothingToWrite: the object is gone (or not there yet); the next
// desired value will try again.
var ErrNothingToWrite = errors.New("no object to write the status of")

// NewStatusWriter builds a writer for one object: what names its kind in
// logs and the API error counter, name the object.
func NewStatusWriter[T any](rt *Runtime, what, name string, same func(a, b T) bool, write func(ctx context.Context, v T, first bool) error) *StatusWriter[T] {
	return &StatusWriter[T]{rt: rt, what: what, name: name, same: same, write: write, bo: rt.NewBackoff()}
}

// Set makes v the status to publish.
func (w *StatusWriter[T]) Set(c actor.Context, v T) {
	w.desired, w.have = v, true
	w.Flush(c)
}

// Flush starts a write of the desired status unless one is in flight (then
// it follows that one) or it is already written. A Retry message calls it.
func (w *StatusWriter[T]) Flush(c actor.Context) {
	if !w.have {
		return
	}
	if w.inflight {
		w.dirty = true
		return
	}
	w.dirty = false
	if w.written != nil && w.same(*w.written, w.desired) {
		return
	}
	w.inflight = true
	v, first := w.desired, w.written == nil
	GoAPI(w.rt, c.Self(), func(ctx context.Context) StatusWritten[T] {
		return StatusWritten[T]{status: v, err: w.write(ctx, v, first)}
	})
}

// Done takes the outcome of a write.
func (w *StatusWriter[T]) Done(c actor.Context, m StatusWritten[T]) {
	w.inflight = false
	switch {
	case errors.Is(m.err, ErrNothingToWrite):
	case m.err != nil:
		w.rt.apiError(w.what)
		w.rt.Log.Warn("writing status failed; will retry", "kind", w.what, "name", w.name, "err", m.err)
		w.rt.After(NextDelay(w.bo), c.Self(), Retry{})
		return
	default:
		w.bo.Reset()
		st := m.status
		w.written = &st
	}
	if w.dirty {
		w.Flush(c)
	}
}

package actors

import (
	"context"
	"errors"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/cenkalti/backoff/v4"
)

// statusWriter publishes one object's status for the actor that owns it:
// it keeps only the latest desired value, has at most one write in flight
// (a burst of changes costs one or two writes, not one per change), skips
// a write of what was last written, and retries failures on the actor's
// backoff. The owning actor passes it the statusWritten and retry messages
// it receives.
type statusWriter[T any] struct {
	e *env
	// what names the object kind in logs and the API error metric; name
	// is the object's.
	what, name string
	same       func(a, b T) bool
	// write runs on its own goroutine and makes the object's status say
	// v; errNothingToWrite means there is no object to write to. first is
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

// statusWritten is the outcome of one statusWriter write.
type statusWritten[T any] struct {
	status T
	err    error
}

// errNothingToWrite: the object is gone (or not there yet); the next
// desired value will try again.
var errNothingToWrite = errors.New("no object to write the status of")

func newStatusWriter[T any](e *env, what, name string, same func(a, b T) bool, write func(ctx context.Context, v T, first bool) error) *statusWriter[T] {
	return &statusWriter[T]{e: e, what: what, name: name, same: same, write: write, bo: e.newBackoff()}
}

// set makes v the status to publish.
func (w *statusWriter[T]) set(c actor.Context, v T) {
	w.desired, w.have = v, true
	w.flush(c)
}

// flush starts a write of the desired status unless one is in flight (then
// it follows that one) or it is already written. A retry message calls it.
func (w *statusWriter[T]) flush(c actor.Context) {
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
	goAPI(w.e, c.Self(), func(ctx context.Context) statusWritten[T] {
		return statusWritten[T]{status: v, err: w.write(ctx, v, first)}
	})
}

// done takes the outcome of a write.
func (w *statusWriter[T]) done(c actor.Context, m statusWritten[T]) {
	w.inflight = false
	switch {
	case errors.Is(m.err, errNothingToWrite):
	case m.err != nil:
		w.e.metrics.apiError(w.what)
		w.e.log.Warn("writing status failed; will retry", "kind", w.what, "name", w.name, "err", m.err)
		w.e.after(nextDelay(w.bo), c.Self(), retry{})
		return
	default:
		w.bo.Reset()
		st := m.status
		w.written = &st
	}
	if w.dirty {
		w.flush(c)
	}
}

package actors

import (
	"context"
	"log/slog"
	"net/netip"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/record"
	"k8s.io/utils/clock"

	"github.com/heraldlb/herald/alloc"
	"github.com/heraldlb/herald/api/client/clientset/versioned"
	"github.com/heraldlb/herald/informers"
)

// env is what every actor of one leadership term shares. It is filled
// before the first actor starts and never changed afterwards, so actors read
// it without locks.
type env struct {
	log       *slog.Logger
	kube      kubernetes.Interface
	mlb       versioned.Interface
	inf       *informers.Informers
	recorder  record.EventRecorder
	metrics   *Metrics
	namespace string
	class     string

	// ctx is the leadership term: it ends when the Lease is lost or the
	// controller stops, and every API write uses it, so a deposed leader
	// stops writing at once.
	ctx context.Context
	// root sends results of API calls (made on their own goroutines) and
	// timer messages back into the actors; an actor's Context is never
	// used off its own goroutine.
	root  *actor.RootContext
	clock clock.WithDelayedExecution

	backoffInitial, backoffMax time.Duration
	// remindEvery repeats a lasting AllocationFailed Event (0: never).
	remindEvery time.Duration

	// pids of the top-level actors, known before any is spawned (their
	// names are fixed), so no actor waits for another's PID.
	router, allocator, config *actor.PID
}

// after sends msg to pid once delay has passed on the injected clock,
// unless the term has ended by then.
func (e *env) after(delay time.Duration, pid *actor.PID, msg any) {
	e.clock.AfterFunc(delay, func() {
		if e.ctx.Err() == nil {
			e.root.Send(pid, msg)
		}
	})
}

// goAPI runs an API call on its own goroutine and sends its result to pid,
// so no actor ever waits on the network.
func goAPI[T any](e *env, pid *actor.PID, call func(ctx context.Context) T) {
	go func() {
		res := call(e.ctx)
		if e.ctx.Err() != nil {
			// The term ended: the actors are being poisoned and the
			// result would land in a dead mailbox or, worse, a new term.
			return
		}
		e.root.Send(pid, res)
	}()
}

// Messages. Unexported: only this package's actors exchange them.
type (
	// kick tells a Service actor to re-read its Service; n counts the kicks
	// the router sent it, so the router can tell whether an idle actor has
	// seen everything.
	kick struct{ n uint64 }
	// idle: a Service actor has nothing left to do after kick n.
	// fwd counts the messages the router forwarded to it (forService),
	// so the router does not stop an actor with one still queued.
	idle struct {
		key alloc.ServiceKey
		n   uint64
		fwd uint64
	}
	// forService asks the router to deliver msg to a Service's actor,
	// spawning it if needed; the actor gets it as forwarded, numbered
	// (absolute, like kicks, so a restarted actor catches up with the
	// router's count from the next one).
	forService struct {
		key alloc.ServiceKey
		msg any
	}
	forwarded struct {
		n   uint64
		msg any
	}

	// allocResult is the allocator's decision for one Service.
	allocResult struct {
		assignment alloc.Assignment
		err        error
		// conflict is set when the Service's existing status IP was
		// refused at restore (another Service won it).
		conflict error
		// pending says why no decision can be made yet (no valid
		// configuration since the term started); status is left alone.
		pending error
	}
	// configInvalid tells a not yet ready allocator why it is waiting.
	configInvalid struct{ reason string }
	// ensure asks the allocator to give the Service what its spec asks.
	ensure struct{ svc informers.Service }
	// release frees whatever the Service holds.
	release struct{ key alloc.ServiceKey }
	// configLoaded carries the pools of a newly compiled valid config.
	configLoaded struct{ pools []alloc.Pool }
	// resendConfig asks the config actor to send its last valid config
	// again (a restarted allocator lost it).
	resendConfig  struct{}
	configChanged struct{}
	compileNow    struct{}
	retryFailed   struct{}
	publishStats  struct{}
	poolStats     struct{ stats alloc.PoolStats }
	// retry is a backoff timer firing.
	retry struct{}

	// revoked tells a Service's actor that the allocator took these IPs
	// from it and keeps them reserved until its status no longer shows
	// them; statusClear is the actor's answer. Each reservation carries
	// the generation it was made in, so a late answer about an earlier
	// reservation of the same IP frees nothing.
	revoked     struct{ reservations []reservation }
	statusClear struct {
		key          alloc.ServiceKey
		reservations []reservation
	}
	// whatReserved asks the allocator to send a (restarted) Service actor
	// the reservations still waiting for it.
	whatReserved struct{ key alloc.ServiceKey }
	// remind repeats failure number gen's Event if it still stands.
	remind struct{ gen uint64 }
)

// reservation is one IP reserved for a Service until its status is clear.
type reservation struct {
	ip  netip.Addr
	gen uint64
}

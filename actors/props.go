package actors

import (
	"context"
	"fmt"
	"log/slog"
	"reflect"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
)

// NewProps is the one constructor of every Props in Herald. Each call builds
// a fresh Props, so a middleware chain is never shared between actor kinds.
// kind names the actor in logs; produce must return a new actor each time
// (a supervisor restart calls it again, and the new actor rebuilds its state
// in Started).
func NewProps(log *slog.Logger, kind string, produce func() actor.Actor) *actor.Props {
	l := log.With("actor", kind)
	return actor.PropsFromProducer(produce,
		actor.WithSupervisor(supervisor(l)),
		actor.WithReceiverMiddleware(traceMiddleware(l)),
	)
}

// Incarnations is a producer for NewProps that tells each actor it makes
// whether it follows a failed one: protoactor calls a child's producer
// again for each restart, so every call after the first makes a restarted
// actor, which must rebuild what its failed predecessor knew instead of
// waiting for what is sent only once. One Incarnations serves one spawn (a
// respawned child starts counting again). The count is atomic because a
// restart calls the producer from the child's mailbox, not its parent's.
func Incarnations(produce func(restarted bool) actor.Actor) func() actor.Actor {
	var n atomic.Int32
	return func() actor.Actor { return produce(n.Add(1) > 1) }
}

// supervisor decides for the children of an actor built by NewProps. A panic
// is a broken invariant: the child restarts from its last snapshot, and a
// child that keeps breaking (10 times in a minute) is stopped rather than
// spinning; its parent learns it through Terminated.
func supervisor(log *slog.Logger) actor.SupervisorStrategy {
	return actor.NewOneForOneStrategy(10, time.Minute, func(reason any) actor.Directive {
		log.Error("actor failed; restarting it", "reason", fmt.Sprint(reason))
		return actor.RestartDirective
	})
}

// StopFailedChildren makes an actor's failed children stop instead of
// restarting: for a parent that keeps its children's state itself and
// starts a failed child again from it (its Terminated), rather than have
// protoactor call the child's producer again with what it was given when
// first spawned.
func StopFailedChildren(log *slog.Logger) actor.PropsOption {
	return actor.WithSupervisor(actor.NewOneForOneStrategy(10, time.Minute, func(reason any) actor.Directive {
		log.Error("actor failed; stopping it", "reason", fmt.Sprint(reason))
		return actor.StopDirective
	}))
}

// traceMiddleware logs every user message at debug level. It checks the
// level first so the hot path costs one branch when debug is off.
func traceMiddleware(log *slog.Logger) actor.ReceiverMiddleware {
	return func(next actor.ReceiverFunc) actor.ReceiverFunc {
		return func(c actor.ReceiverContext, env *actor.MessageEnvelope) {
			if log.Enabled(context.Background(), slog.LevelDebug) {
				log.Debug("message", "self", c.Self().Id, "type", reflect.TypeOf(env.Message).String())
			}
			next(c, env)
		}
	}
}

// NewSystem is an actor system whose own logs go to log.
func NewSystem(log *slog.Logger) *actor.ActorSystem {
	protoLog := log.With("component", "protoactor")
	return actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger { return protoLog }))
}

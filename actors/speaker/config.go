package speaker

import (
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/heraldlb/herald/actors"
	"github.com/heraldlb/herald/api/v1beta1"
	"github.com/heraldlb/herald/config"
)

// configDebounce gathers a burst of configuration changes (a kubectl apply
// of many objects) into one compilation. Service changes never wait for
// it: they do not go through this actor.
const configDebounce = 50 * time.Millisecond

// configActor compiles the configuration whenever an input changes and
// publishes the outcome on the speaker's own ConfigurationState. An
// invalid configuration never replaces a valid one: the speaker keeps
// announcing what the last valid one says, and the state says it is stale.
type configActor struct {
	term
	e *env

	scheduled bool
	// last is the configuration in force: the last valid one compiled.
	last  *config.Config
	state *actors.StatusWriter[v1beta1.ConfigurationStateStatus]
}

func newConfigActor(e *env) actor.Actor {
	return &configActor{e: e, state: actors.NewConfigStateWriter(e.Runtime, e.mlb, e.namespace, ConfigurationStateName(e.node))}
}

func (a *configActor) Receive(c actor.Context) {
	switch m := c.Message().(type) {
	case *actor.Started:
		// A restarted config actor compiles at once; the first waits for
		// the tree to exist (topActor sends compileNow).
		if a.restarted {
			a.compile(c)
		}
	case configChanged:
		if !a.scheduled {
			a.scheduled = true
			a.e.After(configDebounce, c.Self(), compileNow{})
		}
	case compileNow:
		a.scheduled = false
		a.compile(c)
	case resendConfig:
		if a.last != nil {
			c.Send(m.to, configUpdated{cfg: a.last})
		}
	case actors.StatusWritten[v1beta1.ConfigurationStateStatus]:
		a.state.Done(c, m)
	case actors.Retry:
		a.state.Flush(c)
	}
}

func (a *configActor) compile(c actor.Context) {
	cfg, warnings, err := actors.CompileConfig(a.e.inf)
	a.state.Set(c, actors.ConfigStatus(err, warnings))
	if err != nil {
		a.e.Log.Error("configuration is invalid; keeping the last valid one", "stale", a.last != nil, "err", err)
		if a.last != nil {
			a.e.metrics.configStale.Set(1)
		}
		return
	}
	a.last = cfg
	a.e.metrics.configLoaded.Set(1)
	a.e.metrics.configStale.Set(0)
	c.Send(a.e.planner, configUpdated{cfg: cfg})
	c.Send(a.e.peers, configUpdated{cfg: cfg})
}

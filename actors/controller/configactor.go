package controller

import (
	"strings"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/heraldlb/herald/actors"
	"github.com/heraldlb/herald/alloc"
	"github.com/heraldlb/herald/api/v1beta1"
	"github.com/heraldlb/herald/tracing"
)

// ConfigurationStateName is the ConfigurationState the controller writes in
// Herald's namespace (speakers write their own, one per node).
const ConfigurationStateName = "controller"

// configDebounce gathers a burst of changes (a kubectl apply of many
// objects, Namespaces appearing at startup) into one compilation.
const configDebounce = 50 * time.Millisecond

// configActor compiles the configuration from the listers whenever an
// input changes, sends valid configurations to the allocator, and publishes
// the outcome (ConfigurationState and the loaded/stale metrics). An invalid
// configuration never reaches the allocator: the last valid one stays in
// force, and the state says it is stale.
type configActor struct {
	e *env

	scheduled bool
	haveValid bool
	last      []alloc.Pool

	state *actors.StatusWriter[v1beta1.ConfigurationStateStatus]
}

func newConfigActor(e *env) actor.Actor {
	a := &configActor{e: e}
	a.state = actors.NewConfigStateWriter(e.Runtime, e.mlb, e.namespace, ConfigurationStateName)
	return a
}

func (a *configActor) Receive(c actor.Context) {
	switch m := c.Message().(type) {
	case *actor.Started:
		a.compile(c)
	case configChanged:
		if !a.scheduled {
			a.scheduled = true
			a.e.After(configDebounce, c.Self(), compileNow{})
		}
	case compileNow:
		a.scheduled = false
		a.compile(c)
	case resendConfig:
		if a.haveValid {
			c.Send(a.e.allocator, configLoaded{pools: a.last})
		}
	case actors.StatusWritten[v1beta1.ConfigurationStateStatus]:
		a.state.Done(c, m)
	case actors.Retry:
		a.state.Flush(c)
	}
}

func (a *configActor) compile(c actor.Context) {
	span := a.e.tracer.Start(tracing.SpanConfigCompile, trace.SpanContext{})
	defer span.End()
	cfg, warnings, err := actors.CompileConfig(a.e.inf)
	if span.IsRecording() {
		result := "Valid"
		if err != nil {
			result = "Invalid"
			span.SetStatus(codes.Error, firstLines(err.Error(), 3))
		}
		span.SetAttributes(tracing.AttrConfigResult.String(result))
	}
	if err != nil {
		a.e.Log.Error("configuration is invalid; keeping the last valid one", "stale", a.haveValid, "err", err)
		if a.haveValid {
			a.e.metrics.configStale.Set(1)
		}
		st := actors.ConfigStatus(err, warnings)
		a.state.Set(c, st)
		if !a.haveValid {
			// Nothing can be allocated yet: let the Services say why
			// instead of sitting in <pending> silently.
			c.Send(a.e.allocator, configInvalid{reason: firstLines(st.ErrorSummary, 3)})
		}
		return
	}
	for _, w := range cfg.Warnings {
		a.e.Log.Warn("configuration warning", "warning", w.String())
	}
	a.last = alloc.PoolsFromConfig(cfg)
	a.haveValid = true
	a.e.metrics.configLoaded.Set(1)
	a.e.metrics.configStale.Set(0)
	c.Send(a.e.allocator, configLoaded{pools: a.last})
	a.state.Set(c, actors.ConfigStatus(nil, warnings))
}

// firstLines keeps the first n lines of a multi-line error text.
func firstLines(s string, n int) string {
	lines := strings.SplitN(s, "\n", n+1)
	if len(lines) > n {
		lines = append(lines[:n], "...")
	}
	return strings.Join(lines, "; ")
}

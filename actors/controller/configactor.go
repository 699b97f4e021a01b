package controller

import (
	"context"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/asynkron/protoactor-go/actor"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/heraldlb/herald/actors"
	"github.com/heraldlb/herald/alloc"
	"github.com/heraldlb/herald/api/v1beta1"
	"github.com/heraldlb/herald/config"
)

// ConfigurationStateName is the ConfigurationState the controller writes in
// Herald's namespace (speakers write their own, one per node).
const ConfigurationStateName = "controller"

// configDebounce gathers a burst of changes (a kubectl apply of many
// objects, Namespaces appearing at startup) into one compilation.
const configDebounce = 50 * time.Millisecond

// maxErrorSummary bounds the error text written to ConfigurationState so a
// configuration with thousands of errors cannot make the object too large.
const maxErrorSummary = 4000

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
	a.state = actors.NewStatusWriter(e.Runtime, "configurationstate", ConfigurationStateName, sameState, a.write)
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
	in, err := a.e.inf.ConfigInput()
	var cfg *config.Config
	if err == nil {
		cfg, err = config.Compile(in)
	}
	if err != nil {
		a.e.Log.Error("configuration is invalid; keeping the last valid one", "stale", a.haveValid, "err", err)
		if a.haveValid {
			a.e.metrics.configStale.Set(1)
		}
		summary := truncate(err.Error(), maxErrorSummary)
		a.state.Set(c, v1beta1.ConfigurationStateStatus{Result: v1beta1.ConfigurationInvalid, ErrorSummary: summary})
		if !a.haveValid {
			// Nothing can be allocated yet: let the Services say why
			// instead of sitting in <pending> silently.
			c.Send(a.e.allocator, configInvalid{reason: firstLines(summary, 3)})
		}
		return
	}
	for _, w := range cfg.Warnings {
		a.e.Log.Warn("configuration warning", "warning", w.String())
	}
	a.last = allocPools(cfg, in)
	a.haveValid = true
	a.e.metrics.configLoaded.Set(1)
	a.e.metrics.configStale.Set(0)
	c.Send(a.e.allocator, configLoaded{pools: a.last})
	a.state.Set(c, v1beta1.ConfigurationStateStatus{Result: v1beta1.ConfigurationValid})
}

// write runs on its own goroutine: it creates the ConfigurationState if
// needed and makes its status say desired.
// It always reads live, so first does not matter.
func (a *configActor) write(ctx context.Context, desired v1beta1.ConfigurationStateStatus, _ bool) error {
	mlb := a.e.mlb.MetallbV1beta1().ConfigurationStates(a.e.namespace)
	cur, err := mlb.Get(ctx, ConfigurationStateName, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		cur, err = mlb.Create(ctx, &v1beta1.ConfigurationState{
			ObjectMeta: metav1.ObjectMeta{Name: ConfigurationStateName, Namespace: a.e.namespace},
		}, metav1.CreateOptions{})
	}
	if err != nil {
		return err
	}
	if sameState(cur.Status, desired) {
		return nil
	}
	cur.Status.Result = desired.Result
	cur.Status.ErrorSummary = desired.ErrorSummary
	_, err = mlb.UpdateStatus(ctx, cur, metav1.UpdateOptions{})
	return err
}

func sameState(a, b v1beta1.ConfigurationStateStatus) bool {
	return a.Result == b.Result && a.ErrorSummary == b.ErrorSummary
}

// allocPools converts the compiled pools for the allocator. Namespaces come
// from the objects as written, not from the compiled list, which also holds
// the namespaces the selectors matched at compile time: the allocator matches
// selectors itself against the Namespace's current labels, so a relabelled
// Namespace is judged by its labels of now.
func allocPools(cfg *config.Config, in config.Input) []alloc.Pool {
	explicit := map[string][]string{}
	for _, p := range in.IPAddressPools {
		if p.Spec.AllocateTo != nil {
			explicit[p.Name] = slices.Clone(p.Spec.AllocateTo.Namespaces)
		}
	}
	out := make([]alloc.Pool, 0, len(cfg.Pools))
	for _, p := range cfg.Pools {
		ap := alloc.Pool{Name: p.Name, AutoAssign: p.AutoAssign, AvoidBuggyIPs: p.AvoidBuggyIPs}
		for _, r := range p.Ranges {
			ap.Ranges = append(ap.Ranges, alloc.Range{First: r.First, Last: r.Last})
		}
		if p.Allocation != nil {
			ap.Allocation = &alloc.ServiceAllocation{
				Priority:           p.Allocation.Priority,
				Namespaces:         explicit[p.Name],
				NamespaceSelectors: p.Allocation.NamespaceSelectors,
				ServiceSelectors:   p.Allocation.ServiceSelectors,
			}
		}
		out = append(out, ap)
	}
	slices.SortFunc(out, func(a, b alloc.Pool) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// truncate cuts s to at most n bytes, at a character boundary (the
// summary is often in the user's language), marking the cut with "...".
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "..."
}

// firstLines keeps the first n lines of a multi-line error text.
func firstLines(s string, n int) string {
	lines := strings.SplitN(s, "\n", n+1)
	if len(lines) > n {
		lines = append(lines[:n], "...")
	}
	return strings.Join(lines, "; ")
}

package controller

import (
	"github.com/asynkron/protoactor-go/actor"

	"github.com/heraldlb/herald/actors"
	"github.com/heraldlb/herald/alloc"
	"github.com/heraldlb/herald/informers"
)

// routerActor receives the informers' keys and routes them: Service keys to
// the Service's actor (spawned on first need, stopped when idle),
// configuration keys to the config actor. It also delivers the allocator's
// decisions, so the allocator never tracks Service actors' PIDs.
type routerActor struct {
	e        *env
	children map[alloc.ServiceKey]*child
}

type child struct {
	pid  *actor.PID
	sent uint64 // kicks sent
	fwd  uint64 // other messages forwarded (forService)
}

func newRouterActor(e *env) actor.Actor { return &routerActor{e: e} }

func (r *routerActor) Receive(c actor.Context) {
	switch m := c.Message().(type) {
	case *actor.Started:
		// At the start of a term, and after a restart that stopped every
		// child: every Service is looked at once.
		r.children = map[alloc.ServiceKey]*child{}
		r.kickAll(c)
	case informers.Key:
		switch m.Kind {
		case informers.KindService:
			r.kick(c, alloc.ServiceKey{Namespace: m.Namespace, Name: m.Name})
		case informers.KindNamespace:
			// The Namespace's labels decide serviceAllocation admission
			// and may feed the configuration's namespace selectors.
			c.Send(r.e.config, configChanged{})
			for _, k := range r.e.inf.ServiceKeysIn(m.Name) {
				r.kick(c, k)
			}
		case informers.KindNode, informers.KindConfig:
			// Node labels feed the configuration's node selectors.
			c.Send(r.e.config, configChanged{})
		}
	case forService:
		ch := r.child(c, m.key)
		ch.fwd++
		c.Send(ch.pid, forwarded{n: ch.fwd, msg: m.msg})
	case idle:
		if ch, ok := r.children[m.key]; ok && ch.sent == m.n && ch.fwd == m.fwd {
			// It has seen every kick and every forwarded message (Stop
			// overtakes queued messages, which would be lost): nothing
			// can be lost by stopping it. A later kick spawns a fresh
			// actor that reads the cache.
			c.Stop(ch.pid)
			delete(r.children, m.key)
		}
	}
}

func (r *routerActor) kickAll(c actor.Context) {
	for _, s := range r.e.inf.Services() {
		r.kick(c, s.Key)
	}
}

func (r *routerActor) kick(c actor.Context, k alloc.ServiceKey) {
	ch := r.child(c, k)
	ch.sent++
	c.Send(ch.pid, kick{n: ch.sent})
}

func (r *routerActor) child(c actor.Context, k alloc.ServiceKey) *child {
	if ch, ok := r.children[k]; ok {
		return ch
	}
	props := actors.NewProps(r.e.Log, "service", func() actor.Actor { return newServiceActor(r.e, k) })
	ch := &child{pid: c.SpawnPrefix(props, "svc-"+k.Namespace+"-"+k.Name+"-")}
	r.children[k] = ch
	return ch
}

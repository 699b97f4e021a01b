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
	children children
}

func newRouterActor(e *env) actor.Actor { return &routerActor{e: e} }

func (r *routerActor) Receive(c actor.Context) {
	switch m := c.Message().(type) {
	case *actor.Started:
		// At the start of a term, and after a restart that stopped every
		// child: every Service is looked at once.
		r.children = children{}
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
		c.Send(ch.pid, forwarded{n: ch.forward(), msg: m.msg})
	case idle:
		if pid, ok := r.children.idle(m); ok {
			c.Stop(pid)
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
	c.Send(ch.pid, kick{n: ch.kick()})
}

func (r *routerActor) child(c actor.Context, k alloc.ServiceKey) *child {
	if ch, ok := r.children[k]; ok {
		return ch
	}
	props := actors.NewProps(r.e.Log, "service", func() actor.Actor { return newServiceActor(r.e, k) })
	return r.children.add(k, c.SpawnPrefix(props, "svc-"+k.Namespace+"-"+k.Name+"-"))
}

// children are the router's Service actors and what it sent each. Stop
// overtakes queued messages, which would be lost, so the router stops an
// actor only when its idle report says it has taken every kick and every
// forwarded message the router sent it.
type children map[alloc.ServiceKey]*child

type child struct {
	pid  *actor.PID
	sent uint64 // kicks sent
	fwd  uint64 // other messages forwarded (forService)
}

func (cs children) add(k alloc.ServiceKey, pid *actor.PID) *child {
	ch := &child{pid: pid}
	cs[k] = ch
	return ch
}

// kick numbers the next kick.
func (ch *child) kick() uint64 { ch.sent++; return ch.sent }

// forward numbers the next forwarded message.
func (ch *child) forward() uint64 { ch.fwd++; return ch.fwd }

// idle takes an actor's idle report and returns the actor to stop, if it
// has seen everything sent to it (a later kick spawns a fresh actor that
// reads the cache); a report that a newer message overtook stops nothing.
func (cs children) idle(m idle) (*actor.PID, bool) {
	ch, ok := cs[m.key]
	if !ok || ch.sent != m.n || ch.fwd != m.fwd {
		return nil, false
	}
	delete(cs, m.key)
	return ch.pid, true
}

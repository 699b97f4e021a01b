package actors

import (
	"context"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/cenkalti/backoff/v4"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/heraldlb/herald/api/v1beta1"
)

// poolActor owns one IPAddressPool's status counters and gauges. The
// allocator sends it usage after every change; the actor keeps only the
// latest and writes it when no write is in flight, so a burst of allocations
// costs one or two writes, not one per Service.
type poolActor struct {
	e    *env
	name string

	latest   v1beta1.IPAddressPoolStatus
	have     bool
	written  *v1beta1.IPAddressPoolStatus
	inflight bool
	dirty    bool
	bo       *backoff.ExponentialBackOff
}

type poolWritten struct {
	status v1beta1.IPAddressPoolStatus
	err    error
}

func newPoolActor(e *env, name string) actor.Actor {
	return &poolActor{e: e, name: name, bo: e.newBackoff()}
}

func (a *poolActor) Receive(c actor.Context) {
	switch m := c.Message().(type) {
	case poolStats:
		a.e.metrics.setPool(m.stats)
		a.latest = v1beta1.IPAddressPoolStatus{
			AssignedIPv4:  int64(m.stats.IPv4.Assigned),
			AssignedIPv6:  int64(m.stats.IPv6.Assigned),
			AvailableIPv4: clampInt64(m.stats.IPv4.Available),
			AvailableIPv6: clampInt64(m.stats.IPv6.Available),
		}
		a.have = true
		a.write(c)
	case poolWritten:
		a.inflight = false
		switch {
		case m.err == errPoolGone:
			// Deleted: the allocator stops this actor with its next stats.
		case m.err != nil:
			a.e.metrics.apiError("ipaddresspool")
			a.e.log.Warn("writing pool status failed; will retry", "pool", a.name, "err", m.err)
			a.e.after(nextDelay(a.bo), c.Self(), retry{})
			return
		default:
			a.bo.Reset()
			st := m.status
			a.written = &st
		}
		if a.dirty {
			a.write(c)
		}
	case retry:
		a.write(c)
	case *actor.Stopping:
		a.e.metrics.deletePool(a.name)
	}
}

func (a *poolActor) write(c actor.Context) {
	if !a.have {
		return
	}
	if a.inflight {
		a.dirty = true
		return
	}
	a.dirty = false
	if a.written != nil && *a.written == a.latest {
		return
	}
	obj, ok := a.e.inf.PoolObject(a.name)
	if !ok {
		return
	}
	desired := a.latest
	if obj.Status == desired {
		a.written = &desired
		return
	}
	a.inflight = true
	client := a.e.mlb.MetallbV1beta1().IPAddressPools(a.e.namespace)
	goAPI(a.e, c.Self(), func(ctx context.Context) poolWritten {
		obj.Status = desired
		_, err := client.UpdateStatus(ctx, obj, metav1.UpdateOptions{})
		if apierrors.IsConflict(err) {
			// The cache was behind: read the pool again and write once
			// more; a second conflict goes through the backoff.
			fresh, gerr := client.Get(ctx, obj.Name, metav1.GetOptions{})
			if gerr != nil {
				err = gerr
			} else {
				fresh.Status = desired
				_, err = client.UpdateStatus(ctx, fresh, metav1.UpdateOptions{})
			}
		}
		if apierrors.IsNotFound(err) {
			err = errPoolGone
		}
		return poolWritten{status: desired, err: err}
	})
}

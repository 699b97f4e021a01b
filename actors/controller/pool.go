package controller

import (
	"context"

	"github.com/asynkron/protoactor-go/actor"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/heraldlb/herald/actors"
	"github.com/heraldlb/herald/api/v1beta1"
)

// poolActor owns one IPAddressPool's status counters and gauges. The
// allocator sends it usage after every change; its statusWriter keeps only
// the latest and writes it when no write is in flight, so a burst of
// allocations costs one or two writes, not one per Service.
type poolActor struct {
	e      *env
	name   string
	status *actors.StatusWriter[v1beta1.IPAddressPoolStatus]
}

func newPoolActor(e *env, name string) actor.Actor {
	a := &poolActor{e: e, name: name}
	a.status = actors.NewStatusWriter(e.Runtime, "ipaddresspool", name,
		func(x, y v1beta1.IPAddressPoolStatus) bool { return x == y }, a.write)
	return a
}

func (a *poolActor) Receive(c actor.Context) {
	switch m := c.Message().(type) {
	case poolStats:
		a.e.metrics.setPool(m.stats)
		a.status.Set(c, v1beta1.IPAddressPoolStatus{
			AssignedIPv4:  int64(m.stats.IPv4.Assigned),
			AssignedIPv6:  int64(m.stats.IPv6.Assigned),
			AvailableIPv4: clampInt64(m.stats.IPv4.Available),
			AvailableIPv6: clampInt64(m.stats.IPv6.Available),
		})
	case actors.StatusWritten[v1beta1.IPAddressPoolStatus]:
		a.status.Done(c, m)
	case actors.Retry:
		a.status.Flush(c)
	case *actor.Stopping:
		a.e.metrics.deletePool(a.name)
	}
}

// write runs on its own goroutine. A deleted pool has nothing to write: the
// allocator stops this actor with its next stats.
func (a *poolActor) write(ctx context.Context, desired v1beta1.IPAddressPoolStatus, first bool) error {
	client := a.e.mlb.MetallbV1beta1().IPAddressPools(a.e.namespace)
	var obj *v1beta1.IPAddressPool
	if first {
		// A new term: the status may already be right (a restart writes
		// nothing then). Read it live; the cache may be behind the last
		// leader's final write.
		live, err := client.Get(ctx, a.name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return actors.ErrNothingToWrite
		}
		if err != nil {
			return err
		}
		if live.Status == desired {
			return nil
		}
		obj = live
	} else {
		// The cache's object is only the base of the update: if it is
		// behind, the update conflicts and is done again on a live read.
		cached, ok := a.e.inf.PoolObject(a.name)
		if !ok {
			return actors.ErrNothingToWrite
		}
		obj = cached
	}
	obj.Status = desired
	_, err := client.UpdateStatus(ctx, obj, metav1.UpdateOptions{})
	if apierrors.IsConflict(err) {
		// The cache was behind: read the pool again and write once more;
		// a second conflict goes through the backoff.
		fresh, gerr := client.Get(ctx, obj.Name, metav1.GetOptions{})
		if gerr != nil {
			err = gerr
		} else {
			fresh.Status = desired
			_, err = client.UpdateStatus(ctx, fresh, metav1.UpdateOptions{})
		}
	}
	if apierrors.IsNotFound(err) {
		return actors.ErrNothingToWrite
	}
	return err
}

package e2e

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/heraldlb/herald/informers"
)

// invariant follows every Service of a namespace and records each moment an
// IP is in the status of two Services that may not share it. Two Services
// may share an IP only when both carry the same allow-shared-ip key.
//
// It follows a watch, not a List every so often: a watch delivers every
// change in the API server's order, and two statuses may show one IP for no
// longer than one write takes, far too short for polling to see. A watch
// that loses changes (its resourceVersion expired) is recorded as a gap, and
// a gap fails the test like a duplicate: nothing was checked there.
type invariant struct {
	mu       sync.Mutex
	svcs     map[string]shown           // Service -> its status IPs and sharing key
	holders  map[string]map[string]bool // IP -> the Services whose status shows it
	reported map[string]bool            // IP and pair of Services already reported
	changes  int
	peak     int // most distinct IPs shown at once

	violations []string
	gaps       []string

	stopOnce sync.Once
	stop     func()
}

type shown struct {
	ips []string
	key string
}

func newInvariant() *invariant {
	return &invariant{svcs: map[string]shown{}, holders: map[string]map[string]bool{}, reported: map[string]bool{}}
}

// followStatuses starts checking the Services of ns: those there now (from
// a List) and every change after it (from a watch starting at the List's
// resourceVersion). finish stops it and reports.
func (l *lab) followStatuses(ns string) *invariant {
	l.t.Helper()
	list, err := l.admin.CoreV1().Services(ns).List(l.t.Context(), metav1.ListOptions{})
	if err != nil {
		l.t.Fatal(err)
	}
	inv := newInvariant()
	for i := range list.Items {
		inv.observe(&list.Items[i])
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		inv.follow(ctx, l, ns, list.ResourceVersion)
	}()
	inv.stop = func() { inv.stopOnce.Do(func() { cancel(); <-done }) }
	l.t.Cleanup(inv.stop)
	return inv
}

func (inv *invariant) follow(ctx context.Context, l *lab, ns, rv string) {
	for ctx.Err() == nil {
		w, err := l.admin.CoreV1().Services(ns).Watch(ctx, metav1.ListOptions{ResourceVersion: rv, AllowWatchBookmarks: true})
		if err != nil {
			if apierrors.IsResourceExpired(err) || apierrors.IsGone(err) {
				inv.gap(fmt.Sprintf("watch from resourceVersion %s: %v", rv, err))
				return
			}
			time.Sleep(100 * time.Millisecond)
			continue
		}
		for ev := range w.ResultChan() {
			if ev.Type == watch.Error {
				err := apierrors.FromObject(ev.Object)
				if ctx.Err() != nil {
					break // stopped: client-go reports the cancelled stream
				}
				if apierrors.IsResourceExpired(err) || apierrors.IsGone(err) {
					// The changes since rv are lost.
					w.Stop()
					inv.gap(fmt.Sprintf("watch from resourceVersion %s: %v", rv, err))
					return
				}
				time.Sleep(100 * time.Millisecond)
				break // a broken stream: watch again from rv
			}
			s, ok := ev.Object.(*corev1.Service)
			if !ok {
				continue
			}
			rv = s.ResourceVersion // a bookmark carries nothing else
			switch ev.Type {
			case watch.Added, watch.Modified:
				inv.observe(s)
			case watch.Deleted:
				inv.set(s.Name, "", "")
			}
		}
		// The server ended the watch (its timeout) or the stream broke: go
		// on from rv, the last change seen, which misses nothing.
		w.Stop()
	}
}

// observe records what one version of a Service shows.
func (inv *invariant) observe(s *corev1.Service) {
	key, ok := s.Annotations[informers.AnnotationAllowSharedIP]
	if !ok {
		key = s.Annotations["metallb.universe.tf/allow-shared-ip"]
	}
	inv.set(s.Name, ingress(s), strings.TrimSpace(key))
}

// set records that Service name's status now shows ips (comma-separated, ""
// for none or deleted), with sharing key key.
func (inv *invariant) set(name, ips, key string) {
	inv.mu.Lock()
	defer inv.mu.Unlock()
	inv.changes++
	for _, ip := range inv.svcs[name].ips {
		delete(inv.holders[ip], name)
		if len(inv.holders[ip]) == 0 {
			delete(inv.holders, ip)
		}
	}
	if ips == "" {
		delete(inv.svcs, name)
		return
	}
	now := shown{ips: strings.Split(ips, ","), key: key}
	inv.svcs[name] = now
	for _, ip := range now.ips {
		others := make([]string, 0, len(inv.holders[ip]))
		for other := range inv.holders[ip] {
			others = append(others, other)
		}
		slices.Sort(others)
		for _, other := range others {
			theirs := inv.svcs[other].key
			if key != "" && theirs == key {
				continue
			}
			pair := ip + " " + min(name, other) + " " + max(name, other)
			if inv.reported[pair] {
				continue
			}
			inv.reported[pair] = true
			inv.violations = append(inv.violations, fmt.Sprintf("change %d: %s given to %s (allow-shared-ip %q) while %s (allow-shared-ip %q) holds it",
				inv.changes, ip, name, key, other, theirs))
		}
		if inv.holders[ip] == nil {
			inv.holders[ip] = map[string]bool{}
		}
		inv.holders[ip][name] = true
	}
	inv.peak = max(inv.peak, len(inv.holders))
}

func (inv *invariant) gap(why string) {
	inv.mu.Lock()
	defer inv.mu.Unlock()
	inv.gaps = append(inv.gaps, why)
}

// finish stops following and fails t for every duplicate and every gap, and
// when it saw no change at all (then it checked nothing). It only reports
// (t.Error), so it may be deferred: a test that stops early on another
// failure still says what the checker saw.
func (inv *invariant) finish(t *testing.T) {
	t.Helper()
	inv.stop()
	inv.mu.Lock()
	defer inv.mu.Unlock()
	for _, g := range inv.gaps {
		t.Errorf("the status checker missed changes, so it proves nothing after: %s", g)
	}
	if inv.changes == 0 {
		t.Error("the status checker saw no change: it checked nothing")
	}
	t.Logf("status checker followed %d changes; most addresses shown at once: %d", inv.changes, inv.peak)
	for _, v := range inv.violations {
		t.Error(v)
	}
}

// The checker itself must be able to fail, and must not fail on sharing.
func TestInvariantCatchesADuplicate(t *testing.T) {
	inv := newInvariant()
	inv.set("a", "10.0.0.1", "")
	inv.set("b", "10.0.0.2", "")
	inv.set("a", "", "")         // a deleted: its IP is free
	inv.set("c", "10.0.0.1", "") // fine
	inv.set("s1", "10.0.0.3", "k")
	inv.set("s2", "10.0.0.3", "k") // same key: may share
	if len(inv.violations) != 0 {
		t.Fatalf("false alarm: %v", inv.violations)
	}
	inv.set("d", "10.0.0.2,2001:db8::1", "") // b still holds 10.0.0.2
	if len(inv.violations) != 1 || !strings.Contains(inv.violations[0], "10.0.0.2 given to d") || !strings.Contains(inv.violations[0], "while b") {
		t.Fatalf("violations %v", inv.violations)
	}
	inv.set("s3", "10.0.0.3", "other") // another key: may not share
	inv.set("e", "10.0.0.3", "")       // no key: may not share
	if len(inv.violations) != 1+2+3 {
		t.Fatalf("want 6 violations (s3 with s1, s2; e with s1, s2, s3), got %d: %v", len(inv.violations), inv.violations)
	}
	// b leaves, d stays: a third holder of 10.0.0.2 still clashes with d.
	inv.set("b", "", "")
	inv.set("f", "10.0.0.2", "")
	if len(inv.violations) != 7 || !strings.Contains(inv.violations[6], "10.0.0.2 given to f") || !strings.Contains(inv.violations[6], "while d") {
		t.Fatalf("violations %v", inv.violations)
	}
}

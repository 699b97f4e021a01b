package e2e

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// failoverCheck compares the Services of "load" with how they were before a
// failover: no IP may be in two statuses, and none may have moved. It runs
// at the end of a failover test (newLeaderChangedNothing) and, if the test
// stops before that on another failure, from t.Cleanup, so every failure
// path says who held which address before and after.
type failoverCheck struct {
	l      *lab
	before map[string]allocation
	done   bool
}

// checkFailover records before and registers the check for early exits.
func (l *lab) checkFailover(before map[string]allocation) *failoverCheck {
	fc := &failoverCheck{l: l, before: before}
	l.t.Cleanup(func() {
		if !fc.done {
			l.t.Log("the test stopped before its final check; the Services as they are now:")
			fc.compare(false)
		}
	})
	return fc
}

// newLeaderChangedNothing checks what a failover must leave behind: the new
// leader serves (a new Service gets the next free address after the n
// allocated ones), no IP is in two statuses, and every Service in before
// keeps its IP and its resourceVersion (the new leader wrote nothing).
func (fc *failoverCheck) newLeaderChangedNothing(n int) {
	l, t := fc.l, fc.l.t
	t.Helper()
	fc.done = true
	want := fmt.Sprintf("10.0.%d.%d", n/256, n%256)
	l.create(lbService("load", "probe", nil))
	got := ""
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if got = ingress(l.get("load", "probe")); got == want {
			break
		}
	}
	switch {
	case got == "":
		t.Errorf("the probe got no IP in 20 s, want %q (the next free address)", want)
	case got != want:
		who := "nobody"
		for name, b := range fc.before {
			if b.ip == got {
				who = name
			}
		}
		t.Errorf("the probe got %q, want %q (the next free address); before the failover %q was held by %s", got, want, got, who)
	}
	fc.compare(true)
}

// compare lists the Services and reports every IP shown by two of them and
// every Service whose IP moved (with who holds its old IP now, and who held
// its new one before). With written set, a Service rewritten although its IP
// stayed is reported too: the new leader had nothing to write.
func (fc *failoverCheck) compare(written bool) {
	l, t := fc.l, fc.l.t
	t.Helper()
	list, err := l.admin.CoreV1().Services("load").List(t.Context(), metav1.ListOptions{})
	if err != nil {
		t.Errorf("listing Services to compare with before the failover: %v", err)
		return
	}
	after := map[string]allocation{}
	holders := map[string][]string{}
	for _, s := range list.Items {
		ip := ingress(&s)
		after[s.Name] = allocation{ip: ip, rv: s.ResourceVersion}
		for _, one := range strings.Split(ip, ",") {
			if one != "" {
				holders[one] = append(holders[one], s.Name)
			}
		}
	}
	heldBefore := map[string]string{}
	for name, b := range fc.before {
		heldBefore[b.ip] = name
	}
	for _, ip := range slices.Sorted(maps.Keys(holders)) {
		if names := holders[ip]; len(names) > 1 {
			slices.Sort(names)
			t.Errorf("%s is in the status of %s (before the failover: %s)", ip, strings.Join(names, " and "), or(heldBefore[ip], "nobody"))
		}
	}
	moved, rewritten := 0, 0
	for _, name := range slices.Sorted(maps.Keys(fc.before)) {
		b, a := fc.before[name], after[name]
		switch {
		case a.ip != b.ip:
			moved++
			if moved <= 10 {
				t.Errorf("%s moved from %s to %q; %s is now held by %s, and %q was held by %s before",
					name, b.ip, a.ip, b.ip, or(strings.Join(holders[b.ip], ","), "nobody"), a.ip, or(heldBefore[a.ip], "nobody"))
			}
		case written && a.rv != b.rv:
			rewritten++
			if rewritten <= 5 {
				t.Errorf("%s rewritten: resourceVersion %s, then %s", name, b.rv, a.rv)
			}
		}
	}
	if moved > 0 {
		t.Errorf("%d of %d Services changed IP across the failover", moved, len(fc.before))
	}
	if rewritten > 0 {
		t.Errorf("%d of %d Services were written by the new leader although nothing needed changing", rewritten, len(fc.before))
	}
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

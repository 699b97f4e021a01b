package e2e

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/heraldlb/herald/actors/controller"
)

// Churn: parallel clients create and delete Services against a pool much
// smaller than the demand. A checker follows every change of every Service
// (a watch delivers them in the API server's order) and fails on the first
// moment two Services hold one IP. At the end every Service is either
// allocated or has an AllocationFailed Event saying why, and no address is
// left idle while a Service waits. 8 clients for 5 s by default; 50 clients
// for 60 s with HERALD_SOAK=1.
func TestControllerChurn(t *testing.T) {
	clients, runFor := 8, 5*time.Second
	if soak() {
		clients, runFor = 50, 60*time.Second
	}
	// HERALD_CHURN=clients,seconds picks another size (for diagnosis).
	if v := os.Getenv("HERALD_CHURN"); v != "" {
		var secs int
		if _, err := fmt.Sscanf(v, "%d,%d", &clients, &secs); err != nil {
			t.Fatalf("HERALD_CHURN=%q: want clients,seconds", v)
		}
		runFor = time.Duration(secs) * time.Second
	}
	const poolSize = 16
	l := newLab(t)
	l.namespace("churn", nil)
	l.pool(newPool("small", "10.200.0.0/28"))
	l.runController("r1", nil)

	checker := l.followStatuses("churn")
	defer checker.finish(t)

	var created, deleted atomic.Int64
	deadline := time.Now().Add(runFor)
	var wg sync.WaitGroup
	for c := range clients {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(c), 42))
			var mine []string
			for k := 0; time.Now().Before(deadline); k++ {
				if len(mine) < 2 || (len(mine) < 6 && rng.IntN(10) < 6) {
					name := fmt.Sprintf("c%02d-%05d", c, k)
					s := lbService("churn", name, func(s *corev1.Service) {
						s.Spec.Ports[0].Port = int32(80 + rng.IntN(3))
					})
					if _, err := l.admin.CoreV1().Services("churn").Create(t.Context(), s, metav1.CreateOptions{}); err != nil {
						t.Errorf("create %s: %v", name, err)
						return
					}
					created.Add(1)
					mine = append(mine, name)
					continue
				}
				i := rng.IntN(len(mine))
				if err := l.admin.CoreV1().Services("churn").Delete(t.Context(), mine[i], metav1.DeleteOptions{}); err != nil {
					t.Errorf("delete %s: %v", mine[i], err)
					return
				}
				deleted.Add(1)
				mine = append(mine[:i], mine[i+1:]...)
			}
		})
	}
	wg.Wait()
	t.Logf("%d clients for %s: %d Services created, %d deleted", clients, runFor, created.Load(), deleted.Load())

	// Quiescence: every remaining Service is allocated or told why not,
	// and the pool is full whenever someone waits.
	quiet := time.Now()
	var lastSilent []string
	defer func() {
		if !t.Failed() {
			return
		}
		// Say what the silent Services do have, to tell a lost Event
		// from one never sent.
		list, err := l.admin.CoreV1().Services("churn").List(context.Background(), metav1.ListOptions{})
		if err != nil {
			return
		}
		shown := 0
		for _, s := range list.Items {
			if !slices.Contains(lastSilent, s.Name) || shown == 3 {
				continue
			}
			shown++
			var evs []string
			for _, e := range l.events("churn", s.Name) {
				evs = append(evs, fmt.Sprintf("%s uid=%s count=%d %q", e.Reason, e.InvolvedObject.UID, e.Count, e.Message))
			}
			t.Logf("%s uid=%s created=%s events: %v", s.Name, s.UID, s.CreationTimestamp, evs)
		}
	}()
	eventually(t, 3*time.Minute, "every Service allocated or told why not", func() (bool, string) {
		list, err := l.admin.CoreV1().Services("churn").List(t.Context(), metav1.ListOptions{})
		if err != nil {
			return false, err.Error()
		}
		events, err := l.admin.CoreV1().Events("churn").List(t.Context(), metav1.ListOptions{})
		if err != nil {
			return false, err.Error()
		}
		failed := map[string]string{}
		for _, e := range events.Items {
			if e.Reason == controller.ReasonAllocationFailed {
				failed[e.InvolvedObject.Name+"/"+string(e.InvolvedObject.UID)] = e.Message
			}
		}
		allocated, waiting, silent := 0, 0, []string{}
		for _, s := range list.Items {
			if ingress(&s) != "" {
				allocated++
				continue
			}
			waiting++
			msg, ok := failed[s.Name+"/"+string(s.UID)]
			if !ok || !strings.Contains(msg, "no free address") {
				silent = append(silent, s.Name)
			}
		}
		lastSilent = silent
		want := min(poolSize, len(list.Items))
		var poolStatus string
		if p, err := l.mlb.MetallbV1beta1().IPAddressPools(herald).Get(t.Context(), "small", metav1.GetOptions{}); err == nil {
			poolStatus = fmt.Sprintf("%+v", p.Status)
		}
		state := fmt.Sprintf("%d Services: %d allocated (want %d), %d waiting, without a reason: %v; pool status %s",
			len(list.Items), allocated, want, waiting, silent, poolStatus)
		return allocated == want && len(silent) == 0, state
	})
	t.Logf("converged %s after the clients stopped", time.Since(quiet).Round(time.Millisecond))
}

package e2e

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"

	"github.com/heraldlb/herald/actors/controller"
	"github.com/heraldlb/herald/api/v1beta1"
	"github.com/heraldlb/herald/informers"
)

// Revocation: the controller takes IPs away from Services while others wait
// for one, and no IP may ever be in two Services' statuses (only Services
// with the same allow-shared-ip key may show one IP). The allocator frees an
// IP the moment it takes it from a Service, but the Service's status shows
// it until the clearing write lands; the controller keeps the IP reserved
// until then (actors/doc.go, "No IP in two statuses"). The window in which
// a waiting Service could otherwise be written with the IP is one API write
// long, so a watch follows every status change (invariant).
//
// A /28 pool is full: two Services share one IP, 15 "old" Services hold
// the rest, and 16 "waiting" Services, created after, are told "no free
// address". In each of 3 rounds, 5 old Services lose their IPs at once, in
// every way an IP is taken: 2 change metallb.io/loadBalancerIPs to an IP in
// no pool, 2 stop being selected by the pool's serviceSelectors, 1 is
// deleted. The 5 oldest waiting Services take the freed IPs. At the end
// every Service has an IP or an AllocationFailed Event saying why, and the
// pool's 16 IPs are all in use, each by one Service (two for the shared
// one).
func TestControllerRevokedIPNeverShownTwice(t *testing.T) {
	const (
		ns       = "revoke"
		rounds   = 3
		perRound = 5
		poolSize = 16
		shared   = "10.210.0.15" // the pool's last IP
		waiting  = 16
	)
	l := newLab(t)
	l.namespace(ns, nil)
	// The selector admits the Services of the groups listed: every round
	// one group is dropped. Waiting Services, and old ones revoked in other
	// ways, are in group "stay".
	admitted := []string{"stay"}
	for r := range rounds {
		admitted = append(admitted, fmt.Sprintf("r%d", r))
	}
	pool := func() *v1beta1.IPAddressPool {
		p := newPool("revoke", "10.210.0.0/28")
		p.Spec.AllocateTo = &v1beta1.ServiceAllocation{ServiceSelectors: []metav1.LabelSelector{{
			MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "group", Operator: metav1.LabelSelectorOpIn, Values: slices.Clone(admitted)}},
		}}}
		return p
	}
	l.pool(pool())
	l.runController("r1", nil)
	inv := l.followStatuses(ns)
	defer inv.finish(t)

	svc := func(name, group string, mod func(*corev1.Service)) *corev1.Service {
		return lbService(ns, name, func(s *corev1.Service) {
			s.Labels = map[string]string{"group": group}
			if mod != nil {
				mod(s)
			}
		})
	}
	// The control for the checker: two Services that may share, sharing.
	for i, name := range []string{"shared-a", "shared-b"} {
		l.create(svc(name, "stay", func(s *corev1.Service) {
			s.Annotations = map[string]string{informers.AnnotationAllowSharedIP: "pair", informers.AnnotationLoadBalancerIPs: shared}
			s.Spec.Ports[0].Port = int32(80 + i)
		}))
	}
	l.waitIngress(ns, "shared-a", shared)
	l.waitIngress(ns, "shared-b", shared)

	// The old Services take the pool's other poolSize-1 IPs. old-NN is
	// revoked in round NN/5, by its request (NN%5 is 0 or 1), by the
	// selector (2, 3) or by deletion (4).
	how := func(i int) string {
		return []string{"request", "request", "selector", "selector", "delete"}[i%perRound]
	}
	old := func(i int) string { return fmt.Sprintf("old-%02d", i) }
	outside := func(i int) string { return fmt.Sprintf("192.0.2.%d", i) } // TEST-NET-1: in no pool
	for i := range rounds * perRound {
		group := "stay"
		if how(i) == "selector" {
			group = fmt.Sprintf("r%d", i/perRound)
		}
		l.create(svc(old(i), group, nil))
	}
	for i := range rounds * perRound {
		eventually(t, 20*time.Second, old(i)+" allocated", func() (bool, string) {
			got := ingress(l.get(ns, old(i)))
			return got != "", got
		})
	}
	// Created after every old Service: the allocator serves the oldest
	// waiting Service first, so wait-00 is served first.
	wait := func(i int) string { return fmt.Sprintf("wait-%02d", i) }
	for i := range waiting {
		l.create(svc(wait(i), "stay", nil))
	}
	for i := range waiting {
		l.waitEvent(ns, wait(i), controller.ReasonAllocationFailed, "no free address")
	}

	for r := range rounds {
		var wg sync.WaitGroup
		for i := r * perRound; i < (r+1)*perRound; i++ {
			switch how(i) {
			case "request":
				wg.Go(func() {
					err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
						s, err := l.admin.CoreV1().Services(ns).Get(t.Context(), old(i), metav1.GetOptions{})
						if err != nil {
							return err
						}
						if s.Annotations == nil {
							s.Annotations = map[string]string{}
						}
						s.Annotations[informers.AnnotationLoadBalancerIPs] = outside(i)
						_, err = l.admin.CoreV1().Services(ns).Update(t.Context(), s, metav1.UpdateOptions{})
						return err
					})
					if err != nil {
						t.Errorf("changing %s's request: %v", old(i), err)
					}
				})
			case "delete":
				wg.Go(func() {
					if err := l.admin.CoreV1().Services(ns).Delete(t.Context(), old(i), metav1.DeleteOptions{}); err != nil {
						t.Errorf("deleting %s: %v", old(i), err)
					}
				})
			}
		}
		// One pool update evicts both of the round's selector Services.
		admitted = slices.DeleteFunc(admitted, func(g string) bool { return g == fmt.Sprintf("r%d", r) })
		p := pool()
		wg.Go(func() {
			err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
				cur, err := l.mlb.MetallbV1beta1().IPAddressPools(herald).Get(t.Context(), p.Name, metav1.GetOptions{})
				if err != nil {
					return err
				}
				cur.Spec = p.Spec
				_, err = l.mlb.MetallbV1beta1().IPAddressPools(herald).Update(t.Context(), cur, metav1.UpdateOptions{})
				return err
			})
			if err != nil {
				t.Errorf("updating the pool's serviceSelectors: %v", err)
			}
		})
		wg.Wait()
		if t.Failed() {
			t.FailNow()
		}

		// The IPs freed went to the oldest waiting Services; the revoked
		// Services' statuses are clear.
		served := (r + 1) * perRound
		holds := map[string]bool{"shared-a": true, "shared-b": true}
		for i := served; i < rounds*perRound; i++ {
			holds[old(i)] = true
		}
		for i := range served {
			holds[wait(i)] = true
		}
		eventually(t, 20*time.Second, fmt.Sprintf("round %d: %s..%s served, the rest waiting, the revoked cleared", r, wait(0), wait(served-1)), func() (bool, string) {
			list, err := l.admin.CoreV1().Services(ns).List(t.Context(), metav1.ListOptions{})
			if err != nil {
				return false, err.Error()
			}
			var wrong []string
			for _, s := range list.Items {
				if got := ingress(&s); holds[s.Name] != (got != "") {
					wrong = append(wrong, fmt.Sprintf("%s=%q", s.Name, got))
				}
			}
			return len(wrong) == 0, strings.Join(wrong, " ")
		})
	}

	// Every Service has an IP or says why not; the pool is full, each IP
	// with one holder (the shared one with its two).
	for i := range rounds * perRound {
		switch how(i) {
		case "request":
			l.waitEvent(ns, old(i), controller.ReasonAllocationFailed, outside(i), "no address pool contains it")
		case "selector":
			l.waitEvent(ns, old(i), controller.ReasonAllocationFailed, "match none of its serviceSelectors")
		}
	}
	for i := rounds * perRound; i < waiting; i++ {
		l.waitEvent(ns, wait(i), controller.ReasonAllocationFailed, "no free address")
	}
	list, err := l.admin.CoreV1().Services(ns).List(t.Context(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	holders := map[string][]string{}
	for _, s := range list.Items {
		if ip := ingress(&s); ip != "" {
			holders[ip] = append(holders[ip], s.Name)
		}
	}
	if len(holders) != poolSize {
		t.Errorf("%d of the pool's %d IPs in use: %v", len(holders), poolSize, holders)
	}
	for ip, names := range holders {
		want := 1
		if ip == shared {
			want = 2
		}
		if len(names) != want {
			t.Errorf("%s held by %v", ip, names)
		}
	}
	l.poolStatus("revoke", v1beta1.IPAddressPoolStatus{AssignedIPv4: poolSize})
}

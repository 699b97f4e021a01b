package e2e

import (
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/netip"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/heraldlb/herald/testbed/netlab"
)

// prober sends an HTTP request from the client to the Service every
// 10 ms, each on its own connection (so a request never waits for
// another), and records when each successful one completed and which
// node served it.
type prober struct {
	mu    sync.Mutex
	oks   []probeOK
	fails int
	stop  chan struct{}
	wg    sync.WaitGroup
}

type probeOK struct {
	at   time.Time
	node string
}

func (l *speakerLab) probe(ip netip.Addr) *prober {
	p := &prober{stop: make(chan struct{})}
	client := netlab.HTTPClient(l.lab.Client.NS, 2*time.Second)
	url := netlab.ServiceURL(netip.AddrPortFrom(ip, 80))
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-p.stop:
				return
			case <-tick.C:
			}
			p.wg.Add(1)
			go func() {
				defer p.wg.Done()
				resp, err := client.Get(url)
				if err == nil {
					body, rerr := io.ReadAll(resp.Body)
					resp.Body.Close()
					if rerr == nil && resp.StatusCode == http.StatusOK {
						p.mu.Lock()
						p.oks = append(p.oks, probeOK{at: time.Now(), node: strings.TrimSpace(string(body))})
						p.mu.Unlock()
						return
					}
				}
				p.mu.Lock()
				p.fails++
				p.mu.Unlock()
			}()
		}
	}()
	return p
}

// finish stops the prober and returns the longest time between two
// successful responses after from, and the node that served the last.
func (p *prober) finish(from time.Time) (gap time.Duration, last string, fails int) {
	close(p.stop)
	p.wg.Wait()
	oks := slices.Clone(p.oks)
	slices.SortFunc(oks, func(a, b probeOK) int { return a.at.Compare(b.at) })
	prev := from
	for _, ok := range oks {
		if ok.at.Before(from) {
			prev = ok.at
			continue
		}
		gap = max(gap, ok.at.Sub(prev))
		prev = ok.at
		last = ok.node
	}
	return gap, last, p.fails
}

// servedBy waits until the prober's newest successes come from a node
// other than old, then a little longer so the gap after is measured.
func (p *prober) servedByOtherThan(t *testing.T, old string) {
	t.Helper()
	eventually(t, 15*time.Second, "the Service served by a node other than "+old, func() (bool, string) {
		p.mu.Lock()
		defer p.mu.Unlock()
		n := len(p.oks)
		if n < 5 {
			return false, fmt.Sprintf("%d successes", n)
		}
		for _, ok := range p.oks[n-5:] {
			if ok.node == old {
				return false, "still " + old
			}
		}
		return true, ""
	})
	time.Sleep(300 * time.Millisecond)
}

// arpReplies sends three ARP requests from the client and returns the MACs
// the replies came from, with their count.
func (l *speakerLab) arpReplies(ip netip.Addr) (replies int, macs map[string]int) {
	out, _ := l.lab.Exec(l.t.Context(), l.lab.Client.NS, "arping", "-c", "3", "-w", "5", "-I", "eth0", ip.String())
	macs = map[string]int{}
	for _, r := range regexp.MustCompile(`(?m)^Unicast reply from .*\[([0-9A-Fa-f:]+)\]`).FindAllStringSubmatch(string(out), -1) {
		macs[strings.ToLower(r[1])]++
		replies++
	}
	return replies, macs
}

// exactlyOneAnswers checks that each of three ARP requests gets exactly one
// reply, all from node's MAC.
func (l *speakerLab) exactlyOneAnswers(ip netip.Addr, node string) {
	l.t.Helper()
	want := l.mac(node)
	eventually(l.t, 20*time.Second, "exactly one ARP reply per request, from "+node, func() (bool, string) {
		n, macs := l.arpReplies(ip)
		return n == 3 && len(macs) == 1 && macs[want] == 3, fmt.Sprintf("%d replies from %v", n, macs)
	})
}

// owner asks the Service which node serves it.
func (l *speakerLab) owner(ip netip.Addr) string {
	l.t.Helper()
	var body string
	eventually(l.t, 30*time.Second, "the client reaches the Service over L2", func() (bool, string) {
		var err error
		body, err = l.get(ip)
		if err != nil {
			return false, err.Error()
		}
		return strings.HasPrefix(body, "node"), body
	})
	return body
}

func (l *speakerLab) cordon(node string, on bool) {
	l.t.Helper()
	patch := fmt.Sprintf(`{"spec":{"unschedulable":%v}}`, on)
	if _, err := l.admin.CoreV1().Nodes().Patch(l.t.Context(), node, types.MergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
		l.t.Fatal(err)
	}
}

// failoverCase is one way an owner goes away, and how it comes back.
// meshLimit, when set, bounds how long the other speakers' liveness mesh
// takes to count the owner out.
type failoverCase struct {
	name      string
	limit     time.Duration
	meshLimit time.Duration
	fail      func(l *speakerLab, owner string)
	restore   func(l *speakerLab, owner string)
}

// meshWatch polls the alive gauge of every speaker but node, every 5 ms,
// and records when each first reported fewer than want speakers alive.
type meshWatch struct {
	stop chan struct{}
	wg   sync.WaitGroup
	mu   sync.Mutex
	seen map[string]time.Time
	n    int
}

func (l *speakerLab) watchMesh(node string, want int) *meshWatch {
	w := &meshWatch{stop: make(chan struct{}), seen: map[string]time.Time{}}
	re := regexp.MustCompile(`(?m)^herald_liveness_speakers_alive ([0-9.]+)$`)
	for _, h := range l.lab.Nodes {
		if h.Name == node {
			continue
		}
		w.n++
		w.wg.Add(1)
		go func() {
			defer w.wg.Done()
			client := netlab.HTTPClient(h.NS, time.Second)
			for {
				select {
				case <-w.stop:
					return
				default:
				}
				if resp, err := client.Get("http://" + speakerMetricsAddr + "/metrics"); err == nil {
					b, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					at := time.Now()
					if m := re.FindSubmatch(b); m != nil {
						var v float64
						fmt.Sscan(string(m[1]), &v)
						if int(v) < want {
							w.mu.Lock()
							if _, ok := w.seen[h.Name]; !ok {
								w.seen[h.Name] = at
							}
							w.mu.Unlock()
							return
						}
					}
				}
				time.Sleep(5 * time.Millisecond)
			}
		}()
	}
	return w
}

// finish waits (up to 5 s) for every watched speaker and returns the
// longest time from at until one saw the change.
func (w *meshWatch) finish(at time.Time) (time.Duration, bool) {
	done := make(chan struct{})
	go func() { w.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
	}
	close(w.stop)
	<-done
	w.mu.Lock()
	defer w.mu.Unlock()
	var worst time.Duration
	for _, seen := range w.seen {
		worst = max(worst, seen.Sub(at))
	}
	return worst, len(w.seen) == w.n
}

var failoverCases = []failoverCase{
	{"SIGKILL", time.Second, 500 * time.Millisecond,
		func(l *speakerLab, owner string) {
			if err := l.speakers[owner].cmd.Process.Signal(syscall.SIGKILL); err != nil {
				l.t.Fatal(err)
			}
		},
		func(l *speakerLab, owner string) { l.restartSpeaker(owner) }},
	{"link down", time.Second, 0,
		func(l *speakerLab, owner string) { l.link(owner, "down") },
		func(l *speakerLab, owner string) { l.link(owner, "up") }},
	{"clean stop", 200 * time.Millisecond, 50 * time.Millisecond,
		func(l *speakerLab, owner string) { l.speakers[owner].stop(10 * time.Second) },
		func(l *speakerLab, owner string) { l.restartSpeaker(owner) }},
	{"cordon", 200 * time.Millisecond, 0,
		func(l *speakerLab, owner string) { l.cordon(owner, true) },
		func(l *speakerLab, owner string) { l.cordon(owner, false) }},
}

func (l *speakerLab) restartSpeaker(node string) {
	l.t.Helper()
	h, err := l.lab.Host(node)
	if err != nil {
		l.t.Fatal(err)
	}
	<-l.speakers[node].done
	l.startSpeaker(h)
}

// link takes a node's eth0 down or up. Down drops the routes through it
// (and, without keep_addr_on_down, its IPv6 addresses, kept here); up puts
// the default routes back, as a node's network configuration would.
func (l *speakerLab) link(node, state string) {
	l.t.Helper()
	h, err := l.lab.Host(node)
	if err != nil {
		l.t.Fatal(err)
	}
	cmds := [][]string{{"ip", "link", "set", "eth0", state}}
	if state == "down" {
		cmds = append([][]string{{"sysctl", "-qw", "net.ipv6.conf.eth0.keep_addr_on_down=1"}}, cmds...)
	} else {
		cmds = append(cmds, []string{"ip", "route", "replace", "default", "via", l.lab.Router.LAN4.String(), "dev", "eth0"},
			[]string{"ip", "-6", "route", "replace", "default", "via", l.lab.Router.LAN6.String(), "dev", "eth0"})
	}
	for _, argv := range cmds {
		if out, err := l.lab.Exec(l.t.Context(), h.NS, argv...); err != nil {
			l.t.Fatalf("%s: %v\n%s", strings.Join(argv, " "), err, out)
		}
	}
}

// arpOwner waits until exactly one node answers ARP for ip, each of three
// requests once, and returns it.
func (l *speakerLab) arpOwner(ip netip.Addr) string {
	l.t.Helper()
	byMAC := map[string]string{}
	for _, n := range l.lab.Nodes {
		byMAC[l.mac(n.Name)] = n.Name
	}
	var owner string
	eventually(l.t, 20*time.Second, "exactly one node answering ARP for "+ip.String(), func() (bool, string) {
		n, macs := l.arpReplies(ip)
		if n != 3 || len(macs) != 1 {
			return false, fmt.Sprintf("%d replies from %v", n, macs)
		}
		for mac := range macs {
			owner = byMAC[mac]
		}
		return owner != "", fmt.Sprintf("replies from %v", macs)
	})
	return owner
}

// settle waits for the steady state after a node came back: every speaker
// counts all speakers alive again, exactly one node answers for ip, the
// client's requests go to that node, and all of it holds on two tries in a
// row (a few seconds apart: each try sends ARP or NDP requests and waits
// for the answers). The answering node is asked again on every try because
// the node that came back may rank first and take the IP back only once
// the others count it alive, or see its Node uncordoned: a test that picked
// the owner before that would wait for the wrong node.
func (l *speakerLab) settle(ip netip.Addr) {
	l.t.Helper()
	l.meshConverged(len(l.lab.Nodes))
	byMAC := map[string]string{}
	for _, n := range l.lab.Nodes {
		byMAC[l.mac(n.Name)] = n.Name
	}
	var before string // the owner the previous try found settled
	eventually(l.t, 30*time.Second, "one node answers for "+ip.String()+" and the client uses it, twice in a row", func() (bool, string) {
		owner, why := l.settledOwner(ip, byMAC)
		ok := owner != "" && owner == before
		before = owner
		return ok, why
	})
}

// settledOwner is one try of settle: the node that alone answers for ip
// and serves the client, or "" and why not.
func (l *speakerLab) settledOwner(ip netip.Addr, byMAC map[string]string) (string, string) {
	var macs []string
	if ip.Is4() {
		n, seen := l.arpReplies(ip)
		if n != 3 || len(seen) != 1 {
			return "", fmt.Sprintf("%d ARP replies from %v", n, seen)
		}
		macs = slices.Collect(maps.Keys(seen))
	} else if macs = l.ndReplies(ip); len(macs) != 1 {
		return "", fmt.Sprintf("advertisements from %v", macs)
	}
	owner := byMAC[macs[0]]
	body, err := l.get(ip)
	if err != nil || body != owner {
		return "", fmt.Sprintf("%s answers, served by %q (%v)", owner, body, err)
	}
	out, err := l.lab.Exec(l.t.Context(), l.lab.Client.NS, "ip", "neigh", "show", ip.String(), "dev", "eth0")
	if err != nil {
		return "", err.Error()
	}
	if !strings.Contains(strings.ToLower(string(out)), macs[0]) {
		return "", owner + " answers, neighbour entry: " + strings.TrimSpace(string(out))
	}
	return owner, owner + " answers and serves"
}

// clientUses waits until the client's neighbour entry for ip carries
// node's MAC and a request from the client is served by node.
func (l *speakerLab) clientUses(ip netip.Addr, node string) {
	l.t.Helper()
	want := l.mac(node)
	eventually(l.t, 20*time.Second, "the client's neighbour entry for "+ip.String()+" carries "+node+"'s MAC and "+node+" serves", func() (bool, string) {
		body, err := l.get(ip)
		if err != nil || body != node {
			return false, fmt.Sprintf("served by %q (%v)", body, err)
		}
		out, err := l.lab.Exec(l.t.Context(), l.lab.Client.NS, "ip", "neigh", "show", ip.String(), "dev", "eth0")
		if err != nil {
			return false, err.Error()
		}
		return strings.Contains(strings.ToLower(string(out)), want), "neighbour entry: " + strings.TrimSpace(string(out))
	})
}

// takeoverCounted checks the new owner's metrics after a failover: it
// counted taking the IP over from another node, and its liveness mesh
// runs (datagrams sent, the other speakers' statuses held, none malformed).
func (l *speakerLab) takeoverCounted(node string) {
	l.t.Helper()
	h, err := l.lab.Host(node)
	if err != nil {
		l.t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		ok   func(float64) bool
	}{
		{"herald_layer2_takeovers_total", func(v float64) bool { return v >= 1 }},
		{"herald_liveness_datagrams_sent_total", func(v float64) bool { return v > 0 }},
		{"herald_liveness_statuses_held", func(v float64) bool { return v >= 1 }},
		{"herald_liveness_datagrams_malformed_total", func(v float64) bool { return v == 0 }},
	} {
		eventually(l.t, 10*time.Second, node+"'s "+c.name, func() (bool, string) {
			v, err := l.metric(h, c.name)
			if err != nil {
				return false, err.Error()
			}
			return c.ok(v), fmt.Sprint(c.name, " = ", v)
		})
	}
}

// L2 failover: while the client sends a request every 10 ms, the owner
// goes away (its speaker SIGKILLed, its link down, its speaker stopped
// cleanly, the node cordoned). The longest time without a successful
// response stays under the bound, and afterwards exactly one node answers
// ARP, the one now serving. make soak runs 20 trials of each case and
// prints p50 and p99.
func TestL2Failover(t *testing.T) {
	l := newSpeakerLab(t, speakerLabOptions{nodes: 3})
	l.l2Pool4()
	ip := l.service("web", nil, "node1", "node2", "node3")
	trials := 1
	if soak() {
		trials = 20
	}
	for _, fc := range failoverCases {
		t.Run(fc.name, func(t *testing.T) {
			var gaps, meshes []time.Duration
			for trial := range trials {
				owner := l.arpOwner(ip)
				l.clientUses(ip, owner)
				p := l.probe(ip)
				var mw *meshWatch
				if fc.meshLimit > 0 {
					mw = l.watchMesh(owner, len(l.lab.Nodes))
				}
				time.Sleep(300 * time.Millisecond)
				at := time.Now()
				fc.fail(l, owner)
				p.servedByOtherThan(t, owner)
				gap, now, fails := p.finish(at)
				gaps = append(gaps, gap)
				l.takeoverCounted(now)
				t.Logf("trial %d: %s left %s; %s serves after a gap of %v (%d failed requests)", trial, fc.name, owner, now, gap.Round(time.Millisecond), fails)
				if gap >= fc.limit {
					t.Errorf("trial %d: %v without a successful response, want under %v", trial, gap.Round(time.Millisecond), fc.limit)
				}
				if mw != nil {
					seen, ok := mw.finish(at)
					meshes = append(meshes, seen)
					t.Logf("trial %d: the other speakers' mesh counted %s out after %v", trial, owner, seen.Round(time.Millisecond))
					if !ok || seen >= fc.meshLimit {
						t.Errorf("trial %d: the mesh counted %s out after %v (all seen: %v), want under %v", trial, owner, seen.Round(time.Millisecond), ok, fc.meshLimit)
					}
				}
				l.exactlyOneAnswers(ip, now)
				l.clientUses(ip, now)
				// Back to a steady state: whoever the election picks
				// (the old owner again, when it ranks first) answers
				// alone, and the client follows it.
				fc.restore(l, owner)
				l.settle(ip)
			}
			if trials > 1 {
				t.Logf("%s: %d trials, longest gap without a response: %s", fc.name, trials, quantiles(gaps))
				if len(meshes) > 0 {
					t.Logf("%s: %d trials, time until both other speakers count it out: %s", fc.name, trials, quantiles(meshes))
				}
			}
		})
	}
}

// quantiles formats p50, p99 and max of ds.
func quantiles(ds []time.Duration) string {
	ds = slices.Clone(ds)
	slices.Sort(ds)
	q := func(p int) time.Duration { return ds[(len(ds)*p+99)/100-1].Round(time.Millisecond) }
	return fmt.Sprintf("p50 %v, p99 %v, max %v", q(50), q(99), ds[len(ds)-1].Round(time.Millisecond))
}

package informers

import (
	"context"
	"fmt"
	"slices"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/resourceversion"
	"k8s.io/apimachinery/pkg/util/wait"
)

// liveList reads every object of one watched kind from the API server with
// a consistent read (no resourceVersion: etcd's current state, not the API
// server's watch cache), returning the list's resourceVersion and the items.
type liveList func(ctx context.Context) (listRV string, items []version, err error)

// version is the identity and resourceVersion of one object.
type version struct {
	key string // namespace/name
	rv  string
}

// listOf adapts a typed client's List to liveList.
func listOf[L runtime.Object](list func(context.Context, metav1.ListOptions) (L, error)) liveList {
	return func(ctx context.Context) (string, []version, error) {
		l, err := list(ctx, metav1.ListOptions{})
		if err != nil {
			return "", nil, err
		}
		lm, err := meta.ListAccessor(l)
		if err != nil {
			return "", nil, err
		}
		objs, err := meta.ExtractList(l)
		if err != nil {
			return "", nil, err
		}
		out := make([]version, 0, len(objs))
		for _, o := range objs {
			if v, ok := versionOf(o); ok {
				out = append(out, v)
			}
		}
		return lm.GetResourceVersion(), out, nil
	}
}

func versionOf(obj any) (version, bool) {
	m, err := meta.Accessor(obj)
	if err != nil {
		return version{}, false
	}
	key := m.GetName()
	if ns := m.GetNamespace(); ns != "" {
		key = ns + "/" + key
	}
	return version{key: key, rv: m.GetResourceVersion()}, true
}

// behind says why a cache does not yet reflect a consistent list taken from
// the API server, or returns "" when it does: every listed object is cached
// at its listed resourceVersion or a later one, and every cached object the
// list lacks is newer than the list (created after it) rather than older
// (deleted before it). Resource versions are compared as apimachinery
// defines them; where one does not parse (fake clients leave them empty),
// only an equal one counts.
func behind(listRV string, live, cached []version) string {
	inCache := make(map[string]string, len(cached))
	for _, c := range cached {
		inCache[c.key] = c.rv
	}
	listed := make(map[string]bool, len(live))
	for _, l := range live {
		listed[l.key] = true
		rv, ok := inCache[l.key]
		if !ok {
			return fmt.Sprintf("%s is not cached yet", l.key)
		}
		if !atLeast(rv, l.rv) {
			return fmt.Sprintf("%s is cached at resourceVersion %s, the API server has %s", l.key, rv, l.rv)
		}
	}
	for _, c := range cached {
		if !listed[c.key] && (c.rv == listRV || !atLeast(c.rv, listRV)) {
			return fmt.Sprintf("%s is cached but was gone at resourceVersion %s", c.key, listRV)
		}
	}
	return ""
}

// atLeast reports whether resourceVersion a is the same as or later than b.
func atLeast(a, b string) bool {
	c, err := resourceversion.CompareResourceVersion(a, b)
	if err != nil {
		return a == b
	}
	return c >= 0
}

// relistEvery bounds how long a cache is compared with one list: an object
// deleted after the list was taken is missing from the cache for good, so
// the list is taken again.
const relistEvery = time.Second

// WaitCurrent returns once every cache reflects the API server as it was
// when WaitCurrent was called: each cached object is at least as new as a
// consistent read taken then. It is the fence a new leader passes before
// it restores from the caches: a reflector that lost its watch (an API
// server restart) resumes only after its backoff, and until then the cache
// can be older than the previous leader's last writes; restoring from it
// would hand out IPs that Services hold. It returns ctx's error if ctx ends
// first, and keeps retrying a list that fails.
func (i *Informers) WaitCurrent(ctx context.Context) error {
	start := time.Now()
	pending := slices.Clone(i.regs)
	for len(pending) > 0 {
		fences := make([]fence, len(pending))
		for k, r := range pending {
			fences[k].r = r
			fences[k].listRV, fences[k].live, fences[k].err = r.list(ctx)
		}
		var why map[string]string
		// The poll's own timeout is not an error here: it only means
		// "take the lists again".
		_ = wait.PollUntilContextTimeout(ctx, 20*time.Millisecond, relistEvery, true, func(context.Context) (bool, error) {
			why = stillBehind(fences)
			return len(why) == 0, nil
		})
		if ctx.Err() != nil {
			return context.Cause(ctx)
		}
		if len(why) == 0 {
			break
		}
		// A fence that lasts (a kind whose list keeps failing, say after
		// its RBAC changed) holds the Lease with nothing done: say so
		// loudly after a while.
		log := i.log.Info
		if time.Since(start) > 10*time.Second {
			log = i.log.Warn
		}
		log("caches are behind the API server; waiting", "behind", why, "waited", time.Since(start).Round(time.Millisecond))
		pending = pending[:0]
		for _, f := range fences {
			if _, ok := why[f.r.name]; ok {
				pending = append(pending, f.r)
			}
		}
	}
	i.log.Info("caches are current", "waited", time.Since(start).Round(time.Millisecond))
	return nil
}

// fence is one kind's consistent list, to compare its cache with.
type fence struct {
	r      registration
	listRV string
	live   []version
	err    error
}

// stillBehind returns, by kind, why each cache does not reflect its list
// yet (a failed list counts as behind).
func stillBehind(fences []fence) map[string]string {
	why := map[string]string{}
	for _, f := range fences {
		if f.err != nil {
			why[f.r.name] = "listing from the API server failed: " + f.err.Error()
			continue
		}
		if w := behind(f.listRV, f.live, cachedVersions(f.r)); w != "" {
			why[f.r.name] = w
		}
	}
	return why
}

func cachedVersions(r registration) []version {
	objs := r.informer.GetStore().List()
	out := make([]version, 0, len(objs))
	for _, o := range objs {
		if v, ok := versionOf(o); ok {
			out = append(out, v)
		}
	}
	return out
}

package informers

import (
	"math/rand/v2"
	"net/http"
	"time"

	"k8s.io/client-go/rest"
)

// ResumeQuickly returns a copy of cfg whose clients keep retrying the
// informers' reads — watches, and lists at a resourceVersion — while the
// API server cannot be reached, every 250 ms growing to 2 s, for up to 30 s
// (or the request's context, if shorter).
//
// Why: client-go's reflector backs off between failed attempts from
// 0.8 s up to 30 s with as much again of jitter, and keeps that backoff
// for two minutes. After an API server outage of 15 s its next attempt
// may come most of a minute after the server is back, and until then the
// cache misses every change: a new leader restores from it and then does
// not see a new Service, a speaker does not see a cordon. Retrying below
// the reflector, an outage costs the reflector one failure at most (the
// watch that broke), not a growing backoff. After 30 s the error goes to
// the reflector, which logs it and backs off as usual: an error that
// lasts (a wrong CA, a host that does not resolve, a blocked port) must
// show in the log, not hide behind retries.
//
// Retried are GETs without a body that watch or carry a resourceVersion
// (the reflector's lists), and only when no response came back (refused,
// reset, TLS or dial failure); an answer from the server, an error status
// included, goes to the caller as it is. Other requests — writes, the
// consistent lists of WaitCurrent, the Lease's reads — are left alone:
// their callers retry on their own terms, and leader election must see
// its failures in time.
func ResumeQuickly(cfg *rest.Config) *rest.Config {
	c := rest.CopyConfig(cfg)
	c.Wrap(func(rt http.RoundTripper) http.RoundTripper {
		return &resumeTransport{next: rt, first: 250 * time.Millisecond, max: 2 * time.Second, giveUp: 30 * time.Second}
	})
	return c
}

type resumeTransport struct {
	next       http.RoundTripper
	first, max time.Duration
	// giveUp bounds the retrying of one request.
	giveUp time.Duration
}

func (t *resumeTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if !informerRead(req) {
		return t.next.RoundTrip(req)
	}
	delay := t.first
	end := time.Now().Add(t.giveUp)
	for {
		resp, err := t.next.RoundTrip(req)
		if err == nil || time.Now().After(end) {
			return resp, err
		}
		// Jittered, so that every client of a cluster does not come back
		// in the same instant.
		wait := delay/2 + rand.N(delay/2+1)
		timer := time.NewTimer(wait)
		select {
		case <-req.Context().Done():
			timer.Stop()
			return nil, err
		case <-timer.C:
		}
		delay = min(2*delay, t.max)
	}
}

// informerRead reports whether req is a reflector's read: a GET or a watch
// of a collection with a resourceVersion, or any watch.
func informerRead(req *http.Request) bool {
	if req.Method != http.MethodGet || (req.Body != nil && req.Body != http.NoBody) {
		return false
	}
	q := req.URL.Query()
	return q.Get("watch") == "true" || q.Get("watch") == "1" || q.Has("resourceVersion")
}

package jaeger

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
)

// ErrNotFound is wrapped when the query API has no such trace.
var ErrNotFound = errors.New("trace not found")

// Client reads Jaeger's query API (the JSON API its UI uses, under /api).
type Client struct {
	base string
	http *http.Client
}

// NewClient reads the query API at base, e.g. http://127.0.0.1:16686.
func NewClient(base string) *Client {
	return &Client{base: strings.TrimRight(base, "/"), http: &http.Client{Timeout: 10 * time.Second}}
}

// Trace is one trace as the query API returns it.
type Trace struct {
	TraceID   string             `json:"traceID"`
	Spans     []Span             `json:"spans"`
	Processes map[string]Process `json:"processes"`
}

// Span is one span of a Trace. StartTime and Duration are microseconds.
type Span struct {
	TraceID       string      `json:"traceID"`
	SpanID        string      `json:"spanID"`
	OperationName string      `json:"operationName"`
	References    []Reference `json:"references"`
	StartTime     int64       `json:"startTime"`
	Duration      int64       `json:"duration"`
	Tags          []KeyValue  `json:"tags"`
	ProcessID     string      `json:"processID"`
}

// Reference is a span's parent (CHILD_OF) or a link (FOLLOWS_FROM).
type Reference struct {
	RefType string `json:"refType"`
	TraceID string `json:"traceID"`
	SpanID  string `json:"spanID"`
}

// KeyValue is a tag: an attribute of a span or a process.
type KeyValue struct {
	Key   string `json:"key"`
	Type  string `json:"type"`
	Value any    `json:"value"`
}

// Process is the resource of the spans that name it.
type Process struct {
	ServiceName string     `json:"serviceName"`
	Tags        []KeyValue `json:"tags"`
}

// Tag returns the value of the tag key as text, and whether there is one.
func (s Span) Tag(key string) (string, bool) { return tag(s.Tags, key) }

// Tag returns the value of the tag key as text, and whether there is one.
func (p Process) Tag(key string) (string, bool) { return tag(p.Tags, key) }

func tag(kvs []KeyValue, key string) (string, bool) {
	for _, kv := range kvs {
		if kv.Key == key {
			return fmt.Sprint(kv.Value), true
		}
	}
	return "", false
}

// Parent is the SpanID of the span's parent, or "" for a root.
func (s Span) Parent() string {
	for _, r := range s.References {
		if r.RefType == "CHILD_OF" {
			return r.SpanID
		}
	}
	return ""
}

// MissingParents are the parents of t's spans that t does not hold: each
// process exports its spans when they end, so a trace read early can have
// children whose parent has not arrived yet.
func (t Trace) MissingParents() []string {
	have := map[string]bool{}
	for _, s := range t.Spans {
		have[s.SpanID] = true
	}
	var missing []string
	for _, s := range t.Spans {
		if p := s.Parent(); p != "" && !have[p] {
			missing = append(missing, p)
		}
	}
	return missing
}

// Service is the service.name of the process that made s.
func (t Trace) Service(s Span) string { return t.Processes[s.ProcessID].ServiceName }

// SortedSpans are the trace's spans by start time.
func (t Trace) SortedSpans() []Span {
	out := append([]Span(nil), t.Spans...)
	sort.SliceStable(out, func(i, k int) bool { return out[i].StartTime < out[k].StartTime })
	return out
}

type response struct {
	Data   []Trace `json:"data"`
	Errors []struct {
		Code int    `json:"code"`
		Msg  string `json:"msg"`
	} `json:"errors"`
}

// Trace returns the trace with the hex ID id (/api/traces/<id>); its
// error wraps ErrNotFound when Jaeger has none.
func (c *Client) Trace(ctx context.Context, id string) (Trace, error) {
	var r response
	code, err := c.get(ctx, "/api/traces/"+url.PathEscape(id), &r)
	if code == http.StatusNotFound || (err == nil && len(r.Data) == 0) {
		return Trace{}, fmt.Errorf("jaeger: trace %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return Trace{}, err
	}
	return r.Data[0], nil
}

// Query selects traces for Traces.
type Query struct {
	// Service is the service.name (required).
	Service string
	// Operation is a span name; empty: any.
	Operation string
	// Tags must all be on one span of the trace.
	Tags map[string]string
	// Lookback is how far back to look (default 1h); Limit how many traces
	// (default 20).
	Lookback time.Duration
	Limit    int
}

// Traces returns the traces of a service (/api/traces?service=...),
// newest first as Jaeger orders them.
func (c *Client) Traces(ctx context.Context, q Query) ([]Trace, error) {
	if q.Service == "" {
		return nil, errors.New("jaeger: a trace search needs a service")
	}
	if q.Lookback == 0 {
		q.Lookback = time.Hour
	}
	if q.Limit == 0 {
		q.Limit = 20
	}
	v := url.Values{"service": {q.Service}, "limit": {strconv.Itoa(q.Limit)}, "lookback": {q.Lookback.String()}}
	if q.Operation != "" {
		v.Set("operation", q.Operation)
	}
	if len(q.Tags) > 0 {
		b, err := json.Marshal(q.Tags)
		if err != nil {
			return nil, err
		}
		v.Set("tags", string(b))
	}
	var r response
	if _, err := c.get(ctx, "/api/traces?"+v.Encode(), &r); err != nil {
		return nil, err
	}
	return r.Data, nil
}

// Services lists the service names Jaeger has spans of.
func (c *Client) Services(ctx context.Context) ([]string, error) {
	var r struct {
		Data []string `json:"data"`
	}
	_, err := c.get(ctx, "/api/services", &r)
	return r.Data, err
}

// WaitForTrace polls Trace until the trace has at least minSpans spans or
// ctx ends: spans reach storage a batch timeout after they are exported.
func (c *Client) WaitForTrace(ctx context.Context, id string, minSpans int) (Trace, error) {
	for {
		t, err := c.Trace(ctx, id)
		if err == nil && len(t.Spans) >= minSpans {
			return t, nil
		}
		if err != nil && !errors.Is(err, ErrNotFound) {
			return t, err
		}
		select {
		case <-ctx.Done():
			return t, fmt.Errorf("jaeger: trace %s with %d spans (have %d): %w", id, minSpans, len(t.Spans), ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func (c *Client) get(ctx context.Context, path string, out any) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+path, nil)
	if err != nil {
		return 0, fmt.Errorf("jaeger: %w", err)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, fmt.Errorf("jaeger: GET %s: %w", path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return resp.StatusCode, fmt.Errorf("jaeger: GET %s: %w", path, err)
	}
	if resp.StatusCode != http.StatusOK {
		return resp.StatusCode, fmt.Errorf("jaeger: GET %s: %s: %.200s", path, resp.Status, body)
	}
	if err := json.Unmarshal(body, out); err != nil {
		return resp.StatusCode, fmt.Errorf("jaeger: GET %s: %w", path, err)
	}
	return resp.StatusCode, nil
}

package timeline

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
)

// ErrNoTrace is wrapped when a query API body holds no trace.
var ErrNoTrace = errors.New("no trace in the response")

// Trace is one trace of Jaeger's query API.
type Trace struct {
	TraceID   string             `json:"traceID"`
	Spans     []Span             `json:"spans"`
	Processes map[string]Process `json:"processes"`
}

// Span is one span. StartTime (Unix) and Duration are in microseconds.
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

// KeyValue is one tag. Value is a string, bool, json.Number or, for
// Jaeger's binary and array types, the string Jaeger sends.
type KeyValue struct {
	Key   string `json:"key"`
	Type  string `json:"type"`
	Value any    `json:"value"`
}

// Process is the resource (service.name and its attributes) of spans.
type Process struct {
	ServiceName string     `json:"serviceName"`
	Tags        []KeyValue `json:"tags"`
}

const (
	refChildOf = "CHILD_OF"
	// NodeKey is the resource or span attribute naming the Kubernetes node.
	NodeKey = "k8s.node.name"
)

// keyAttributes are the tags shown besides every herald.* one.
var keyAttributes = []string{
	"network.peer.address", "network.peer.port", "network.interface.name",
	"error.type", "otel.status_code", "otel.status_description",
}

type response struct {
	Data   []Trace `json:"data"`
	Errors []struct {
		Code int    `json:"code"`
		Msg  string `json:"msg"`
	} `json:"errors"`
}

// Decode reads a query API body ({"data":[trace]}) and returns its first
// trace. Numbers in tags stay exact (json.Number).
func Decode(r io.Reader) (Trace, error) {
	dec := json.NewDecoder(r)
	dec.UseNumber()
	var resp response
	if err := dec.Decode(&resp); err != nil {
		return Trace{}, fmt.Errorf("decoding the trace: %w", err)
	}
	if len(resp.Errors) > 0 {
		var msgs []string
		for _, e := range resp.Errors {
			msgs = append(msgs, fmt.Sprintf("%d %s", e.Code, e.Msg))
		}
		return Trace{}, fmt.Errorf("%w: %s", ErrNoTrace, strings.Join(msgs, "; "))
	}
	if len(resp.Data) == 0 || len(resp.Data[0].Spans) == 0 {
		return Trace{}, ErrNoTrace
	}
	return resp.Data[0], nil
}

// DecodeBytes is Decode of a body already read.
func DecodeBytes(b []byte) (Trace, error) { return Decode(bytes.NewReader(b)) }

// parent returns the span's CHILD_OF reference's span ID, or "".
func (s Span) parent() string {
	for _, r := range s.References {
		if r.RefType == refChildOf {
			return r.SpanID
		}
	}
	return ""
}

// links are the span's references other than its parent.
func (s Span) links() []Reference {
	var out []Reference
	parentSeen := false
	for _, r := range s.References {
		if r.RefType == refChildOf && !parentSeen {
			parentSeen = true
			continue
		}
		out = append(out, r)
	}
	return out
}

func tagValue(kvs []KeyValue, key string) (string, bool) {
	for _, kv := range kvs {
		if kv.Key == key {
			return fmt.Sprint(kv.Value), true
		}
	}
	return "", false
}

// Format renders the trace as an indented timeline (see the package
// documentation for the order and what each line holds).
func Format(t Trace) string {
	var b strings.Builder
	if len(t.Spans) == 0 {
		fmt.Fprintf(&b, "trace %s: no spans\n", t.TraceID)
		return b.String()
	}
	byID := make(map[string]*Span, len(t.Spans))
	for i := range t.Spans {
		byID[t.Spans[i].SpanID] = &t.Spans[i]
	}
	start, end := t.Spans[0].StartTime, int64(0)
	children := map[string][]*Span{}
	var roots []*Span
	for i := range t.Spans {
		s := &t.Spans[i]
		start = min(start, s.StartTime)
		end = max(end, s.StartTime+s.Duration)
		if p := s.parent(); p != "" && byID[p] != nil && p != s.SpanID {
			children[p] = append(children[p], s)
		} else {
			roots = append(roots, s)
		}
	}
	var services []string
	for _, p := range t.Processes {
		if p.ServiceName != "" && !slices.Contains(services, p.ServiceName) {
			services = append(services, p.ServiceName)
		}
	}
	slices.Sort(services)
	fmt.Fprintf(&b, "trace %s: %d spans over %s ms", t.TraceID, len(t.Spans), millis(end-start))
	if len(services) > 0 {
		fmt.Fprintf(&b, " from %s", strings.Join(services, ", "))
	}
	b.WriteString("\n")
	fmt.Fprintf(&b, "%12s %12s  %s\n", "start", "duration", "span [process@node] attributes")

	visited := map[string]bool{}
	var walk func(s *Span, depth int)
	walk = func(s *Span, depth int) {
		if visited[s.SpanID] {
			return // a reference cycle in a broken trace: show each span once
		}
		visited[s.SpanID] = true
		indent := strings.Repeat("  ", depth)
		fmt.Fprintf(&b, "%9s ms %9s ms  %s%s [%s]", millis(s.StartTime-start), millis(s.Duration), indent, s.OperationName, t.who(s))
		if attrs := keyAttrs(s.Tags); attrs != "" {
			b.WriteString(" " + attrs)
		}
		b.WriteString("\n")
		for _, l := range s.links() {
			target := "span " + l.SpanID
			if l.TraceID != "" && l.TraceID != t.TraceID {
				target = "trace " + l.TraceID + " span " + l.SpanID
			} else if o := byID[l.SpanID]; o != nil {
				target = o.OperationName + " (" + l.SpanID + ")"
			}
			fmt.Fprintf(&b, "%9s    %9s     %s  link -> %s\n", "", "", indent, target)
		}
		kids := children[s.SpanID]
		sortSpans(kids)
		for _, k := range kids {
			walk(k, depth+1)
		}
	}
	sortSpans(roots)
	for _, r := range roots {
		walk(r, 0)
	}
	// Spans only reachable through a cycle of parents have no root; they
	// are still shown, as roots, so nothing of the trace is hidden.
	rest := make([]*Span, 0)
	for i := range t.Spans {
		if !visited[t.Spans[i].SpanID] {
			rest = append(rest, &t.Spans[i])
		}
	}
	sortSpans(rest)
	for _, s := range rest {
		walk(s, 0)
	}
	return b.String()
}

func sortSpans(ss []*Span) {
	slices.SortFunc(ss, func(a, b *Span) int {
		return cmp.Or(cmp.Compare(a.StartTime, b.StartTime), cmp.Compare(a.SpanID, b.SpanID))
	})
}

// who names the process of s, and its node when the span or the process
// says which.
func (t Trace) who(s *Span) string {
	p := t.Processes[s.ProcessID]
	name := p.ServiceName
	if name == "" {
		name = s.ProcessID
	}
	node, ok := tagValue(s.Tags, NodeKey)
	if !ok {
		node, ok = tagValue(p.Tags, NodeKey)
	}
	if ok && node != "" {
		return name + "@" + node
	}
	return name
}

func keyAttrs(tags []KeyValue) string {
	var kvs []string
	for _, kv := range tags {
		if strings.HasPrefix(kv.Key, "herald.") || slices.Contains(keyAttributes, kv.Key) {
			kvs = append(kvs, kv.Key+"="+fmt.Sprint(kv.Value))
		}
	}
	slices.Sort(kvs)
	return strings.Join(kvs, " ")
}

// millis formats microseconds as milliseconds with three decimals, exactly
// (no floating point, so the text is the same on every machine).
func millis(us int64) string {
	sign := ""
	if us < 0 {
		sign, us = "-", -us
	}
	return fmt.Sprintf("%s%d.%03d", sign, us/1000, us%1000)
}

package main

import (
	"encoding/json"
	"os"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"sigs.k8s.io/yaml"

	"github.com/heraldlb/herald/actors/controller"
	"github.com/heraldlb/herald/actors/speaker"
)

// recordingRegisterer keeps every collector registered on it, so the test
// can ask each for its descriptions, also those of vectors with no series
// yet and of collectors that report only when scraped.
type recordingRegisterer struct{ collectors []prometheus.Collector }

func (r *recordingRegisterer) Register(c prometheus.Collector) error {
	r.collectors = append(r.collectors, c)
	return nil
}
func (r *recordingRegisterer) MustRegister(cs ...prometheus.Collector) {
	r.collectors = append(r.collectors, cs...)
}
func (r *recordingRegisterer) Unregister(prometheus.Collector) bool { return false }

var fqName = regexp.MustCompile(`fqName: "([^"]+)"`)

// registeredMetrics are the names of every series the binaries register:
// the controller's and the speaker's collectors and newRegistry's.
func registeredMetrics(t *testing.T) map[string]bool {
	t.Helper()
	var rec recordingRegisterer
	if _, err := controller.NewMetrics(&rec); err != nil {
		t.Fatal(err)
	}
	if _, err := speaker.NewMetrics(&rec); err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	reg := newRegistry()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		names[mf.GetName()] = true
	}
	ch := make(chan *prometheus.Desc, 64)
	for _, c := range rec.collectors {
		go func() { c.Describe(ch); ch <- nil }()
		for d := <-ch; d != nil; d = <-ch {
			m := fqName.FindStringSubmatch(d.String())
			if m == nil {
				t.Fatalf("cannot read the name of %s", d)
			}
			names[m[1]] = true
		}
	}
	for _, want := range []string{"herald_pool_addresses", "herald_bfd_session_flaps_total", "go_goroutines",
		"metallb_allocator_addresses_total", "metallb_allocator_addresses_in_use_total",
		"metallb_k8s_client_config_loaded_bool", "metallb_k8s_client_config_stale_bool",
		"herald_event_to_wire_seconds", "herald_bgp_update_prefixes", "herald_layer2_takeovers_total"} {
		if !names[want] {
			t.Fatalf("the collectors' names lack %s: %v", want, names)
		}
	}
	return names
}

// promqlWords are PromQL's keywords, aggregation operators and functions
// that can appear without a following '(' in Herald's queries.
var promqlWords = map[string]bool{"and": true, "or": true, "unless": true, "bool": true, "offset": true, "by": true,
	"without": true, "on": true, "ignoring": true, "group_left": true, "group_right": true, "inf": true, "nan": true}

var (
	promqlStrings   = regexp.MustCompile(`"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'`)
	promqlMatchers  = regexp.MustCompile(`\{[^}]*\}`)
	promqlRanges    = regexp.MustCompile(`\[[^\]]*\]`)
	promqlGrouping  = regexp.MustCompile(`\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)`)
	promqlIdent     = regexp.MustCompile(`[a-zA-Z_:][a-zA-Z0-9_:]*(\s*\()?`)
	promqlNumberish = regexp.MustCompile(`\b\d+(?:\.\d+)?(?:e[+-]?\d+)?[a-zA-Z]*\b`)
)

// metricNames returns the metric names a PromQL expression selects: the
// identifiers left once strings, label matchers, ranges, grouping clauses,
// numbers and function calls are taken out.
func metricNames(expr string) []string {
	s := promqlStrings.ReplaceAllString(expr, " ")
	s = promqlMatchers.ReplaceAllString(s, " ")
	s = promqlRanges.ReplaceAllString(s, " ")
	s = promqlGrouping.ReplaceAllString(s, " ")
	s = promqlNumberish.ReplaceAllString(s, " ")
	var out []string
	for _, m := range promqlIdent.FindAllStringSubmatch(s, -1) {
		if m[1] != "" || promqlWords[strings.ToLower(m[0])] {
			continue // a function or aggregation, or a keyword
		}
		out = append(out, m[0])
	}
	return out
}

func TestMetricNames(t *testing.T) {
	for expr, want := range map[string][]string{
		`max by (pool, family) (herald_pool_addresses_in_use) / max by (pool) (herald_pool_addresses > 0) > 0.9`: {"herald_pool_addresses_in_use", "herald_pool_addresses"},
		`increase(herald_bfd_session_flaps_total{kind="bgp", name=~"a.*"}[15m]) > 3`:                             {"herald_bfd_session_flaps_total"},
		`sum without (pod) (rate(x_total[5m] offset 1h)) and on (pool) y unless z`:                               {"x_total", "y", "z"},
		`histogram_quantile(0.99, sum by (le) (rate(h_bucket[5m]))) > 1e3`:                                       {"h_bucket"},
	} {
		if got := metricNames(expr); !slices.Equal(got, want) {
			t.Errorf("%s: %q, want %q", expr, got, want)
		}
	}
}

// TestDashboardAndAlertsUseRegisteredMetrics: the Grafana dashboard has
// the shape Grafana's dashboard schema asks for, and every query of it
// and of the alert rules names a metric Herald registers.
func TestDashboardAndAlertsUseRegisteredMetrics(t *testing.T) {
	names := registeredMetrics(t)
	known := func(n string) bool {
		if names[n] {
			return true
		}
		for _, suffix := range []string{"_bucket", "_sum", "_count"} {
			if b, ok := strings.CutSuffix(n, suffix); ok && names[b] {
				return true
			}
		}
		return false
	}
	check := func(where, expr string) {
		t.Helper()
		ms := metricNames(expr)
		if len(ms) == 0 {
			t.Errorf("%s: %q names no metric", where, expr)
		}
		for _, m := range ms {
			if !known(m) {
				t.Errorf("%s: %q names %s, which Herald does not register", where, expr, m)
			}
		}
	}

	raw, err := os.ReadFile("../../charts/herald/files/dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Title         string `json:"title"`
		UID           string `json:"uid"`
		SchemaVersion int    `json:"schemaVersion"`
		Time          struct{ From, To string }
		Templating    struct {
			List []struct{ Name, Type string }
		}
		Panels []struct {
			ID      *int   `json:"id"`
			Type    string `json:"type"`
			Title   string `json:"title"`
			GridPos *struct {
				H, W, X, Y int
			} `json:"gridPos"`
			Datasource *struct{ Type, UID string } `json:"datasource"`
			Targets    []struct {
				RefID string `json:"refId"`
				Expr  string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	if err := dec.Decode(&dash); err != nil {
		t.Fatalf("dashboard.json: %v", err)
	}
	if dash.Title == "" || dash.UID == "" || len(dash.UID) > 40 || dash.SchemaVersion < 36 || dash.Time.From == "" || len(dash.Panels) == 0 {
		t.Errorf("dashboard: title %q uid %q schemaVersion %d time %+v, %d panels", dash.Title, dash.UID, dash.SchemaVersion, dash.Time, len(dash.Panels))
	}
	if !slices.ContainsFunc(dash.Templating.List, func(v struct{ Name, Type string }) bool { return v.Name == "datasource" && v.Type == "datasource" }) {
		t.Error("dashboard: no datasource variable, so it cannot be imported into another Grafana")
	}
	ids := map[int]bool{}
	queries := 0
	for i, p := range dash.Panels {
		if p.ID == nil || ids[*p.ID] || p.Type == "" || p.Title == "" || p.GridPos == nil {
			t.Errorf("panel %d (%q): id, type, title and gridPos are required and ids unique", i, p.Title)
			continue
		}
		ids[*p.ID] = true
		if g := p.GridPos; g.W < 1 || g.H < 1 || g.X < 0 || g.X+g.W > 24 || g.Y < 0 {
			t.Errorf("panel %q: gridPos %+v is outside Grafana's 24 columns", p.Title, *g)
		}
		if p.Type == "row" {
			continue
		}
		if p.Datasource == nil || p.Datasource.UID != "${datasource}" || len(p.Targets) == 0 {
			t.Errorf("panel %q: datasource %v and %d targets, want ${datasource} and queries", p.Title, p.Datasource, len(p.Targets))
		}
		refs := map[string]bool{}
		for _, tg := range p.Targets {
			if tg.RefID == "" || refs[tg.RefID] {
				t.Errorf("panel %q: refId %q missing or repeated", p.Title, tg.RefID)
			}
			refs[tg.RefID] = true
			check("dashboard panel "+p.Title, tg.Expr)
			queries++
		}
	}

	raw, err = os.ReadFile("../../charts/herald/files/alerts.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var rules struct {
		Groups []struct {
			Name  string
			Rules []struct {
				Alert, Expr, For string
				Labels           map[string]string
				Annotations      map[string]string
			}
		}
	}
	if err := yaml.UnmarshalStrict(raw, &rules); err != nil {
		t.Fatalf("alerts.yaml: %v", err)
	}
	var alerts []string
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			if r.Alert == "" || r.Labels["severity"] == "" || r.Annotations["summary"] == "" {
				t.Errorf("rule %+v: alert, a severity label and a summary are required", r)
			}
			check("alert "+r.Alert, r.Expr)
			alerts = append(alerts, r.Alert)
		}
	}
	sort.Strings(alerts)
	for _, want := range []string{"HeraldPoolNearlyExhausted", "HeraldBGPSessionDown", "HeraldBFDFlapping", "HeraldConfigurationStale", "HeraldConfigurationInvalid"} {
		if !slices.Contains(alerts, want) {
			t.Errorf("no alert %s among %v", want, alerts)
		}
	}
	t.Logf("%d dashboard queries and %d alerts checked against %d registered metrics", queries, len(alerts), len(names))
}

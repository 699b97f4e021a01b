// Command kubeschemas writes JSON Schemas of the Kubernetes API for
// kubeconform, offline: from the OpenAPI document (swagger 2.0) that the
// k8s.io/kubernetes module carries in api/openapi-spec/swagger.json, at the
// version the lab's kube-apiserver is built from (kube.KubernetesVersion).
// The Go module proxy serves that module; no schema is downloaded from
// anywhere else. One file per kind and version, named as kubeconform's
// default template expects:
//
//	-schema-location 'DIR/{{ .ResourceKind }}{{ .KindSuffix }}.json'
//
// (deployment-apps-v1.json, service-v1.json, clusterrole-rbac-v1.json).
//
// The schemas are strict, as the crdschemas command makes them: an object
// schema that lists its properties gets additionalProperties: false, so a
// misspelt field fails. As in the schemas kubeconform users usually
// download, an IntOrString accepts a string or an integer, a Quantity a
// string or a number, and any typed value may be null (the API server reads
// null as unset).
//
// With -monitoring-crds DIR it also copies the ServiceMonitor, PodMonitor
// and PrometheusRule CRDs of the Prometheus Operator module
// (PrometheusOperatorVersion, from the module proxy too) into DIR, for
// crdschemas to turn into schemas: the chart's optional monitoring objects
// are then checked as strictly as the rest.
//
// Usage: go run ./cmd/kubeschemas -out DIR [-monitoring-crds DIR] [-swagger FILE]
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"

	"github.com/heraldlb/herald/testbed/kube"
)

// PrometheusOperatorVersion is the github.com/prometheus-operator/prometheus-operator
// module whose CRDs the chart's ServiceMonitor, PodMonitor and
// PrometheusRule are checked against.
const PrometheusOperatorVersion = "v0.85.0"

// monitoringCRDs are the Prometheus Operator CRDs the chart may render
// objects of, under example/prometheus-operator-crd in its module.
var monitoringCRDs = []string{
	"monitoring.coreos.com_servicemonitors.yaml",
	"monitoring.coreos.com_podmonitors.yaml",
	"monitoring.coreos.com_prometheusrules.yaml",
}

func main() {
	out := flag.String("out", "", "directory to write the Kubernetes schemas to")
	swagger := flag.String("swagger", "", "swagger.json to read (default: the one of k8s.io/kubernetes "+kube.KubernetesVersion+" from the module proxy)")
	monitoring := flag.String("monitoring-crds", "", "also copy the Prometheus Operator "+PrometheusOperatorVersion+" CRDs the chart uses into this directory")
	flag.Parse()
	if *out == "" {
		flag.Usage()
		os.Exit(2)
	}
	if err := run(*out, *swagger, *monitoring); err != nil {
		fmt.Fprintln(os.Stderr, "kubeschemas:", err)
		os.Exit(1)
	}
}

func run(out, swagger, monitoring string) error {
	if swagger == "" {
		dir, err := moduleDir("k8s.io/kubernetes", kube.KubernetesVersion)
		if err != nil {
			return err
		}
		swagger = filepath.Join(dir, "api", "openapi-spec", "swagger.json")
	}
	data, err := os.ReadFile(swagger)
	if err != nil {
		return err
	}
	files, err := convert(data)
	if err != nil {
		return fmt.Errorf("%s: %w", swagger, err)
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	for name, doc := range files {
		if err := os.WriteFile(filepath.Join(out, name), doc, 0o644); err != nil {
			return err
		}
	}
	fmt.Printf("kubeschemas: %d schemas from %s in %s\n", len(files), swagger, out)
	if monitoring == "" {
		return nil
	}
	dir, err := moduleDir("github.com/prometheus-operator/prometheus-operator", PrometheusOperatorVersion)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(monitoring, 0o755); err != nil {
		return err
	}
	for _, f := range monitoringCRDs {
		b, err := os.ReadFile(filepath.Join(dir, "example", "prometheus-operator-crd", f))
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(monitoring, f), b, 0o644); err != nil {
			return err
		}
	}
	fmt.Printf("kubeschemas: %d Prometheus Operator %s CRDs in %s\n", len(monitoringCRDs), PrometheusOperatorVersion, monitoring)
	return nil
}

// moduleDir downloads a module version through the Go module proxy (or
// finds it in the module cache) and returns its directory. It runs in an
// empty directory so no go.mod is read or changed.
func moduleDir(path, version string) (string, error) {
	tmp, err := os.MkdirTemp("", "kubeschemas-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp)
	cmd := exec.Command("go", "mod", "download", "-json", path+"@"+version)
	cmd.Dir = tmp
	cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=-mod=mod")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	b, err := cmd.Output()
	var info struct{ Dir, Error string }
	_ = json.Unmarshal(b, &info)
	if info.Error != "" {
		return "", fmt.Errorf("go mod download %s@%s: %s", path, version, info.Error)
	}
	if err != nil {
		return "", fmt.Errorf("go mod download %s@%s: %w: %s", path, version, err, stderr.String())
	}
	if info.Dir == "" {
		return "", fmt.Errorf("go mod download %s@%s: no directory in %s", path, version, b)
	}
	return info.Dir, nil
}

// gvk is one x-kubernetes-group-version-kind entry.
type gvk struct {
	Group, Version, Kind string
}

func (g gvk) apiVersion() string {
	if g.Group == "" {
		return g.Version
	}
	return g.Group + "/" + g.Version
}

// fileName is kubeconform's {{ .ResourceKind }}{{ .KindSuffix }}.json: the
// kind in lower case, then the group's first label (none for the core
// group) and the version.
func (g gvk) fileName() string {
	suffix := "-" + strings.ToLower(g.Version)
	if g.Group != "" {
		suffix = "-" + strings.ToLower(strings.Split(g.Group, ".")[0]) + suffix
	}
	return strings.ToLower(g.Kind) + suffix + ".json"
}

const refPrefix = "#/definitions/"

// Definitions whose OpenAPI form is narrower than what the API server
// accepts.
const (
	quantityDef = "io.k8s.apimachinery.pkg.api.resource.Quantity"
)

// convert turns a swagger 2.0 document into one JSON Schema per kind and
// version, keyed by file name.
func convert(swagger []byte) (map[string][]byte, error) {
	var doc struct {
		Definitions map[string]map[string]any `json:"definitions"`
	}
	if err := json.Unmarshal(swagger, &doc); err != nil {
		return nil, err
	}
	if len(doc.Definitions) == 0 {
		return nil, errors.New("no definitions")
	}
	defs := map[string]map[string]any{}
	for name, d := range doc.Definitions {
		d = deepCopy(d)
		if name == quantityDef {
			d = map[string]any{"description": d["description"],
				"oneOf": []any{map[string]any{"type": "string"}, map[string]any{"type": "number"}}}
		}
		normalize(d)
		defs[name] = d
	}
	names := make([]string, 0, len(defs))
	for n := range defs {
		names = append(names, n)
	}
	sort.Strings(names)
	files := map[string][]byte{}
	source := map[string]string{}
	for _, name := range names {
		for _, g := range gvks(doc.Definitions[name]) {
			file := g.fileName()
			if prev, dup := source[file]; dup && prev != name {
				return nil, fmt.Errorf("%s and %s both map to %s", prev, name, file)
			}
			source[file] = name
			root := deepCopy(defs[name])
			props, _ := root["properties"].(map[string]any)
			if props != nil {
				props["apiVersion"] = map[string]any{"type": "string", "enum": []any{g.apiVersion()}}
				props["kind"] = map[string]any{"type": "string", "enum": []any{g.Kind}}
			}
			reach := map[string]any{}
			if err := closure(root, defs, reach); err != nil {
				return nil, fmt.Errorf("%s: %w", name, err)
			}
			root["definitions"] = reach
			b, err := json.MarshalIndent(root, "", "  ")
			if err != nil {
				return nil, err
			}
			files[file] = append(b, '\n')
		}
	}
	return files, nil
}

func gvks(d map[string]any) []gvk {
	list, _ := d["x-kubernetes-group-version-kind"].([]any)
	var out []gvk
	for _, e := range list {
		m, _ := e.(map[string]any)
		g := gvk{}
		g.Group, _ = m["group"].(string)
		g.Version, _ = m["version"].(string)
		g.Kind, _ = m["kind"].(string)
		if g.Kind != "" && g.Version != "" {
			out = append(out, g)
		}
	}
	return out
}

// normalize makes one schema (and the schemas inside it) strict and
// kubeconform-friendly. Definitions are normalized too, so a field that
// refers to one (creationTimestamp, a Time) accepts null as well.
func normalize(s map[string]any) {
	if s["format"] == "int-or-string" {
		delete(s, "format")
		delete(s, "type")
		s["oneOf"] = []any{map[string]any{"type": "string"}, map[string]any{"type": "integer"}}
	}
	props, _ := s["properties"].(map[string]any)
	if len(props) > 0 {
		if _, set := s["additionalProperties"]; !set && s["x-kubernetes-preserve-unknown-fields"] != true {
			s["additionalProperties"] = false
		}
	}
	if t, ok := s["type"].(string); ok {
		s["type"] = []any{t, "null"}
	}
	for _, p := range props {
		if c, ok := p.(map[string]any); ok {
			normalize(c)
		}
	}
	for _, k := range []string{"items", "additionalProperties"} {
		if c, ok := s[k].(map[string]any); ok {
			normalize(c)
		}
	}
}

// closure adds to reach every definition schema s refers to, directly or
// not. Keys of "properties" are field names (JSONSchemaProps has a field
// named $ref), not keywords.
func closure(s map[string]any, defs map[string]map[string]any, reach map[string]any) error {
	if ref, ok := s["$ref"].(string); ok {
		name, ok := strings.CutPrefix(ref, refPrefix)
		if !ok {
			return fmt.Errorf("unexpected $ref %q", ref)
		}
		if _, done := reach[name]; !done {
			d, ok := defs[name]
			if !ok {
				return fmt.Errorf("$ref to a missing definition %s", name)
			}
			reach[name] = d
			if err := closure(d, defs, reach); err != nil {
				return err
			}
		}
	}
	var children []any
	if props, ok := s["properties"].(map[string]any); ok {
		for _, p := range props {
			children = append(children, p)
		}
	}
	for _, k := range []string{"items", "additionalProperties"} {
		children = append(children, s[k])
	}
	for _, k := range []string{"oneOf", "anyOf", "allOf"} {
		if l, ok := s[k].([]any); ok {
			children = append(children, l...)
		}
	}
	for _, c := range children {
		if m, ok := c.(map[string]any); ok {
			if err := closure(m, defs, reach); err != nil {
				return err
			}
		}
	}
	return nil
}

func deepCopy(m map[string]any) map[string]any {
	b, err := json.Marshal(m)
	if err != nil {
		panic(err)
	}
	var out map[string]any
	if err := json.Unmarshal(b, &out); err != nil {
		panic(err)
	}
	return out
}

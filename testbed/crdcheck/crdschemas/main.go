// Command crdschemas writes JSON Schemas for kubeconform: one per served
// version of every CRD in a directory, from the CRD's own
// openAPIV3Schema, and one for CustomResourceDefinition itself, from the
// OpenAPI definitions compiled into k8s.io/apiextensions-apiserver. Files
// are named {kind}_{version}.json (kind in lower case), which kubeconform
// finds with
//
//	-schema-location 'DIR/{{ .ResourceKind }}_{{ .ResourceAPIVersion }}.json'
//
// The schemas are strict: an object schema that lists its properties and
// does not say otherwise gets additionalProperties: false, so a misspelt
// field fails (the API server would silently drop it).
//
// Usage: go run ./crdcheck/crdschemas -crds ../charts/herald/crds -out DIR
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	extopenapi "k8s.io/apiextensions-apiserver/pkg/generated/openapi"
	"k8s.io/kube-openapi/pkg/common"
	"k8s.io/kube-openapi/pkg/validation/spec"
	"sigs.k8s.io/yaml"
)

func main() {
	crdDir := flag.String("crds", "", "directory of CRD YAML files")
	out := flag.String("out", "", "directory to write the JSON Schemas to")
	flag.Parse()
	if *crdDir == "" || *out == "" {
		flag.Usage()
		os.Exit(2)
	}
	if err := run(*crdDir, *out); err != nil {
		fmt.Fprintln(os.Stderr, "crdschemas:", err)
		os.Exit(1)
	}
}

func run(crdDir, out string) error {
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	files, err := filepath.Glob(filepath.Join(crdDir, "*.yaml"))
	if err != nil {
		return err
	}
	if len(files) == 0 {
		return fmt.Errorf("no CRDs in %s", crdDir)
	}
	sort.Strings(files)
	n := 0
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		var crd apiextensionsv1.CustomResourceDefinition
		if err := yaml.UnmarshalStrict(b, &crd); err != nil {
			return fmt.Errorf("%s: %w", f, err)
		}
		for _, v := range crd.Spec.Versions {
			if v.Schema == nil || v.Schema.OpenAPIV3Schema == nil {
				return fmt.Errorf("%s: version %s has no schema", f, v.Name)
			}
			// Round-trip through JSON to get a generic tree to edit.
			raw, err := json.Marshal(v.Schema.OpenAPIV3Schema)
			if err != nil {
				return err
			}
			var s map[string]any
			if err := json.Unmarshal(raw, &s); err != nil {
				return err
			}
			strict(s)
			name := fmt.Sprintf("%s_%s.json", strings.ToLower(crd.Spec.Names.Kind), v.Name)
			if err := write(filepath.Join(out, name), s); err != nil {
				return err
			}
			n++
		}
	}
	if err := writeCRDSchema(out); err != nil {
		return err
	}
	fmt.Printf("crdschemas: %d custom resource schemas and customresourcedefinition_v1.json in %s\n", n, out)
	return nil
}

// strict closes every object schema that declares properties, except
// where the schema keeps unknown fields on purpose.
func strict(s map[string]any) {
	if props, ok := s["properties"].(map[string]any); ok && len(props) > 0 {
		if _, set := s["additionalProperties"]; !set && s["x-kubernetes-preserve-unknown-fields"] != true {
			s["additionalProperties"] = false
		}
	}
	for _, k := range []string{"properties", "patternProperties", "definitions"} {
		if m, ok := s[k].(map[string]any); ok {
			for _, v := range m {
				if c, ok := v.(map[string]any); ok {
					strict(c)
				}
			}
		}
	}
	for _, k := range []string{"items", "additionalProperties", "not"} {
		if c, ok := s[k].(map[string]any); ok {
			strict(c)
		}
	}
	for _, k := range []string{"allOf", "anyOf", "oneOf"} {
		if l, ok := s[k].([]any); ok {
			for _, v := range l {
				if c, ok := v.(map[string]any); ok {
					strict(c)
				}
			}
		}
	}
	// OpenAPI's nullable is JSON Schema's null type.
	if s["nullable"] == true {
		if t, ok := s["type"].(string); ok {
			s["type"] = []any{t, "null"}
		}
	}
}

// writeCRDSchema writes the schema of apiextensions.k8s.io/v1
// CustomResourceDefinition: the root definition with every definition it
// refers to under "definitions", since JSONSchemaProps refers to itself
// and cannot be inlined.
func writeCRDSchema(out string) error {
	ref := func(name string) spec.Ref {
		return spec.MustCreateRef("#/definitions/" + strings.ReplaceAll(name, "/", "~1"))
	}
	defs := extopenapi.GetOpenAPIDefinitions(common.ReferenceCallback(ref))
	root := apiextensionsv1.CustomResourceDefinition{}.OpenAPIModelName()
	if _, ok := defs[root]; !ok {
		return fmt.Errorf("no OpenAPI definition for %s", root)
	}
	// Keep only what the root reaches.
	keep := map[string]any{}
	var visit func(name string) error
	visit = func(name string) error {
		if _, done := keep[name]; done {
			return nil
		}
		d, ok := defs[name]
		if !ok {
			return fmt.Errorf("no OpenAPI definition for %s", name)
		}
		raw, err := json.Marshal(d.Schema)
		if err != nil {
			return err
		}
		var s map[string]any
		if err := json.Unmarshal(raw, &s); err != nil {
			return err
		}
		keep[name] = s
		for _, dep := range d.Dependencies {
			if err := visit(dep); err != nil {
				return err
			}
		}
		return nil
	}
	if err := visit(root); err != nil {
		return err
	}
	for _, s := range keep {
		strict(s.(map[string]any))
	}
	doc := map[string]any{
		"$ref":        "#/definitions/" + strings.ReplaceAll(root, "/", "~1"),
		"definitions": keep,
	}
	return write(filepath.Join(out, "customresourcedefinition_v1.json"), doc)
}

func write(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

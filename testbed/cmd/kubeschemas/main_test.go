package main

import (
	"encoding/json"
	"reflect"
	"sort"
	"testing"
)

// A small swagger document with the shapes that matter: a kind in a named
// group and one in the core group, a reference chain, an IntOrString, a
// Quantity, a map and a field named $ref.
const testSwagger = `{"definitions": {
  "io.k8s.api.apps.v1.Deployment": {
    "type": "object",
    "x-kubernetes-group-version-kind": [{"group": "apps", "kind": "Deployment", "version": "v1"}],
    "properties": {
      "apiVersion": {"type": "string"}, "kind": {"type": "string"},
      "metadata": {"$ref": "#/definitions/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"},
      "spec": {"$ref": "#/definitions/io.k8s.api.apps.v1.DeploymentSpec"}
    }
  },
  "io.k8s.api.apps.v1.DeploymentSpec": {
    "type": "object",
    "properties": {
      "replicas": {"type": "integer", "format": "int32"},
      "maxSurge": {"$ref": "#/definitions/io.k8s.apimachinery.pkg.util.intstr.IntOrString"},
      "limits": {"type": "object", "additionalProperties": {"$ref": "#/definitions/io.k8s.apimachinery.pkg.api.resource.Quantity"}}
    }
  },
  "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta": {
    "type": "object",
    "properties": {"name": {"type": "string"}, "labels": {"type": "object", "additionalProperties": {"type": "string"}}}
  },
  "io.k8s.apimachinery.pkg.util.intstr.IntOrString": {"type": "string", "format": "int-or-string"},
  "io.k8s.apimachinery.pkg.api.resource.Quantity": {"type": "string", "description": "q"},
  "io.k8s.api.core.v1.ConfigMap": {
    "type": "object",
    "x-kubernetes-group-version-kind": [{"group": "", "kind": "ConfigMap", "version": "v1"}],
    "properties": {"data": {"type": "object", "additionalProperties": {"type": "string"}}}
  },
  "io.k8s.api.rbac.v1.Props": {
    "type": "object",
    "x-kubernetes-group-version-kind": [{"group": "rbac.authorization.k8s.io", "kind": "Props", "version": "v1"}],
    "properties": {"$ref": {"type": "string"}, "unused": {"type": "string"}}
  },
  "io.k8s.api.unreferenced.v1.Thing": {"type": "object", "properties": {"x": {"type": "string"}}}
}}`

func TestConvert(t *testing.T) {
	files, err := convert([]byte(testSwagger))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	// kubeconform's {{ .ResourceKind }}{{ .KindSuffix }}: the group's
	// first label, nothing for the core group.
	want := []string{"configmap-v1.json", "deployment-apps-v1.json", "props-rbac-v1.json"}
	if !reflect.DeepEqual(names, want) {
		t.Fatalf("files %v, want %v", names, want)
	}

	var dep map[string]any
	if err := json.Unmarshal(files["deployment-apps-v1.json"], &dep); err != nil {
		t.Fatal(err)
	}
	if dep["additionalProperties"] != false {
		t.Errorf("root additionalProperties %v, want false (strict)", dep["additionalProperties"])
	}
	props := dep["properties"].(map[string]any)
	if got := props["kind"].(map[string]any)["enum"]; !reflect.DeepEqual(got, []any{"Deployment"}) {
		t.Errorf("kind enum %v", got)
	}
	if got := props["apiVersion"].(map[string]any)["enum"]; !reflect.DeepEqual(got, []any{"apps/v1"}) {
		t.Errorf("apiVersion enum %v", got)
	}
	defs := dep["definitions"].(map[string]any)
	var reached []string
	for n := range defs {
		reached = append(reached, n)
	}
	sort.Strings(reached)
	wantDefs := []string{
		"io.k8s.api.apps.v1.DeploymentSpec",
		"io.k8s.apimachinery.pkg.api.resource.Quantity",
		"io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta",
		"io.k8s.apimachinery.pkg.util.intstr.IntOrString",
	}
	if !reflect.DeepEqual(reached, wantDefs) {
		t.Errorf("definitions %v, want exactly what Deployment reaches: %v", reached, wantDefs)
	}
	spec := defs["io.k8s.api.apps.v1.DeploymentSpec"].(map[string]any)
	if spec["additionalProperties"] != false {
		t.Error("DeploymentSpec is not strict")
	}
	replicas := spec["properties"].(map[string]any)["replicas"].(map[string]any)
	if !reflect.DeepEqual(replicas["type"], []any{"integer", "null"}) {
		t.Errorf("replicas type %v, want integer or null", replicas["type"])
	}
	// A map keeps its value schema; it gets no additionalProperties: false.
	limits := spec["properties"].(map[string]any)["limits"].(map[string]any)
	if _, ok := limits["additionalProperties"].(map[string]any); !ok {
		t.Errorf("limits additionalProperties %v, want the Quantity schema", limits["additionalProperties"])
	}
	ios := defs["io.k8s.apimachinery.pkg.util.intstr.IntOrString"].(map[string]any)
	wantOneOf := []any{map[string]any{"type": "string"}, map[string]any{"type": "integer"}}
	if !reflect.DeepEqual(ios["oneOf"], wantOneOf) || ios["type"] != nil || ios["format"] != nil {
		t.Errorf("IntOrString %v, want oneOf string, integer", ios)
	}
	q := defs["io.k8s.apimachinery.pkg.api.resource.Quantity"].(map[string]any)
	wantQ := []any{map[string]any{"type": "string"}, map[string]any{"type": "number"}}
	if !reflect.DeepEqual(q["oneOf"], wantQ) {
		t.Errorf("Quantity %v, want oneOf string, number", q)
	}

	// A field named $ref is a field, not a reference.
	var p map[string]any
	if err := json.Unmarshal(files["props-rbac-v1.json"], &p); err != nil {
		t.Fatal(err)
	}
	if d, ok := p["definitions"].(map[string]any); !ok || len(d) != 0 {
		t.Errorf("Props definitions %v, want none", p["definitions"])
	}
}

func TestConvertRefusesDanglingReference(t *testing.T) {
	_, err := convert([]byte(`{"definitions": {"a.v1.A": {"type": "object",
	  "x-kubernetes-group-version-kind": [{"group": "", "kind": "A", "version": "v1"}],
	  "properties": {"b": {"$ref": "#/definitions/missing"}}}}}`))
	if err == nil {
		t.Fatal("no error for a $ref to a missing definition")
	}
}

func TestConvertRefusesTwoDefinitionsForOneFile(t *testing.T) {
	_, err := convert([]byte(`{"definitions": {
	  "a.v1.A": {"type": "object", "x-kubernetes-group-version-kind": [{"group": "net.a.io", "kind": "A", "version": "v1"}]},
	  "b.v1.A": {"type": "object", "x-kubernetes-group-version-kind": [{"group": "net.b.io", "kind": "A", "version": "v1"}]}}}`))
	if err == nil {
		t.Fatal("no error when two kinds map to a-net-v1.json")
	}
}

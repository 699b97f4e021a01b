package kube

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"strings"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/restmapper"
	"sigs.k8s.io/yaml"
)

// FieldManager is the server-side apply field manager of ApplyYAML.
const FieldManager = "herald-testbed"

// ApplyYAML server-side applies every object in a multi-document YAML (or
// JSON) stream as AdminUser, in order: e.g. the Helm chart's rendered RBAC,
// or an IPAddressPool for a demo. Namespaced objects without a namespace go
// to "default". Kinds are resolved through discovery, so CRDs installed a
// moment ago work. It stops at the first object the API server rejects and
// names it (kind, namespace/name, document number) in the error, which
// wraps the API error (apierrors.IsInvalid works on it, e.g. for a CEL
// validation failure).
func (c *ControlPlane) ApplyYAML(ctx context.Context, data []byte) ([]*unstructured.Unstructured, error) {
	cfg := c.AdminRESTConfig()
	disc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("kube: discovery client: %w", err)
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("kube: dynamic client: %w", err)
	}
	mapper := restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(disc))
	var applied []*unstructured.Unstructured
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	for i := 0; ; i++ {
		doc, err := r.Read()
		if err == io.EOF {
			return applied, nil
		}
		if err != nil {
			return applied, fmt.Errorf("kube: apply: document %d: %w", i, err)
		}
		if s := strings.TrimSpace(string(doc)); s == "" || s == "---" {
			continue
		}
		obj := &unstructured.Unstructured{}
		j, err := yaml.YAMLToJSON(doc)
		if err != nil {
			return applied, fmt.Errorf("kube: apply: document %d: %w", i, err)
		}
		if string(j) == "null" {
			continue // comments only
		}
		if err := obj.UnmarshalJSON(j); err != nil {
			return applied, fmt.Errorf("kube: apply: document %d: %w", i, err)
		}
		gvk := obj.GroupVersionKind()
		what := fmt.Sprintf("%s %s (document %d)", gvk.Kind, objName(obj), i)
		m, err := mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
		if meta.IsNoMatchError(err) {
			mapper.Reset() // a CRD applied just before
			m, err = mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
		}
		if err != nil {
			return applied, fmt.Errorf("kube: apply %s: %w", what, err)
		}
		var ri dynamic.ResourceInterface = dyn.Resource(m.Resource)
		if m.Scope.Name() == meta.RESTScopeNameNamespace {
			if obj.GetNamespace() == "" {
				obj.SetNamespace("default")
			}
			ri = dyn.Resource(m.Resource).Namespace(obj.GetNamespace())
		}
		body, err := obj.MarshalJSON()
		if err != nil {
			return applied, fmt.Errorf("kube: apply %s: %w", what, err)
		}
		out, err := ri.Patch(ctx, obj.GetName(), types.ApplyPatchType, body, applyOptions())
		if err != nil {
			return applied, fmt.Errorf("kube: apply %s: %w", what, err)
		}
		applied = append(applied, out)
	}
}

func objName(o *unstructured.Unstructured) string {
	if o.GetNamespace() != "" {
		return o.GetNamespace() + "/" + o.GetName()
	}
	return o.GetName()
}

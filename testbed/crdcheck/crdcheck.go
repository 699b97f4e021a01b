// Package crdcheck validates objects against Herald's generated CRDs the way
// kube-apiserver does (pruning of unknown fields, schema defaults, OpenAPI
// schema validation, then the CEL rules in x-kubernetes-validations) but in
// process, without an API server, using k8s.io/apiextensions-apiserver's own
// packages. It lives in the testbed module so that heavy module stays out of
// Herald's go.mod.
//
// Checking in process makes every rule's accepting and rejecting case a
// table row that runs in milliseconds; the testbed's real kube-apiserver
// remains the end-to-end check.
package crdcheck

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"k8s.io/apiextensions-apiserver/pkg/apis/apiextensions"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	crdvalidation "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/validation"
	structuralschema "k8s.io/apiextensions-apiserver/pkg/apiserver/schema"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/schema/cel"
	structuraldefaulting "k8s.io/apiextensions-apiserver/pkg/apiserver/schema/defaulting"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/schema/listtype"
	structuralpruning "k8s.io/apiextensions-apiserver/pkg/apiserver/schema/pruning"
	apiservervalidation "k8s.io/apiextensions-apiserver/pkg/apiserver/validation"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utiljson "k8s.io/apimachinery/pkg/util/json"
	"k8s.io/apimachinery/pkg/util/validation/field"
	celconfig "k8s.io/apiserver/pkg/apis/cel"
	"sigs.k8s.io/yaml"
)

// Version is one served version of one CRD, ready to validate objects.
type Version struct {
	GVK        schema.GroupVersionKind
	structural *structuralschema.Structural
	schema     apiservervalidation.SchemaValidator
	cel        *cel.Validator
}

// Set holds every version of every CRD in a directory.
type Set struct {
	CRDs     []*apiextensionsv1.CustomResourceDefinition
	Files    map[string]*apiextensionsv1.CustomResourceDefinition
	versions map[schema.GroupVersionKind]*Version
}

// Load reads every *.yaml CRD in dir.
func Load(dir string) (*Set, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("no CRDs in %s", dir)
	}
	sort.Strings(files)
	set := &Set{Files: map[string]*apiextensionsv1.CustomResourceDefinition{}, versions: map[schema.GroupVersionKind]*Version{}}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		crd := &apiextensionsv1.CustomResourceDefinition{}
		if err := yaml.UnmarshalStrict(b, crd); err != nil {
			return nil, fmt.Errorf("%s: %w", f, err)
		}
		set.CRDs = append(set.CRDs, crd)
		set.Files[filepath.Base(f)] = crd
		for _, v := range crd.Spec.Versions {
			if v.Schema == nil || v.Schema.OpenAPIV3Schema == nil {
				return nil, fmt.Errorf("%s: version %s has no schema", f, v.Name)
			}
			internal := &apiextensions.JSONSchemaProps{}
			if err := apiextensionsv1.Convert_v1_JSONSchemaProps_To_apiextensions_JSONSchemaProps(v.Schema.OpenAPIV3Schema, internal, nil); err != nil {
				return nil, fmt.Errorf("%s %s: %w", f, v.Name, err)
			}
			s, err := structuralschema.NewStructural(internal)
			if err != nil {
				return nil, fmt.Errorf("%s %s: not structural: %w", f, v.Name, err)
			}
			sv, _, err := apiservervalidation.NewSchemaValidator(internal)
			if err != nil {
				return nil, fmt.Errorf("%s %s: %w", f, v.Name, err)
			}
			gvk := schema.GroupVersionKind{Group: crd.Spec.Group, Version: v.Name, Kind: crd.Spec.Names.Kind}
			set.versions[gvk] = &Version{
				GVK:        gvk,
				structural: s,
				schema:     sv,
				cel:        cel.NewValidator(s, true, celconfig.PerCallLimit),
			}
		}
	}
	return set, nil
}

// ValidateCRDs runs the API server's own validation of each CRD object:
// structural schema rules, defaults that match their schema, and CEL rules
// that compile and fit the static cost limits. It is what makes
// `kubectl apply` of the CRD succeed or fail.
func (s *Set) ValidateCRDs() map[string]field.ErrorList {
	out := map[string]field.ErrorList{}
	for name, crd := range s.Files {
		v1 := crd.DeepCopy()
		apiextensionsv1.SetObjectDefaults_CustomResourceDefinition(v1)
		internal := &apiextensions.CustomResourceDefinition{}
		if err := apiextensionsv1.Convert_v1_CustomResourceDefinition_To_apiextensions_CustomResourceDefinition(v1, internal, nil); err != nil {
			out[name] = field.ErrorList{field.InternalError(nil, err)}
			continue
		}
		if errs := crdvalidation.ValidateCustomResourceDefinition(context.Background(), internal); len(errs) > 0 {
			out[name] = errs
		}
	}
	return out
}

// Version returns the checker of one group/version/kind.
func (s *Set) Version(gvk schema.GroupVersionKind) (*Version, bool) {
	v, ok := s.versions[gvk]
	return v, ok
}

// Decode parses one YAML or JSON object and finds the version that serves it.
func (s *Set) Decode(doc []byte) (*Version, map[string]any, error) {
	// Decode as the API server does: YAML to JSON, then JSON numbers that
	// are integers to int64 (not float64), which the schema validator and
	// CEL's int type need.
	j, err := yaml.YAMLToJSON(doc)
	if err != nil {
		return nil, nil, err
	}
	obj := map[string]any{}
	if err := utiljson.Unmarshal(j, &obj); err != nil {
		return nil, nil, err
	}
	apiVersion, _ := obj["apiVersion"].(string)
	kind, _ := obj["kind"].(string)
	gv, err := schema.ParseGroupVersion(apiVersion)
	if err != nil {
		return nil, nil, err
	}
	v, ok := s.versions[gv.WithKind(kind)]
	if !ok {
		return nil, nil, fmt.Errorf("no CRD serves %s %s", apiVersion, kind)
	}
	return v, obj, nil
}

// ErrUnknownField is wrapped by errors for fields the schema does not
// declare. The API server would drop them (and `kubectl apply` with the
// default strict field validation refuses them); either way the field is
// lost, which is a bug in a manifest.
var ErrUnknownField = errors.New("unknown field")

// Create validates obj as a create request would, after pruning and
// defaulting it in place. Unknown fields are reported as errors.
func (v *Version) Create(obj map[string]any) field.ErrorList {
	errs := v.prepare(obj)
	errs = append(errs, apiservervalidation.ValidateCustomResource(nil, obj, v.schema)...)
	errs = append(errs, listtype.ValidateListSetsAndMaps(nil, v.structural, obj)...)
	celErrs, _ := v.cel.Validate(context.Background(), nil, v.structural, obj, nil, celconfig.RuntimeCELCostBudget)
	return append(errs, celErrs...)
}

// Update validates newObj as an update of oldObj, so transition rules
// (the ones that use oldSelf) run.
func (v *Version) Update(oldObj, newObj map[string]any) field.ErrorList {
	errs := v.prepare(oldObj)
	errs = append(errs, v.prepare(newObj)...)
	errs = append(errs, apiservervalidation.ValidateCustomResourceUpdate(nil, newObj, oldObj, v.schema)...)
	errs = append(errs, listtype.ValidateListSetsAndMaps(nil, v.structural, newObj)...)
	celErrs, _ := v.cel.Validate(context.Background(), nil, v.structural, newObj, oldObj, celconfig.RuntimeCELCostBudget)
	return append(errs, celErrs...)
}

// Default applies the schema's defaults to obj in place.
func (v *Version) Default(obj map[string]any) {
	structuraldefaulting.Default(obj, v.structural)
}

func (v *Version) prepare(obj map[string]any) field.ErrorList {
	var errs field.ErrorList
	pruned := structuralpruning.PruneWithOptions(obj, v.structural, true, structuralschema.UnknownFieldPathOptions{TrackUnknownFieldPaths: true})
	for _, p := range pruned {
		errs = append(errs, field.Invalid(field.NewPath(strings.TrimPrefix(p, ".")), nil, ErrUnknownField.Error()))
	}
	structuraldefaulting.Default(obj, v.structural)
	return errs
}

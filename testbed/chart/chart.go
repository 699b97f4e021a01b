// Package chart renders Herald's Helm chart (charts/herald) for the lab,
// with Helm's own Go packages (helm.sh/helm/v3 v3.22.0: the chart loader,
// the values coalescing and schema check, the template engine and the
// install order), so what the lab applies is what `helm template` prints.
//
// Contract.
//
//   - Render loads the chart from the repository (Dir), merges
//     Options.Values over values.yaml, checks them against
//     values.schema.json, renders every template and returns the objects
//     in the order `helm install` creates them (CRDs and RBAC before the
//     workloads, unknown kinds last). It never talks to an API server.
//   - The release is named herald in metallb-system unless told otherwise:
//     with that name every object carries the name the herald binaries
//     default to (webhook.DefaultConfigurationName, the herald-controller
//     and herald-speaker ServiceAccounts, ...).
//   - RBAC and the selectors below pick objects out of a Rendered;
//     Rendered.YAML writes them back as one multi-document stream, ready for
//     kube.ControlPlane.ApplyYAML.
//
// The lab's harnesses run the real binaries under the ServiceAccounts and
// RBAC this renders (RBACYAML), and the e2e tests apply the whole chart to
// the lab's API server.
package chart

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/engine"
	"helm.sh/helm/v3/pkg/releaseutil"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/heraldlb/herald/testbed/kube"
)

// The release the lab installs, as docs/install.md does.
const (
	ReleaseName = "herald"
	Namespace   = "metallb-system"
)

// Dir returns the chart's directory, charts/herald in the repository.
func Dir() (string, error) {
	crds, err := kube.RepoCRDDir() // <repo>/charts/herald/crds
	if err != nil {
		return "", err
	}
	return filepath.Dir(crds), nil
}

// Options say how to render.
type Options struct {
	// Values are merged over values.yaml, as `-f` or `--set` would be.
	Values map[string]any
	// ReleaseName (default herald) and ReleaseNamespace (default
	// metallb-system) are `helm template NAME -n NAMESPACE`.
	ReleaseName, ReleaseNamespace string
	// KubeVersion is .Capabilities.KubeVersion (default: the lab's,
	// kube.KubernetesVersion).
	KubeVersion string
	// Files are added to the chart's own files before rendering (e.g.
	// files/alerts.yaml), replacing any of the same name; a nil one removes
	// the chart's.
	Files map[string][]byte
	// Dir is the chart (default: Dir()).
	Dir string
}

// Rendered is the chart's objects in install order.
type Rendered struct {
	Objects []*unstructured.Unstructured
	// Sources are the templates the objects came from, index for index.
	Sources []string
}

// Render renders the chart.
func Render(o Options) (*Rendered, error) {
	dir := o.Dir
	if dir == "" {
		var err error
		if dir, err = Dir(); err != nil {
			return nil, err
		}
	}
	ch, err := loader.LoadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("chart: loading %s: %w", dir, err)
	}
	for name, data := range o.Files {
		ch.Files = slices.DeleteFunc(ch.Files, func(f *chart.File) bool { return f.Name == name })
		if data != nil {
			ch.Files = append(ch.Files, &chart.File{Name: name, Data: data})
		}
	}
	name, ns := o.ReleaseName, o.ReleaseNamespace
	if name == "" {
		name = ReleaseName
	}
	if ns == "" {
		ns = Namespace
	}
	kv := o.KubeVersion
	if kv == "" {
		kv = kube.KubernetesVersion
	}
	ver, err := chartutil.ParseKubeVersion(kv)
	if err != nil {
		return nil, fmt.Errorf("chart: %w", err)
	}
	caps := chartutil.DefaultCapabilities.Copy()
	caps.KubeVersion = *ver
	if ch.Metadata.KubeVersion != "" && !chartutil.IsCompatibleRange(ch.Metadata.KubeVersion, ver.String()) {
		return nil, fmt.Errorf("chart: requires Kubernetes %s, not %s", ch.Metadata.KubeVersion, ver)
	}
	vals := o.Values
	if vals == nil {
		vals = map[string]any{}
	}
	// Values come in as Go values; Helm expects what YAML decodes to.
	if vals, err = roundTrip(vals); err != nil {
		return nil, err
	}
	top, err := chartutil.ToRenderValues(ch, vals, chartutil.ReleaseOptions{
		Name: name, Namespace: ns, Revision: 1, IsInstall: true,
	}, caps)
	if err != nil {
		return nil, fmt.Errorf("chart: %w", err)
	}
	files, err := engine.Render(ch, top)
	if err != nil {
		return nil, fmt.Errorf("chart: %w", err)
	}
	// NOTES.txt is for people, not for the API server.
	for k := range files {
		if strings.HasSuffix(k, "NOTES.txt") {
			delete(files, k)
		}
	}
	hooks, manifests, err := releaseutil.SortManifests(files, caps.APIVersions, releaseutil.InstallOrder)
	if err != nil {
		return nil, fmt.Errorf("chart: %w", err)
	}
	if len(hooks) > 0 {
		return nil, errors.New("chart: the chart has hooks, which the lab does not run")
	}
	r := &Rendered{}
	for _, m := range manifests {
		j, err := yaml.YAMLToJSON([]byte(m.Content))
		if err != nil {
			return nil, fmt.Errorf("chart: %s: %w", m.Name, err)
		}
		if string(j) == "null" {
			continue
		}
		u := &unstructured.Unstructured{}
		if err := u.UnmarshalJSON(j); err != nil {
			return nil, fmt.Errorf("chart: %s: %w", m.Name, err)
		}
		r.Objects = append(r.Objects, u)
		r.Sources = append(r.Sources, m.Name)
	}
	return r, nil
}

func roundTrip(v map[string]any) (map[string]any, error) {
	b, err := yaml.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("chart: values: %w", err)
	}
	out := map[string]any{}
	if err := yaml.Unmarshal(b, &out); err != nil {
		return nil, fmt.Errorf("chart: values: %w", err)
	}
	return out, nil
}

// Select returns the objects keep accepts, in install order.
func (r *Rendered) Select(keep func(*unstructured.Unstructured) bool) []*unstructured.Unstructured {
	var out []*unstructured.Unstructured
	for _, o := range r.Objects {
		if keep(o) {
			out = append(out, o)
		}
	}
	return out
}

// Kinds accepts objects of the given kinds.
func Kinds(kinds ...string) func(*unstructured.Unstructured) bool {
	return func(u *unstructured.Unstructured) bool { return slices.Contains(kinds, u.GetKind()) }
}

// Not accepts what keep refuses.
func Not(keep func(*unstructured.Unstructured) bool) func(*unstructured.Unstructured) bool {
	return func(u *unstructured.Unstructured) bool { return !keep(u) }
}

// RBAC accepts the ServiceAccounts, Roles, ClusterRoles and their bindings.
var RBAC = Kinds("ServiceAccount", "Role", "RoleBinding", "ClusterRole", "ClusterRoleBinding")

// Find returns the object of that kind and name, or nil.
func (r *Rendered) Find(kind, name string) *unstructured.Unstructured {
	for _, o := range r.Objects {
		if o.GetKind() == kind && o.GetName() == name {
			return o
		}
	}
	return nil
}

// YAML writes objects as one multi-document YAML stream.
func YAML(objs []*unstructured.Unstructured) ([]byte, error) {
	var buf bytes.Buffer
	for _, o := range objs {
		b, err := yaml.Marshal(o.Object)
		if err != nil {
			return nil, err
		}
		buf.WriteString("---\n")
		buf.Write(b)
	}
	return buf.Bytes(), nil
}

// RBACYAML is the chart's ServiceAccounts and RBAC, rendered with values
// (nil: the defaults), after a Namespace object for the release namespace
// (Helm does not create it; `--create-namespace` does). It is what the
// lab's harnesses apply before running Herald under those accounts.
func RBACYAML(values map[string]any) ([]byte, error) {
	r, err := Render(Options{Values: values})
	if err != nil {
		return nil, err
	}
	ns := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "v1", "kind": "Namespace", "metadata": map[string]any{"name": Namespace},
	}}
	return YAML(append([]*unstructured.Unstructured{ns}, r.Select(RBAC)...))
}

// ContainerArgs returns the args of the named container of a Deployment or
// DaemonSet.
func ContainerArgs(workload *unstructured.Unstructured, container string) ([]string, error) {
	if workload == nil {
		return nil, errors.New("chart: no such workload")
	}
	cs, _, err := unstructured.NestedSlice(workload.Object, "spec", "template", "spec", "containers")
	if err != nil {
		return nil, err
	}
	for _, c := range cs {
		m, _ := c.(map[string]any)
		if m["name"] != container {
			continue
		}
		args, _, err := unstructured.NestedStringSlice(m, "args")
		return args, err
	}
	return nil, fmt.Errorf("chart: %s %s has no container %q", workload.GetKind(), workload.GetName(), container)
}

// ChartFile reads a file of the chart's directory (e.g. templates/webhook.yaml).
func ChartFile(rel string) ([]byte, error) {
	dir, err := Dir()
	if err != nil {
		return nil, err
	}
	return os.ReadFile(filepath.Join(dir, rel))
}

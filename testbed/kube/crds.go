package kube

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apiextensionsclient "k8s.io/apiextensions-apiserver/pkg/client/clientset/clientset"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/discovery"
	"sigs.k8s.io/yaml"
)

const crdTimeout = 60 * time.Second

// RepoCRDDir returns Herald's CRD directory, charts/herald/crds under the
// repository root, found by walking up from the working directory to the
// go.mod of module github.com/heraldlb/herald.
func RepoCRDDir() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		data, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && moduleLine(data) == "github.com/heraldlb/herald" {
			return filepath.Join(dir, "charts", "herald", "crds"), nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("kube: not inside the herald repository (no go.mod of github.com/heraldlb/herald above the working directory)")
		}
		dir = parent
	}
}

func moduleLine(gomod []byte) string {
	for _, l := range strings.Split(string(gomod), "\n") {
		if f := strings.Fields(l); len(f) == 2 && f[0] == "module" {
			return strings.Trim(f[1], `"`)
		}
	}
	return ""
}

// ReadCRDs parses every CustomResourceDefinition in dir/*.yaml and *.yml
// (multi-document files allowed; other kinds are an error).
func ReadCRDs(dir string) ([]*apiextensionsv1.CustomResourceDefinition, error) {
	var files []string
	for _, pat := range []string{"*.yaml", "*.yml"} {
		m, _ := filepath.Glob(filepath.Join(dir, pat))
		files = append(files, m...)
	}
	sort.Strings(files)
	if len(files) == 0 {
		return nil, fmt.Errorf("kube: no *.yaml CRD manifests in %s", dir)
	}
	var crds []*apiextensionsv1.CustomResourceDefinition
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("kube: read CRD manifest: %w", err)
		}
		r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
		for i := 0; ; i++ {
			doc, err := r.Read()
			if err == io.EOF {
				break
			}
			if err != nil {
				return nil, fmt.Errorf("kube: %s document %d: %w", f, i, err)
			}
			if len(bytes.TrimSpace(doc)) == 0 || strings.TrimSpace(string(doc)) == "---" {
				continue
			}
			crd := &apiextensionsv1.CustomResourceDefinition{}
			if err := yaml.UnmarshalStrict(doc, crd); err != nil {
				return nil, fmt.Errorf("kube: %s document %d: %w", f, i, err)
			}
			if crd.Kind == "" && crd.Name == "" {
				continue // only comments
			}
			if crd.Kind != "CustomResourceDefinition" {
				return nil, fmt.Errorf("kube: %s document %d is a %q, not a CustomResourceDefinition", f, i, crd.Kind)
			}
			crds = append(crds, crd)
		}
	}
	return crds, nil
}

// InstallCRDs creates (or updates) every CRD in dir and waits until each is
// Established and its resources are served by discovery. It returns the
// CRDs' names.
func (c *ControlPlane) InstallCRDs(ctx context.Context, dir string) ([]string, error) {
	crds, err := ReadCRDs(dir)
	if err != nil {
		return nil, err
	}
	cs, err := apiextensionsclient.NewForConfig(c.AdminRESTConfig())
	if err != nil {
		return nil, fmt.Errorf("kube: apiextensions client: %w", err)
	}
	api := cs.ApiextensionsV1().CustomResourceDefinitions()
	var names []string
	for _, crd := range crds {
		names = append(names, crd.Name)
		_, err := api.Create(ctx, crd, metav1.CreateOptions{})
		if apierrors.IsAlreadyExists(err) {
			var cur *apiextensionsv1.CustomResourceDefinition
			if cur, err = api.Get(ctx, crd.Name, metav1.GetOptions{}); err == nil {
				crd.ResourceVersion = cur.ResourceVersion
				_, err = api.Update(ctx, crd, metav1.UpdateOptions{})
			}
		}
		if err != nil {
			return nil, fmt.Errorf("kube: install CRD %s: %w", crd.Name, err)
		}
	}
	start := time.Now()
	ctx, cancel := context.WithTimeout(ctx, crdTimeout)
	defer cancel()
	disc, err := discovery.NewDiscoveryClientForConfig(c.AdminRESTConfig())
	if err != nil {
		return nil, fmt.Errorf("kube: discovery client: %w", err)
	}
	for _, crd := range crds {
		if err := waitEstablished(ctx, cs, disc, crd); err != nil {
			return nil, err
		}
	}
	c.opts.Logf.printf("kube: %d CRDs from %s established in %s", len(crds), dir, time.Since(start).Round(time.Millisecond))
	return names, nil
}

func waitEstablished(ctx context.Context, cs apiextensionsclient.Interface, disc discovery.DiscoveryInterface, want *apiextensionsv1.CustomResourceDefinition) error {
	var last string
	for {
		crd, err := cs.ApiextensionsV1().CustomResourceDefinitions().Get(ctx, want.Name, metav1.GetOptions{})
		if err == nil {
			last = conditions(crd)
			if isEstablished(crd) && served(disc, want) {
				return nil
			}
		} else {
			last = err.Error()
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("kube: CRD %s not established and served: %w (conditions: %s)", want.Name, ctx.Err(), last)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func isEstablished(crd *apiextensionsv1.CustomResourceDefinition) bool {
	for _, c := range crd.Status.Conditions {
		if c.Type == apiextensionsv1.Established && c.Status == apiextensionsv1.ConditionTrue {
			return true
		}
	}
	return false
}

// served reports whether discovery lists the CRD's plural in every served version.
func served(disc discovery.DiscoveryInterface, crd *apiextensionsv1.CustomResourceDefinition) bool {
	for _, v := range crd.Spec.Versions {
		if !v.Served {
			continue
		}
		list, err := disc.ServerResourcesForGroupVersion(crd.Spec.Group + "/" + v.Name)
		if err != nil {
			return false
		}
		found := false
		for _, r := range list.APIResources {
			if r.Name == crd.Spec.Names.Plural {
				found = true
			}
		}
		if !found {
			return false
		}
	}
	return true
}

func conditions(crd *apiextensionsv1.CustomResourceDefinition) string {
	var parts []string
	for _, c := range crd.Status.Conditions {
		parts = append(parts, fmt.Sprintf("%s=%s (%s: %s)", c.Type, c.Status, c.Reason, c.Message))
	}
	if len(parts) == 0 {
		return "none yet"
	}
	return strings.Join(parts, "; ")
}

package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/heraldlb/herald/config"
	"github.com/heraldlb/herald/config/manifest"
	"github.com/spf13/cobra"
)

func newValidateCommand() *cobra.Command {
	var (
		files     []string
		namespace string
		class     string
	)
	cmd := &cobra.Command{
		Use:   "validate -f FILE_OR_DIR...",
		Short: "Check Herald (MetalLB) configuration files without a cluster",
		Long: `validate reads metallb.io objects (and the Namespaces, Nodes and Secrets
they refer to) from YAML files, compiles them as Herald's controller and
webhook would, and prints a verdict for every object: "ok", or one "error"
line per problem naming the field. LoadBalancer Services in the files are
allocated offline, in file order, as the controller would: a bad
metallb.io annotation, a requested pool or IP the configuration does not
have, or two Services whose requests or sharing keys clash are errors on
the Service. Directories are read recursively for *.yaml and *.yml files;
"-" reads standard input. Other kinds are ignored with a note. The exit
code is 1 when any error was found.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if len(files) == 0 {
				return errors.New("validate: give at least one -f FILE_OR_DIR")
			}
			set := &manifest.Set{DefaultNamespace: namespace}
			if err := readManifests(files, cmd.InOrStdin(), set); err != nil {
				return err
			}
			res := config.Analyze(set.Input)
			svcErrs, svcWarnings, got := checkServices(set, res.Config, class)
			set.Errors = append(set.Errors, svcErrs...)
			res.Warnings = append(res.Warnings, svcWarnings...)
			if report(cmd.OutOrStdout(), set, res, got) {
				return exitError{1}
			}
			return nil
		},
	}
	cmd.Flags().StringArrayVarP(&files, "filename", "f", nil, "file or directory to read (repeatable; - for stdin)")
	cmd.Flags().StringVarP(&namespace, "namespace", "n", "metallb-system", "namespace of objects that name none, as with kubectl apply -n")
	cmd.Flags().StringVar(&class, "lb-class", "", "spec.loadBalancerClass Herald serves; empty serves Services without a class")
	return cmd
}

// readManifests feeds every named file, and every YAML file under every
// named directory (in lexical order), to set.
func readManifests(paths []string, stdin io.Reader, set *manifest.Set) error {
	for _, p := range paths {
		if p == "-" {
			data, err := io.ReadAll(stdin)
			if err != nil {
				return err
			}
			set.Add("<stdin>", data)
			continue
		}
		st, err := os.Stat(p)
		if err != nil {
			return err
		}
		if !st.IsDir() {
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			set.Add(p, data)
			continue
		}
		var found []string
		err = filepath.WalkDir(p, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if ext := filepath.Ext(path); !d.IsDir() && (ext == ".yaml" || ext == ".yml") {
				found = append(found, path)
			}
			return nil
		})
		if err != nil {
			return err
		}
		if len(found) == 0 {
			return fmt.Errorf("%s: no *.yaml or *.yml files", p)
		}
		slices.Sort(found)
		for _, f := range found {
			data, err := os.ReadFile(f)
			if err != nil {
				return err
			}
			set.Add(f, data)
		}
	}
	return nil
}

type objectKey struct{ kind, namespace, name string }

// report prints a verdict per object, then a summary, and tells whether
// there was any error. got says what each LoadBalancer Service would get.
func report(w io.Writer, set *manifest.Set, res config.Result, got map[objectKey]string) bool {
	byObject := map[objectKey][]*config.Error{}
	var loose []error
	addErr := func(err error) {
		var ce *config.Error
		if errors.As(err, &ce) {
			k := objectKey{ce.Kind, ce.Namespace, ce.Name}
			byObject[k] = append(byObject[k], ce)
			return
		}
		loose = append(loose, err)
	}
	for _, err := range set.Errors {
		addErr(err)
	}
	for _, err := range res.Errors {
		addErr(err)
	}
	warnings := map[objectKey][]config.Warning{}
	for _, wn := range res.Warnings {
		k := objectKey{wn.Kind, wn.Namespace, wn.Name}
		warnings[k] = append(warnings[k], wn)
	}

	var okCount, badCount, ignored int
	reported := map[objectKey]bool{}
	for _, o := range set.Objects {
		if o.Ignored {
			ignored++
			fmt.Fprintf(w, "note %s: ignoring %s %s %s: not part of Herald's configuration\n", o.Source, o.APIVersion, o.Kind, o.Name)
			continue
		}
		k := objectKey{o.Kind, o.Namespace, o.Name}
		if reported[k] {
			// A second object with the same kind and name: its
			// errors (the duplicate name first) were printed with
			// the first one.
			badCount++
			continue
		}
		reported[k] = true
		for _, wn := range warnings[k] {
			fmt.Fprintf(w, "warning %s\n", wn)
		}
		if errs := byObject[k]; len(errs) > 0 {
			badCount++
			for _, e := range errs {
				fmt.Fprintf(w, "error %s\n", e)
			}
			continue
		}
		okCount++
		if g, ok := got[k]; ok {
			fmt.Fprintf(w, "ok %s %s: %s\n", o.Kind, config.ObjectName(o.Namespace, o.Name), g)
			continue
		}
		fmt.Fprintf(w, "ok %s %s\n", o.Kind, config.ObjectName(o.Namespace, o.Name))
	}
	// Errors on objects that were not decoded (a document that failed
	// to parse) still need saying.
	var unreported []objectKey
	for k := range byObject {
		if !reported[k] {
			unreported = append(unreported, k)
		}
	}
	slices.SortFunc(unreported, func(a, b objectKey) int {
		return strings.Compare(a.kind+" "+a.namespace+"/"+a.name, b.kind+" "+b.namespace+"/"+b.name)
	})
	for _, k := range unreported {
		for _, e := range byObject[k] {
			loose = append(loose, e)
		}
	}
	for _, e := range loose {
		fmt.Fprintf(w, "error %s\n", e)
	}

	nErr := len(loose)
	for k, errs := range byObject {
		if reported[k] {
			nErr += len(errs)
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%d objects: %d ok, %d with errors", okCount+badCount, okCount, badCount)
	if ignored > 0 {
		fmt.Fprintf(&b, ", %d ignored", ignored)
	}
	fmt.Fprintf(&b, "; %d errors, %d warnings", nErr, len(res.Warnings))
	fmt.Fprintln(w, b.String())
	return nErr > 0
}

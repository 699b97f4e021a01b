package inspect

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/yaml"

	"github.com/heraldlb/herald/api/client/clientset/versioned"
)

// ErrUsage is wrapped by errors in the command line (a bad resource
// argument or -o value).
var ErrUsage = errors.New("usage")

// JaegerURLEnv names the environment variable that gives --jaeger-url its
// default.
const JaegerURLEnv = "HERALD_JAEGER_URL"

// Env is what the commands take from their surroundings, injected so the
// lab's tests run them in process.
type Env struct {
	Stdout, Stderr io.Writer
	// Getenv reads the environment ($KUBECONFIG is read by clientcmd
	// itself); nil reads nothing.
	Getenv func(string) string
	// HTTP fetches traces from Jaeger; nil uses a client with a 30 s
	// timeout.
	HTTP *http.Client
}

// flags are the kubectl-style connection flags and Herald's namespace.
type flags struct {
	kubeconfig, context, namespace, heraldNamespace string
}

// Command builds kubectl herald's command tree.
func Command(env Env) *cobra.Command {
	if env.Getenv == nil {
		env.Getenv = func(string) string { return "" }
	}
	if env.HTTP == nil {
		env.HTTP = &http.Client{Timeout: 30 * time.Second}
	}
	f := &flags{}
	root := &cobra.Command{
		Use:   "kubectl-herald",
		Short: "Herald's view of the cluster: pools, sessions, and why a Service has its IP or none",
		Annotations: map[string]string{
			cobra.CommandDisplayNameAnnotation: "kubectl herald",
		},
		SilenceUsage:      true,
		SilenceErrors:     true,
		CompletionOptions: cobra.CompletionOptions{DisableDefaultCmd: true},
	}
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return fmt.Errorf("%w: %w", ErrUsage, err) })
	root.SetOut(env.Stdout)
	root.SetErr(env.Stderr)
	pf := root.PersistentFlags()
	pf.StringVar(&f.kubeconfig, "kubeconfig", "", "path to the kubeconfig file (default: $KUBECONFIG, then ~/.kube/config)")
	pf.StringVar(&f.context, "context", "", "the kubeconfig context to use")
	pf.StringVarP(&f.namespace, "namespace", "n", "", "the Service's namespace (default: the context's)")
	pf.StringVar(&f.heraldNamespace, "herald-namespace", "metallb-system", "the namespace of the metallb.io objects and Herald's status objects")
	root.AddCommand(statusCommand(env, f), explainCommand(env, f), traceCommand(env, f))
	return root
}

func outputFlag(c *cobra.Command) *string {
	return c.Flags().StringP("output", "o", "", "output format: json or yaml (default: text)")
}

func statusCommand(env Env, f *flags) *cobra.Command {
	c := &cobra.Command{
		Use:   "status",
		Short: "Pools with their usage, BGP sessions with BGP and BFD state, and which node announces which IP to whom",
		Args:  usage(cobra.NoArgs),
	}
	out := outputFlag(c)
	c.RunE = func(cmd *cobra.Command, _ []string) error {
		if err := checkOutput(*out); err != nil {
			return err
		}
		clients, _, err := f.clients()
		if err != nil {
			return err
		}
		facts, err := GatherStatus(cmd.Context(), clients, f.heraldNamespace)
		if err != nil {
			return err
		}
		s := BuildStatus(facts)
		if *out != "" {
			return writeDocument(env.Stdout, *out, s)
		}
		return WriteStatus(env.Stdout, s)
	}
	return c
}

func explainCommand(env Env, f *flags) *cobra.Command {
	c := &cobra.Command{
		Use:   "explain svc/NAME",
		Short: "Why a Service has its IP, or why it is pending; who announces it; the trace ID of its last change",
		Args:  usage(cobra.ExactArgs(1)),
	}
	out := outputFlag(c)
	c.RunE = func(cmd *cobra.Command, args []string) error {
		if err := checkOutput(*out); err != nil {
			return err
		}
		name, err := ServiceName(args[0])
		if err != nil {
			return err
		}
		clients, ns, err := f.clients()
		if err != nil {
			return err
		}
		facts, notes, err := GatherExplain(cmd.Context(), clients, f.heraldNamespace, ns, name)
		if err != nil {
			return err
		}
		x := Explain(facts)
		x.Notes = append(x.Notes, notes...)
		if *out != "" {
			return writeDocument(env.Stdout, *out, x)
		}
		return WriteExplanation(env.Stdout, x)
	}
	return c
}

// TraceResult is trace's -o json|yaml document.
type TraceResult struct {
	Service string `json:"service"`
	TraceID string `json:"traceID"`
	// Trace is Jaeger's trace, absent without a Jaeger URL.
	Trace *Trace `json:"trace,omitempty"`
}

func traceCommand(env Env, f *flags) *cobra.Command {
	c := &cobra.Command{
		Use:   "trace svc/NAME",
		Short: "The trace of a Service's last change, from Jaeger, as an indented timeline",
		Args:  usage(cobra.ExactArgs(1)),
	}
	out := outputFlag(c)
	jaegerURL := c.Flags().String("jaeger-url", "", "Jaeger's query API, e.g. http://jaeger-query:16686 (default: $"+JaegerURLEnv+")")
	c.RunE = func(cmd *cobra.Command, args []string) error {
		if err := checkOutput(*out); err != nil {
			return err
		}
		name, err := ServiceName(args[0])
		if err != nil {
			return err
		}
		clients, ns, err := f.clients()
		if err != nil {
			return err
		}
		id, err := ServiceTraceID(cmd.Context(), clients, ns, name)
		if err != nil {
			return err
		}
		base := *jaegerURL
		if base == "" {
			base = env.Getenv(JaegerURLEnv)
		}
		res := TraceResult{Service: ns + "/" + name, TraceID: id}
		if base == "" {
			if *out != "" {
				return writeDocument(env.Stdout, *out, res)
			}
			_, err := fmt.Fprintf(env.Stdout, "%s: trace %s\nto see it, pass --jaeger-url (or set $%s) to Jaeger's query API: GET <url>/api/traces/%s\n",
				res.Service, id, JaegerURLEnv, id)
			return err
		}
		tr, err := FetchTrace(cmd.Context(), env.HTTP, base, id)
		if err != nil {
			return err
		}
		res.Trace = &tr
		if *out != "" {
			return writeDocument(env.Stdout, *out, res)
		}
		_, err = io.WriteString(env.Stdout, FormatTrace(tr))
		return err
	}
	return c
}

// ServiceName reads the resource argument: svc/NAME, service/NAME,
// services/NAME or a bare NAME.
func ServiceName(arg string) (string, error) {
	kind, name, found := strings.Cut(arg, "/")
	if !found {
		name, kind = kind, "svc"
	}
	switch strings.ToLower(kind) {
	case "svc", "service", "services":
	default:
		return "", fmt.Errorf("%w: %q is not a Service; give svc/NAME or NAME", ErrUsage, arg)
	}
	if name == "" || strings.Contains(name, "/") {
		return "", fmt.Errorf("%w: %q names no Service", ErrUsage, arg)
	}
	return name, nil
}

func checkOutput(o string) error {
	switch o {
	case "", "json", "yaml":
		return nil
	}
	return fmt.Errorf("%w: -o %q: want json or yaml", ErrUsage, o)
}

func writeDocument(w io.Writer, format string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	if format == "yaml" {
		if b, err = yaml.JSONToYAML(b); err != nil {
			return err
		}
	} else {
		b = append(b, '\n')
	}
	_, err = w.Write(b)
	return err
}

// clients loads the kubeconfig as kubectl does ($KUBECONFIG, --kubeconfig,
// --context) and returns the clients and the namespace to use.
func (f *flags) clients() (Clients, string, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = f.kubeconfig
	overrides := &clientcmd.ConfigOverrides{CurrentContext: f.context}
	if f.namespace != "" {
		overrides.Context.Namespace = f.namespace
	}
	cc := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, overrides)
	cfg, err := cc.ClientConfig()
	if err != nil {
		return Clients{}, "", fmt.Errorf("kubeconfig: %w", err)
	}
	ns, _, err := cc.Namespace()
	if err != nil {
		return Clients{}, "", fmt.Errorf("kubeconfig namespace: %w", err)
	}
	kube, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return Clients{}, "", err
	}
	mlb, err := versioned.NewForConfig(cfg)
	if err != nil {
		return Clients{}, "", err
	}
	return Clients{Kube: kube, Metallb: mlb}, ns, nil
}

// Run executes the command line args (without the program name) and
// returns the process's exit status: 0, 1 on failure, 2 on a usage error.
func Run(ctx context.Context, env Env, args []string) int {
	cmd := Command(env)
	cmd.SetArgs(args)
	if err := cmd.ExecuteContext(ctx); err != nil {
		fmt.Fprintf(env.Stderr, "kubectl herald: %v\n", err)
		// cobra's own refusal of an unknown subcommand is a usage error
		// too; it wraps no sentinel, only its text says so.
		if errors.Is(err, ErrUsage) || strings.HasPrefix(err.Error(), "unknown command ") {
			return 2
		}
		return 1
	}
	return 0
}

// usage marks the argument checker's errors as usage errors.
func usage(check cobra.PositionalArgs) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if err := check(cmd, args); err != nil {
			return fmt.Errorf("%w: %w", ErrUsage, err)
		}
		return nil
	}
}

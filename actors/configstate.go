package actors

import (
	"context"
	"strings"
	"unicode/utf8"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/heraldlb/herald/api/client/clientset/versioned"
	"github.com/heraldlb/herald/api/v1beta1"
	"github.com/heraldlb/herald/config"
	"github.com/heraldlb/herald/informers"
)

// maxErrorSummary bounds the error text written to a ConfigurationState so
// a configuration with thousands of errors cannot make the object too
// large.
const maxErrorSummary = 4000

// ConfigStatus is what a ConfigurationState says after a compilation:
// Valid, or Invalid with the errors, and the warnings either way, each cut
// to fit. A warning on the configuration as a whole (a pool no
// advertisement selects) belongs here: the webhook, seeing one object at a
// time, does not say it.
func ConfigStatus(compileErr error, warnings []config.Warning) v1beta1.ConfigurationStateStatus {
	st := v1beta1.ConfigurationStateStatus{Result: v1beta1.ConfigurationValid}
	if compileErr != nil {
		st.Result = v1beta1.ConfigurationInvalid
		st.ErrorSummary = truncate(compileErr.Error(), maxErrorSummary)
	}
	lines := make([]string, len(warnings))
	for i, w := range warnings {
		lines[i] = w.String()
	}
	st.WarningSummary = truncate(strings.Join(lines, "\n"), maxErrorSummary)
	return st
}

// CompileConfig compiles the configuration the caches hold. It returns the
// warnings whether or not there are errors (they go on ConfigurationState
// either way); cfg is nil when err is not.
func CompileConfig(inf *informers.Informers) (cfg *config.Config, warnings []config.Warning, err error) {
	in, err := inf.ConfigInput()
	if err != nil {
		return nil, nil, err
	}
	r := config.Analyze(in)
	if len(r.Errors) > 0 {
		return nil, r.Warnings, r.Errors
	}
	return r.Config, r.Warnings, nil
}

// NewConfigStateWriter publishes the status of the ConfigurationState
// namespace/name, creating the object when it is missing. Each component
// has its own: the controller's, and one per speaker.
func NewConfigStateWriter(rt *Runtime, mlb versioned.Interface, namespace, name string) *StatusWriter[v1beta1.ConfigurationStateStatus] {
	return NewStatusWriter(rt, "configurationstate", name, sameConfigStatus,
		func(ctx context.Context, desired v1beta1.ConfigurationStateStatus, _ bool) error {
			// It always reads live, so first does not matter.
			client := mlb.MetallbV1beta1().ConfigurationStates(namespace)
			cur, err := client.Get(ctx, name, metav1.GetOptions{})
			if apierrors.IsNotFound(err) {
				cur, err = client.Create(ctx, &v1beta1.ConfigurationState{
					ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace},
				}, metav1.CreateOptions{})
			}
			if err != nil {
				return err
			}
			if sameConfigStatus(cur.Status, desired) {
				return nil
			}
			cur.Status.Result = desired.Result
			cur.Status.ErrorSummary = desired.ErrorSummary
			cur.Status.WarningSummary = desired.WarningSummary
			_, err = client.UpdateStatus(ctx, cur, metav1.UpdateOptions{})
			return err
		})
}

func sameConfigStatus(a, b v1beta1.ConfigurationStateStatus) bool {
	return a.Result == b.Result && a.ErrorSummary == b.ErrorSummary && a.WarningSummary == b.WarningSummary
}

// truncate cuts s to at most n bytes, at a character boundary (the summary
// is often in the user's language), and marks the cut with "..." (three
// bytes more).
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "..."
}

// Package webhook is Herald's validating admission webhook for the metallb.io
// configuration kinds (IPAddressPool, L2Advertisement, BGPAdvertisement,
// BGPPeer at v1beta1 and v1beta2, BFDProfile, Community), with the
// certificate it serves under.
//
// Its place in the whole: the I/O libraries (shell layer), in docs/architecture.md.
//
// Contract.
//
//   - A review compiles, with config.Analyze, the configuration as it is
//     (from a Source) and as it would be with the request's object added,
//     replaced or removed. CREATE and UPDATE are refused when the result
//     has errors on the object, errors whose text names the object, or
//     errors the change introduces elsewhere; the refusal lists every such
//     error, one per line, exactly as config prints them ("Kind ns/name:
//     field: what is wrong"). Errors that were already there and do not
//     involve the object are not held against it, so a broken configuration
//     never blocks the write that fixes it; a warning says they remain.
//   - DELETE is admitted, with a warning for each error it introduces,
//     except deleting a BFDProfile that a BGPPeer still names, which is
//     refused with the peers' names. Refusing other deletions would make
//     `kubectl delete -f` of a whole configuration depend on file order.
//   - A refusal is HTTP 403 Forbidden with the lines as Status.Message
//     (kubectl prints it after `admission webhook "..." denied the
//     request:`) and one Status.Details cause per error, whose Field is set
//     when the error is on the reviewed object. Deleting a BFDProfile in use
//     is also 403; a Source that cannot be read is 500 (with failurePolicy
//     Fail the write is refused either way).
//   - Config warnings that concern the object (or are new) go into
//     AdmissionResponse.Warnings, except remarks on the configuration as a
//     whole (config.Warning.Whole: a pool no advertisement selects yet),
//     which would be premature in the middle of an apply: the
//     ConfigurationStates and herald validate report those. Objects outside Herald's namespace are
//     admitted with a warning that Herald ignores them.
//   - The configuration comes from a Source (ConfigInput), which the
//     controller's *informers.Informers satisfies; the package starts no
//     informer. The metallb.io objects and Secrets are read from the API
//     server for each review (ClientSource), because a cache lags the
//     documents of one `kubectl apply` by milliseconds and would admit two
//     overlapping pools sent back to back; Namespaces and Nodes come from the
//     informers (ClientSource.Cluster).
//
// Certificate. Each replica's Server keeps a CA and a serving certificate in
// one Secret in Herald's namespace (keys ca.crt, ca.key, tls.crt, tls.key),
// creating it if absent and renewing what Decide says is due (two thirds of
// its lifetime). The trust bundle (ca.crt: the current CA and unexpired older
// ones) is injected as caBundle into every webhook of the configured
// ValidatingWebhookConfiguration before a new certificate is stored, so no
// replica serves a certificate the API server does not trust yet. Replicas
// coordinate only through the Secret's resourceVersion. The TLS listener
// takes the pair through tls.Config.GetCertificate, so renewal needs no
// restart. Time comes from an injected clock.
//
// NewConfiguration builds the ValidatingWebhookConfiguration the chart
// installs (charts/herald/templates/webhook.yaml) for any client config, so
// a lab can point it at a loopback URL.
package webhook

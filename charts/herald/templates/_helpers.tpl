{{/*
Names. With the release called "herald" (as the documentation installs it)
every name below equals the default of the matching `herald` flag, so the
binaries and the chart agree even where a flag is left out.
*/}}
{{- define "herald.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "herald.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/* The namespace of every namespaced object, and Herald's --namespace. */}}
{{- define "herald.namespace" -}}
{{- default .Release.Namespace .Values.namespace }}
{{- end }}

{{- define "herald.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "herald.labels" -}}
helm.sh/chart: {{ include "herald.chart" . }}
{{ include "herald.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: herald
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{- define "herald.selectorLabels" -}}
app.kubernetes.io/name: {{ include "herald.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* Labels of one component: include with (dict "ctx" $ "component" "controller"). */}}
{{- define "herald.componentLabels" -}}
{{ include "herald.labels" .ctx }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "herald.componentSelectorLabels" -}}
{{ include "herald.selectorLabels" .ctx }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "herald.controller.fullname" -}}
{{- printf "%s-controller" (include "herald.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "herald.speaker.fullname" -}}
{{- printf "%s-speaker" (include "herald.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "herald.controller.serviceAccountName" -}}
{{- if .Values.controller.serviceAccount.create }}
{{- default (include "herald.controller.fullname" .) .Values.controller.serviceAccount.name }}
{{- else }}
{{- required "controller.serviceAccount.name is required when controller.serviceAccount.create is false" .Values.controller.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "herald.speaker.serviceAccountName" -}}
{{- if .Values.speaker.serviceAccount.create }}
{{- default (include "herald.speaker.fullname" .) .Values.speaker.serviceAccount.name }}
{{- else }}
{{- required "speaker.serviceAccount.name is required when speaker.serviceAccount.create is false" .Values.speaker.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The leader election Lease (herald controller --lease-name). */}}
{{- define "herald.leaseName" -}}
{{- default (include "herald.controller.fullname" .) .Values.controller.leaderElection.leaseName }}
{{- end }}

{{/* The webhook's Service (--webhook-service), configuration (--webhook-configuration) and Secret (--webhook-secret). */}}
{{- define "herald.webhook.serviceName" -}}
{{- printf "%s-webhook" (include "herald.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "herald.webhook.configurationName" -}}
{{- printf "%s-validating-webhook" (include "herald.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "herald.webhook.secretName" -}}
{{- default (printf "%s-webhook-cert" (include "herald.fullname" .)) .Values.controller.webhook.secretName | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "herald.image" -}}
{{- $tag := default .Chart.AppVersion .Values.image.tag }}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository $tag }}
{{- end }}
{{- end }}

{{/*
The OTEL_* variables, passed through as they are: Herald's tracing reads the
standard OpenTelemetry variables. The component's own (otelEnv) win over
otel.env. Include with (dict "ctx" $ "component" .Values.controller).
*/}}
{{- define "herald.otelEnv" -}}
{{- $env := merge (deepCopy (default dict .component.otelEnv)) (deepCopy (default dict .ctx.Values.otel.env)) }}
{{- range $k := keys $env | sortAlpha }}
{{- if not (hasPrefix "OTEL_" $k) }}
{{- fail (printf "otel.env and otelEnv hold OTEL_* variables only, not %q: use extraEnv" $k) }}
{{- end }}
- name: {{ $k }}
  value: {{ index $env $k | toString | quote }}
{{- end }}
{{- end }}

{{/*
The metrics endpoint's scheme, for probes and scrapes: HTTPS when the
component serves /metrics with a certificate.
*/}}
{{- define "herald.metricsScheme" -}}
{{- if .tls.enabled }}HTTPS{{ else }}HTTP{{ end }}
{{- end }}

{{/* The capabilities the speaker needs: NET_RAW always, NET_BIND_SERVICE for a BGP listener below 1024. */}}
{{- define "herald.speaker.capabilities" -}}
- NET_RAW
{{- $port := int .Values.speaker.bgp.listenPort }}
{{- if and (gt $port 0) (lt $port 1024) }}
- NET_BIND_SERVICE
{{- end }}
{{- end }}

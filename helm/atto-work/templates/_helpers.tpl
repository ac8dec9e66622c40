{{/* Chart name, truncated to the 63 characters a label allows. */}}
{{- define "atto-work.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Full name of the release's objects: release-chart, unless the release name already has it. */}}
{{- define "atto-work.fullname" -}}
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

{{- define "atto-work.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Standard labels (Helm's conventions). */}}
{{- define "atto-work.labels" -}}
helm.sh/chart: {{ include "atto-work.chart" . }}
{{ include "atto-work.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: atto-work
{{- end }}

{{- define "atto-work.selectorLabels" -}}
app.kubernetes.io/name: {{ include "atto-work.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* Labels of one component: pass (dict "root" $ "component" "coordinator"). */}}
{{- define "atto-work.componentLabels" -}}
{{ include "atto-work.labels" .root }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "atto-work.componentSelectorLabels" -}}
{{ include "atto-work.selectorLabels" .root }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "atto-work.coordinatorName" -}}
{{- printf "%s-coordinator" (include "atto-work.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "atto-work.workersName" -}}
{{- printf "%s-workers" (include "atto-work.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "atto-work.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "atto-work.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "atto-work.secretName" -}}
{{- default (include "atto-work.fullname" .) .Values.secrets.existingSecret }}
{{- end }}

{{- define "atto-work.imageTag" -}}
{{- default .Chart.AppVersion .Values.image.tag }}
{{- end }}

{{/* The image of coordinator pods. */}}
{{- define "atto-work.image" -}}
{{- printf "%s:%s" .Values.image.repository (include "atto-work.imageTag" .) }}
{{- end }}

{{/* The image of worker pods: the GPU flavour when GPUs are enabled. */}}
{{- define "atto-work.workersImage" -}}
{{- if .Values.workers.gpu.enabled }}
{{- $repository := default .Values.image.repository .Values.workers.gpu.image.repository }}
{{- $tag := default (printf "%s-gpu" (include "atto-work.imageTag" .)) .Values.workers.gpu.image.tag }}
{{- printf "%s:%s" $repository $tag }}
{{- else }}
{{- include "atto-work.image" . }}
{{- end }}
{{- end }}

{{/* Env shared by every role: messaging and logging. */}}
{{- define "atto-work.commonEnv" -}}
- name: MESSAGING
  value: pubsub
- name: PUBSUB_PROJECT_ID
  value: {{ .Values.pubsub.projectId | quote }}
{{- with .Values.pubsub.emulatorHost }}
- name: PUBSUB_EMULATOR_HOST
  value: {{ . | quote }}
{{- end }}
- name: MESSAGING_RETRY_MIN_SECONDS
  value: {{ .Values.pubsub.retryMinSeconds | quote }}
- name: MESSAGING_RETRY_MAX_SECONDS
  value: {{ .Values.pubsub.retryMaxSeconds | quote }}
- name: PUBSUB_PUBLISH_TIMEOUT_SECONDS
  value: {{ .Values.pubsub.publishTimeoutSeconds | quote }}
- name: LOG_LEVEL
  value: {{ .Values.logging.level | quote }}
- name: LOG_FORMAT
  value: {{ .Values.logging.format | quote }}
{{- end }}

{{/* One env var from the chart's Secret; optional, so a key left empty leaves the variable unset. */}}
{{- define "atto-work.secretEnv" -}}
- name: {{ .name }}
  valueFrom:
    secretKeyRef:
      name: {{ include "atto-work.secretName" .root }}
      key: {{ .key }}
      optional: true
{{- end }}

{{/* HTTP probes of a role on its named port (pass the name): liveness /health, readiness /ready. */}}
{{- define "atto-work.probes" -}}
startupProbe:
  httpGet:
    path: /health
    port: {{ . }}
  periodSeconds: 2
  failureThreshold: 60
livenessProbe:
  httpGet:
    path: /health
    port: {{ . }}
  periodSeconds: 10
  timeoutSeconds: 5
  failureThreshold: 3
readinessProbe:
  httpGet:
    path: /ready
    port: {{ . }}
  periodSeconds: 5
  timeoutSeconds: 5
  failureThreshold: 3
{{- end }}

{{/* Fails the render when the workers' timeouts cannot drain a pod before SIGKILL. */}}
{{- define "atto-work.checkWorkerTimeouts" -}}
{{- $w := .Values.workers }}
{{- if not (lt (int $w.solver.timeoutSeconds) (int $w.adapter.workerTimeoutSeconds)) }}
{{- fail "workers.adapter.workerTimeoutSeconds must be above workers.solver.timeoutSeconds" }}
{{- end }}
{{- if gt (int $w.adapter.workerTimeoutSeconds) (int $w.adapter.shutdownGraceSeconds) }}
{{- fail "workers.adapter.shutdownGraceSeconds must be at least workers.adapter.workerTimeoutSeconds (a solve in hand must finish)" }}
{{- end }}
{{- if not (lt (int $w.adapter.shutdownGraceSeconds) (int $w.terminationGracePeriodSeconds)) }}
{{- fail "workers.terminationGracePeriodSeconds must be above workers.adapter.shutdownGraceSeconds" }}
{{- end }}
{{- if and .Values.keda.enabled $w.autoscaling.enabled }}
{{- fail "keda.enabled and workers.autoscaling.enabled exclude each other: KEDA creates its own HPA for the workers" }}
{{- end }}
{{- end }}

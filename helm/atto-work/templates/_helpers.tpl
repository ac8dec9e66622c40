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

{{/* The ServiceAccount of a component's pods: pass (dict "root" $ "component" "coordinator"). With
serviceAccount.perComponent each component has its own (<name>-coordinator, <name>-workers). */}}
{{- define "atto-work.serviceAccountName" -}}
{{- $sa := .root.Values.serviceAccount }}
{{- $base := "" }}
{{- if $sa.create }}
{{- $base = default (include "atto-work.fullname" .root) $sa.name }}
{{- else }}
{{- $base = default "default" $sa.name }}
{{- end }}
{{- if $sa.perComponent }}
{{- printf "%s-%s" $base .component | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $base }}
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
{{- $repository := required "image.repository is required: the registry path of the atto-work image" .Values.image.repository }}
{{- printf "%s:%s" $repository (include "atto-work.imageTag" .) }}
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
  value: {{ required "pubsub.projectId is required: the GCP project holding the topics" .Values.pubsub.projectId | quote }}
{{- with .Values.pubsub.emulatorHost }}
- name: PUBSUB_EMULATOR_HOST
  value: {{ . | quote }}
{{- end }}
- name: MESSAGING_RETRY_MIN_SECONDS
  value: {{ include "atto-work.envValue" .Values.pubsub.retryMinSeconds | quote }}
- name: MESSAGING_RETRY_MAX_SECONDS
  value: {{ include "atto-work.envValue" .Values.pubsub.retryMaxSeconds | quote }}
- name: PUBSUB_PUBLISH_TIMEOUT_SECONDS
  value: {{ include "atto-work.envValue" .Values.pubsub.publishTimeoutSeconds | quote }}
- name: PUBSUB_BATCH_INTERVAL_SECONDS
  value: {{ include "atto-work.envValue" .Values.pubsub.batchIntervalSeconds | quote }}
- name: LOG_LEVEL
  value: {{ .Values.logging.level | quote }}
- name: LOG_FORMAT
  value: {{ .Values.logging.format | quote }}
{{- end }}

{{/* A value as an env var's text. Helm reads every number of the values as a float, which prints
1000000 as "1e+06" (no integer setting reads that): a whole number is written as an integer. */}}
{{- define "atto-work.envValue" -}}
{{- if and (kindIs "float64" .) (eq . (floor .)) (lt . 1e15) }}{{ int64 . }}{{ else }}{{ . }}{{ end }}
{{- end }}

{{/* Env vars set only when their value is given, so that an unset one keeps the service's default:
"env" maps names to values (null or empty: not set); "http" is a container's `http` values, the
HTTP bounds of common/connections.py. */}}
{{- define "atto-work.optionalEnv" -}}
{{- $env := deepCopy .env }}
{{- with .http }}
{{- $_ := set $env "HTTP_MAX_HEADER_BYTES" .maxHeaderBytes }}
{{- $_ := set $env "HTTP_REQUEST_TIMEOUT_SECONDS" .requestTimeoutSeconds }}
{{- $_ := set $env "HTTP_MAX_CONNECTIONS" .maxConnections }}
{{- end }}
{{- $items := list }}
{{- range $name, $value := $env }}
{{- if not (or (kindIs "invalid" $value) (eq (toString $value) "")) }}
{{- $items = append $items (dict "name" $name "value" (include "atto-work.envValue" $value)) }}
{{- end }}
{{- end }}
{{- with $items }}{{ toYaml . }}{{ end }}
{{- end }}

{{/* One env var from the Secret. Pass "optional" true only for a key that may be absent: a
required key that is missing, or a missing Secret, keeps the container from starting (fails closed). */}}
{{- define "atto-work.secretEnv" -}}
- name: {{ .name }}
  valueFrom:
    secretKeyRef:
      name: {{ include "atto-work.secretName" .root }}
      key: {{ .key }}
      optional: {{ .optional | default false }}
{{- end }}

{{/* The coordinator is reachable from outside the cluster. */}}
{{- define "atto-work.exposed" -}}
{{- if or .Values.coordinator.ingress.enabled (eq .Values.coordinator.service.type "LoadBalancer") }}true{{ end }}
{{- end }}

{{/* The coordinator requires API keys: exposed, unless anonymous access was asked for. */}}
{{- define "atto-work.requireApiKeys" -}}
{{- if and (include "atto-work.exposed" .) (not .Values.coordinator.allowAnonymous) }}true{{ end }}
{{- end }}

{{/* The secret values of one component, hashed into its pods' annotations so that a change restarts
only the pods that read it (API keys do not restart GPU workers). An existingSecret is not read. */}}
{{- define "atto-work.secretChecksum" -}}
{{- $s := .root.Values.secrets }}
{{- if eq .component "coordinator" }}
{{- printf "%s\n%s\n%s" $s.coordinatorApiKeys $s.callbackSigningSecret $s.callbackSigningKeys | sha256sum }}
{{- else }}
{{- $s.solverToken | sha256sum }}
{{- end }}
{{- end }}

{{/* HTTP probes of a role: pass (dict "port" <named port> "overrides" <values' probes>); liveness
/health, readiness /ready, each merged with its override. */}}
{{- define "atto-work.probes" -}}
{{- $defaults := dict
  "startupProbe" (dict "httpGet" (dict "path" "/health" "port" .port) "periodSeconds" 2 "failureThreshold" 60)
  "livenessProbe" (dict "httpGet" (dict "path" "/health" "port" .port) "periodSeconds" 10 "timeoutSeconds" 5 "failureThreshold" 3)
  "readinessProbe" (dict "httpGet" (dict "path" "/ready" "port" .port) "periodSeconds" 5 "timeoutSeconds" 5 "failureThreshold" 3) }}
{{- toYaml (mergeOverwrite $defaults (deepCopy (default (dict) .overrides))) }}
{{- end }}

{{- /* Egress every pod needs: DNS, the GKE metadata server (Workload Identity tokens), and Google
APIs (Pub/Sub), which live at public addresses on 443. */}}
{{- define "atto-work.baseEgress" -}}
- ports:
    - {port: 53, protocol: UDP}
    - {port: 53, protocol: TCP}
- to:
    - ipBlock: {cidr: 169.254.169.254/32}
  ports:
    - {port: 80, protocol: TCP}
- to:
    - ipBlock: {cidr: 169.254.169.252/32}
  ports:
    - {port: 988, protocol: TCP}
{{- with .Values.pubsub.emulatorHost }}
# The Pub/Sub emulator, a pod of this cluster.
- to:
    - namespaceSelector: {}
  ports:
    - {port: {{ splitList ":" . | last | int }}, protocol: TCP}
{{- end }}
{{- end }}

{{/* Public addresses: everything but private, shared, loopback and link-local ranges. */}}
{{- define "atto-work.publicPeers" -}}
- ipBlock:
    cidr: 0.0.0.0/0
    except: [10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16, 100.64.0.0/10, 169.254.0.0/16, 127.0.0.0/8]
- ipBlock:
    cidr: ::/0
    except: ["fc00::/7", "fe80::/10", "::1/128"]
{{- end }}

{{/* Fails the render on values that cannot work together (the schema checks each value alone). */}}
{{- define "atto-work.checkValues" -}}
{{- $w := .Values.workers }}
{{- if not (lt (int $w.solver.timeoutSeconds) (int $w.adapter.workerTimeoutSeconds)) }}
{{- fail "workers.adapter.workerTimeoutSeconds must be above workers.solver.timeoutSeconds" }}
{{- end }}
{{- if not (lt (int $w.adapter.workerTimeoutSeconds) (int $w.adapter.shutdownGraceSeconds)) }}
{{- fail "workers.adapter.shutdownGraceSeconds must be above workers.adapter.workerTimeoutSeconds (a solve in hand must finish and be published)" }}
{{- end }}
{{- if not (lt (int $w.adapter.shutdownGraceSeconds) (int $w.terminationGracePeriodSeconds)) }}
{{- fail "workers.terminationGracePeriodSeconds must be above workers.adapter.shutdownGraceSeconds" }}
{{- end }}
{{- $c := .Values.coordinator }}
{{- if not (lt (int $c.preStopSeconds) (int $c.terminationGracePeriodSeconds)) }}
{{- fail "coordinator.terminationGracePeriodSeconds must be above coordinator.preStopSeconds (time to drain after the delay)" }}
{{- end }}
{{- $k := .Values.keda }}
{{- if and $k.enabled (gt (int $k.minReplicaCount) (int $k.maxReplicaCount)) }}
{{- fail "keda.minReplicaCount must be at most keda.maxReplicaCount" }}
{{- end }}
{{- $hpa := .Values.coordinator.autoscaling }}
{{- if and $hpa.enabled (gt (int $hpa.minReplicas) (int $hpa.maxReplicas)) }}
{{- fail "coordinator.autoscaling.minReplicas must be at most coordinator.autoscaling.maxReplicas" }}
{{- end }}
{{- if and (include "atto-work.requireApiKeys" .) (not .Values.secrets.existingSecret) (not .Values.secrets.coordinatorApiKeys) }}
{{- fail "the coordinator is exposed (Ingress or LoadBalancer) without API keys: set secrets.coordinatorApiKeys or secrets.existingSecret, or coordinator.allowAnonymous=true" }}
{{- end }}
{{- if and (not .Values.secrets.create) (not .Values.secrets.existingSecret) }}
{{- fail "secrets.create=false needs secrets.existingSecret (the pods read the solver token from it)" }}
{{- end }}
{{- end }}

{{/* Names, labels and the pieces every Callflows pod shares. */}}

{{- define "callflows.name" -}}
{{- .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "callflows.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{/* Selector labels of one component: (dict "ctx" $ "component" "phone") */}}
{{- define "callflows.selectorLabels" -}}
app.kubernetes.io/name: {{ include "callflows.name" .ctx }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "callflows.labels" -}}
{{ include "callflows.selectorLabels" . }}
app.kubernetes.io/version: {{ .ctx.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .ctx.Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .ctx.Chart.Name .ctx.Chart.Version | replace "+" "_" }}
{{- end -}}

{{- define "callflows.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{/* The Secret holding the Twilio credentials and keys: the user's, or the chart's own. */}}
{{- define "callflows.secretName" -}}
{{- default (printf "%s-secrets" (include "callflows.fullname" .)) .Values.secrets.existingSecret -}}
{{- end -}}

{{/* Whether the chart writes its own Secret (anything to put in it). */}}
{{- define "callflows.ownSecret" -}}
{{- if or (not .Values.secrets.existingSecret) (and .Values.database.url (not .Values.database.existingSecret)) -}}true{{- end -}}
{{- end -}}

{{/* The exit after the drain's grace: 30 s wrap-up (callflows/telephony/drain.py WRAP_UP_S) and
     15 s for the worker to exit (callflows/cli/serve.py GRACEFUL_MARGIN_S). */}}
{{- define "callflows.drainExitSeconds" -}}45{{- end -}}

{{/* The kubelet SIGKILLs the pod this long after it starts terminating (preStop included). */}}
{{- define "callflows.terminationGracePeriodSeconds" -}}
{{- $d := .Values.phone.drain -}}
{{- add (int $d.preStopSeconds) (int $d.graceSeconds) (int (include "callflows.drainExitSeconds" .)) (int $d.terminationMarginSeconds) -}}
{{- end -}}

{{/* The escalation LLM's URL for the phone replicas: the chart's server, an external one, or none. */}}
{{- define "callflows.llmUrl" -}}
{{- if .Values.llm.enabled -}}
{{- printf "http://%s-llm:%d" (include "callflows.fullname" .) (int .Values.llm.port) -}}
{{- else -}}
{{- .Values.llm.externalUrl -}}
{{- end -}}
{{- end -}}

{{/* Values that must be set; rendering stops with the reason. */}}
{{- define "callflows.validate" -}}
{{- if not .Values.publicUrl -}}
{{- fail "publicUrl is required: the https origin Twilio reaches the phone server at (CALLFLOWS_PUBLIC_URL)" -}}
{{- end -}}
{{- if not (hasPrefix "https://" .Values.publicUrl) -}}
{{- fail "publicUrl must be an https:// origin (Twilio signs the https URL it calls)" -}}
{{- end -}}
{{- if and (not .Values.database.url) (not .Values.database.existingSecret) -}}
{{- fail "a database is required: database.url or database.existingSecret (e.g. CloudNativePG's <cluster>-app, key uri)" -}}
{{- end -}}
{{- if and (not .Values.secrets.existingSecret) (not .Values.secrets.twilioAuthToken) -}}
{{- fail "the Twilio auth token is required: secrets.twilioAuthToken or secrets.existingSecret" -}}
{{- end -}}
{{- if not (has .Values.models.source (list "image" "fetch")) -}}
{{- fail "models.source must be image or fetch" -}}
{{- end -}}
{{- if and (eq .Values.models.source "fetch") (not .Values.models.fetch) -}}
{{- fail "models.source fetch needs at least one role under models.fetch (url and sha256)" -}}
{{- end -}}
{{- range $role, $m := .Values.models.fetch -}}
{{- if not (and $m.url (regexMatch "^[0-9a-f]{64}$" (toString $m.sha256))) -}}
{{- fail (printf "models.fetch.%s needs url and sha256 (64 lower-case hex digits)" $role) -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* Environment every Callflows process reads: the database and the log level. */}}
{{- define "callflows.baseEnv" -}}
- name: CALLFLOWS_LOG_LEVEL
  value: {{ .Values.logLevel | quote }}
- name: CALLFLOWS_DATABASE_URL
  valueFrom:
    secretKeyRef:
      {{- if .Values.database.existingSecret }}
      name: {{ .Values.database.existingSecret }}
      key: {{ .Values.database.existingSecretKey }}
      {{- else }}
      name: {{ printf "%s-secrets" (include "callflows.fullname" .) }}
      key: database-url
      {{- end }}
{{- end -}}

{{/* One optional key of the Secret as an environment variable: (dict "ctx" $ "env" "X" "key" "k") */}}
{{- define "callflows.secretEnv" -}}
- name: {{ .env }}
  valueFrom:
    secretKeyRef:
      name: {{ include "callflows.secretName" .ctx }}
      key: {{ .key }}
      optional: {{ .optional | default false }}
{{- end -}}

{{/* The models the init container fetched: CALLFLOWS_MODEL_<ROLE>=<url>#sha256=<hex>, the same in
     the init container (which downloads and verifies) and the server (which finds them there). */}}
{{- define "callflows.modelEnv" -}}
{{- if eq .Values.models.source "fetch" -}}
{{- range $role, $m := .Values.models.fetch }}
- name: {{ printf "CALLFLOWS_MODEL_%s" (upper $role) }}
  value: {{ printf "%s#sha256=%s" $m.url $m.sha256 | quote }}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "callflows.modelMount" -}}
{{- if eq .Values.models.source "fetch" -}}
- name: models-fetched
  mountPath: /app/models/.cache/user
{{- end -}}
{{- end -}}

{{- define "callflows.modelVolume" -}}
{{- if eq .Values.models.source "fetch" -}}
- name: models-fetched
  {{- if .Values.models.volume.existingClaim }}
  persistentVolumeClaim:
    claimName: {{ .Values.models.volume.existingClaim }}
  {{- else }}
  emptyDir:
    sizeLimit: {{ .Values.models.volume.sizeLimit }}
  {{- end }}
{{- end -}}
{{- end -}}

{{/* The init container that downloads and verifies the fetched roles: (dict "ctx" $ "roles" (list ...)),
     roles empty = every fetched role. */}}
{{- define "callflows.modelsInit" -}}
{{- $ctx := .ctx -}}
{{- if eq $ctx.Values.models.source "fetch" -}}
{{- $roles := list -}}
{{- range $role, $m := $ctx.Values.models.fetch -}}
{{- if or (not $.roles) (has $role $.roles) -}}{{- $roles = append $roles $role -}}{{- end -}}
{{- end -}}
{{- if $roles }}
- name: models
  image: {{ include "callflows.image" $ctx }}
  imagePullPolicy: {{ $ctx.Values.image.pullPolicy }}
  # `callflows models path <role>` with CALLFLOWS_MODEL_<ROLE>=<url>#sha256=<hex>: downloads once,
  # verifies the sha256 (a mismatch deletes the file and fails), prints the path.
  command:
    - sh
    - -ec
    - |
      {{- range $roles }}
      python -m callflows.cli.models path {{ . }}
      {{- end }}
  env:
    {{- include "callflows.modelEnv" $ctx | trim | nindent 4 }}
  volumeMounts:
    {{- include "callflows.modelMount" $ctx | nindent 4 }}
  securityContext:
    {{- toYaml $ctx.Values.securityContext | nindent 4 }}
  resources:
    {{- toYaml $ctx.Values.models.fetchResources | nindent 4 }}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* The recordings volume shared by the phone replicas, the admin and the retention sweep. */}}
{{- define "callflows.recordingsClaim" -}}
{{- default (printf "%s-recordings" (include "callflows.fullname" .)) .Values.recordings.persistence.existingClaim -}}
{{- end -}}

{{- define "callflows.recordingsMount" -}}
{{- if .Values.recordings.persistence.enabled -}}
- name: recordings
  mountPath: /app/var/recordings
{{- end -}}
{{- end -}}

{{- define "callflows.recordingsVolume" -}}
{{- if .Values.recordings.persistence.enabled -}}
- name: recordings
  persistentVolumeClaim:
    claimName: {{ include "callflows.recordingsClaim" . }}
{{- end -}}
{{- end -}}

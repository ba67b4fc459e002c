{{/* Chart name, truncated to the 63 characters Kubernetes allows. */}}
{{- define "hookflash.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Full name: <release>-<chart> unless the release name already has it. */}}
{{- define "hookflash.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "hookflash.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "hookflash.selectorLabels" -}}
app.kubernetes.io/name: {{ include "hookflash.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "hookflash.labels" -}}
helm.sh/chart: {{ include "hookflash.chart" . }}
{{ include "hookflash.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: hookflash
{{- end -}}

{{- define "hookflash.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "hookflash.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* The image reference: repository@digest, or repository:tag. */}}
{{- define "hookflash.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}
{{- end -}}

{{/* Name of the Secret holding the credentials. */}}
{{- define "hookflash.secretName" -}}
{{- if .Values.secret.create -}}
{{- include "hookflash.fullname" . -}}
{{- else -}}
{{- required "secret.existingSecret is required when secret.create is false: create the Secret first (see the chart README)" .Values.secret.existingSecret -}}
{{- end -}}
{{- end -}}

{{/* Refuses values that render but could not work. */}}
{{- define "hookflash.validate" -}}
{{- $drain := add .Values.lifecycle.preStopSleepSeconds .Values.config.shutdownGraceSeconds -}}
{{- if le (int .Values.terminationGracePeriodSeconds) (int $drain) -}}
{{- fail (printf "terminationGracePeriodSeconds (%d) must exceed lifecycle.preStopSleepSeconds + config.shutdownGraceSeconds (%d), or pods are killed mid-drain" (int .Values.terminationGracePeriodSeconds) (int $drain)) -}}
{{- end -}}
{{- if and (not .Values.autoscaling.enabled) (lt (int .Values.replicaCount) 2) -}}
{{- fail "replicaCount must be at least 2: Hookflash replicas take over each other's PBXes" -}}
{{- end -}}
{{- if and .Values.autoscaling.enabled (lt (int .Values.autoscaling.maxReplicas) (int .Values.autoscaling.minReplicas)) -}}
{{- fail "autoscaling.maxReplicas must be at least autoscaling.minReplicas" -}}
{{- end -}}
{{- if .Values.secret.create -}}
{{- range $k := list "databaseUrl" "redisUrl" "secretKey" "adminToken" -}}
{{- if not (index $.Values.secret $k) -}}
{{- fail (printf "secret.%s is required when secret.create is true" $k) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* Names */}}
{{- define "sahab.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "sahab.fullname" -}}
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

{{- define "sahab.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{ include "sahab.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "sahab.selectorLabels" -}}
app.kubernetes.io/name: {{ include "sahab.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* Selector labels of one component: include "sahab.componentSelector" (list . "api") */}}
{{- define "sahab.componentSelector" -}}
{{ include "sahab.selectorLabels" (index . 0) }}
app.kubernetes.io/component: {{ index . 1 }}
{{- end }}

{{- define "sahab.image" -}}
{{ printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{/* Refuse what must never run: production without external database/broker/backend/OIDC. */}}
{{- define "sahab.validate" -}}
{{- $s := .Values.secrets }}
{{- if eq .Values.mode "production" }}
{{- range $ref := list "database" "broker" "pulumiBackend" "pulumiPassphrase" "credentialsKeys" "oidc" }}
{{- if not (get $s $ref).name }}
{{- fail (printf "mode=production needs secrets.%s.name: an existing Secret (production never runs on SQLite, the filesystem broker, a file:// Pulumi backend or the built-in issuer); use mode=embedded for an evaluation install" $ref) }}
{{- end }}
{{- end }}
{{- if .Values.demoAccounts }}
{{- fail "demoAccounts must be false in mode=production" }}
{{- end }}
{{- end }}
{{- if eq .Values.mode "embedded" }}
{{- $u := urlParse .Values.publicUrl }}
{{- if ne $u.host (printf "0.0.0.0:%v" .Values.service.port) }}
{{- fail (printf "mode=embedded runs `sahab-server all`, whose API listens on the host and port of publicUrl: set publicUrl to http://0.0.0.0:%v (got %s)" .Values.service.port .Values.publicUrl) }}
{{- end }}
{{- if and .Values.embedded.persistence.enabled (not .Values.embedded.persistence.existingClaim) }}
{{- fail "embedded.persistence.enabled needs embedded.persistence.existingClaim" }}
{{- end }}
{{- end }}
{{- if and (eq .Values.provisioner "pulumi") (not $s.cloudsYaml.name) }}
{{- fail "provisioner=pulumi needs secrets.cloudsYaml.name: an existing Secret holding clouds.yaml (or set provisioner=unavailable)" }}
{{- end }}
{{- if and $s.smtpPassword.name (not (and .Values.smtp.host .Values.smtp.username)) }}
{{- fail "secrets.smtpPassword needs smtp.host and smtp.username" }}
{{- end }}
{{- if not .Values.regions }}
{{- fail "regions is empty: give the region catalogue (see values.yaml)" }}
{{- end }}
{{- end }}

{{/* Paths inside the containers */}}
{{- define "sahab.dataDir" -}}/var/lib/sahab{{- end }}
{{- define "sahab.metricsDir" -}}/var/run/sahab/metrics{{- end }}
{{- define "sahab.catalogueDir" -}}/etc/sahab/catalogue{{- end }}
{{- define "sahab.cloudsDir" -}}/etc/openstack{{- end }}

{{- define "sahab.secretEnv" -}}
{{- $name := index . 0 }}{{- $secret := index . 1 }}{{- $key := index . 2 -}}
- name: {{ $name }}
  valueFrom:
    secretKeyRef:
      name: {{ $secret }}
      key: {{ $key }}
{{- end }}

{{/*
The one configuration of every Sahab container (API, worker, beat, migrations, embedded):
the API and the workers must agree on database, broker, catalogue, backend and identity.
*/}}
{{- define "sahab.env" -}}
{{- $s := .Values.secrets -}}
- name: POD_NAME
  valueFrom:
    fieldRef:
      fieldPath: metadata.name
- name: SAHAB_PUBLIC_URL
  value: {{ .Values.publicUrl | quote }}
- name: SAHAB_DATA_DIR
  value: {{ include "sahab.dataDir" . }}
- name: SAHAB_CATALOGUE_PATH
  value: {{ include "sahab.catalogueDir" . }}/regions.yaml
{{- if .Values.programmes }}
- name: SAHAB_PROGRAMMES_PATH
  value: {{ include "sahab.catalogueDir" . }}/programmes.yaml
{{- end }}
{{- if .Values.priceList }}
- name: SAHAB_PRICE_LIST_PATH
  value: {{ include "sahab.catalogueDir" . }}/prices.yaml
{{- end }}
{{- with .Values.smtp }}
{{- if .host }}
- name: SAHAB_SMTP_HOST
  value: {{ .host | quote }}
- name: SAHAB_SMTP_PORT
  value: {{ .port | quote }}
- name: SAHAB_SMTP_SENDER
  value: {{ .sender | quote }}
- name: SAHAB_SMTP_STARTTLS
  value: {{ .starttls | quote }}
- name: SAHAB_SMTP_USERNAME
  value: {{ .username | quote }}
- name: SAHAB_SMTP_TIMEOUT_SECONDS
  value: {{ .timeoutSeconds | quote }}
- name: SAHAB_SMTP_ATTEMPTS
  value: {{ .attempts | quote }}
{{- end }}
{{- end }}
{{- if $s.smtpPassword.name }}
{{ include "sahab.secretEnv" (list "SAHAB_SMTP_PASSWORD" $s.smtpPassword.name $s.smtpPassword.key) }}
{{- end }}
- name: SAHAB_PROVISIONER
  value: {{ .Values.provisioner | quote }}
- name: SAHAB_OIDC_ROLES_CLAIM
  value: {{ .Values.oidc.rolesClaim | quote }}
- name: SAHAB_OIDC_ORGS_CLAIM
  value: {{ .Values.oidc.orgsClaim | quote }}
- name: SAHAB_DEMO_ACCOUNTS
  value: {{ .Values.demoAccounts | quote }}
{{- if $s.database.name }}
{{ include "sahab.secretEnv" (list "SAHAB_DATABASE_URL" $s.database.name $s.database.key) }}
{{- end }}
{{- if $s.broker.name }}
{{ include "sahab.secretEnv" (list "SAHAB_BROKER_URL" $s.broker.name $s.broker.key) }}
{{- end }}
{{- if $s.brokerManagement.name }}
{{ include "sahab.secretEnv" (list "SAHAB_BROKER_MANAGEMENT_URL" $s.brokerManagement.name $s.brokerManagement.key) }}
{{- end }}
{{- if $s.pulumiBackend.name }}
{{ include "sahab.secretEnv" (list "SAHAB_PULUMI_BACKEND_URL" $s.pulumiBackend.name $s.pulumiBackend.key) }}
{{- end }}
{{- if $s.pulumiPassphrase.name }}
{{ include "sahab.secretEnv" (list "SAHAB_PULUMI_PASSPHRASE" $s.pulumiPassphrase.name $s.pulumiPassphrase.key) }}
{{- end }}
{{- if $s.credentialsKeys.name }}
{{ include "sahab.secretEnv" (list "SAHAB_CREDENTIALS_KEYS" $s.credentialsKeys.name $s.credentialsKeys.key) }}
{{- end }}
{{- if $s.oidc.name }}
{{ include "sahab.secretEnv" (list "SAHAB_OIDC_ISSUER" $s.oidc.name $s.oidc.issuerKey) }}
{{ include "sahab.secretEnv" (list "SAHAB_OIDC_AUDIENCE" $s.oidc.name $s.oidc.audienceKey) }}
{{- end }}
{{- if $s.cloudsYaml.name }}
- name: OS_CLIENT_CONFIG_FILE
  value: {{ include "sahab.cloudsDir" . }}/clouds.yaml
{{- end }}
- name: PROMETHEUS_MULTIPROC_DIR
  value: {{ include "sahab.metricsDir" . }}
# Workers and beat touch it from their loop; their liveness probe (`sahab-server alive`) reads it.
- name: SAHAB_HEARTBEAT_FILE
  value: /tmp/sahab-heartbeat
- name: PULUMI_SKIP_UPDATE_CHECK
  value: "true"
- name: PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION
  value: "true"
- name: HOME
  value: /tmp
- name: PYTHONDONTWRITEBYTECODE
  value: "1"
- name: PYTHONUNBUFFERED
  value: "1"
{{- with .Values.extraEnv }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{- define "sahab.envFrom" -}}
{{- range .Values.secrets.extraEnvFrom -}}
- secretRef:
    name: {{ . }}
{{- end }}
{{- end }}

{{/* Container block shared by every Sahab container: image, env, security, mounts. */}}
{{- define "sahab.containerCommon" -}}
image: {{ include "sahab.image" . }}
imagePullPolicy: {{ .Values.image.pullPolicy }}
env:
{{- include "sahab.env" . | nindent 2 }}
{{- with (include "sahab.envFrom" .) }}
envFrom:
{{- . | nindent 2 }}
{{- end }}
securityContext:
{{- toYaml .Values.securityContext | nindent 2 }}
volumeMounts:
  - name: tmp
    mountPath: /tmp
  - name: metrics
    mountPath: {{ include "sahab.metricsDir" . }}
  - name: data
    mountPath: {{ include "sahab.dataDir" . }}
  - name: catalogue
    mountPath: {{ include "sahab.catalogueDir" . }}
    readOnly: true
{{- if .Values.secrets.cloudsYaml.name }}
  - name: clouds
    mountPath: {{ include "sahab.cloudsDir" . }}
    readOnly: true
{{- end }}
{{- end }}

{{/* Volumes for sahab.containerCommon. Argument: (list . dataVolumeYaml catalogueOptional);
the migration Job runs before the catalogue ConfigMap exists on install (and does not read it). */}}
{{- define "sahab.volumes" -}}
{{- $ := index . 0 -}}
- name: tmp
  emptyDir: {}
- name: metrics
  emptyDir: {}
- name: data
{{- index . 1 | nindent 2 }}
- name: catalogue
  configMap:
    name: {{ include "sahab.fullname" $ }}-catalogue
{{- if index . 2 }}
    optional: true
{{- end }}
{{- if $.Values.secrets.cloudsYaml.name }}
- name: clouds
  secret:
    secretName: {{ $.Values.secrets.cloudsYaml.name }}
    items:
      - key: {{ $.Values.secrets.cloudsYaml.key }}
        path: clouds.yaml
{{- end }}
{{- end }}

{{/* Pod-level settings shared by every Sahab pod. Argument: (list . componentValues) */}}
{{- define "sahab.podCommon" -}}
{{- $ := index . 0 }}{{- $c := index . 1 -}}
automountServiceAccountToken: false
{{- with $.Values.serviceAccountName }}
serviceAccountName: {{ . }}
{{- end }}
{{- with $.Values.imagePullSecrets }}
imagePullSecrets:
{{- toYaml . | nindent 2 }}
{{- end }}
securityContext:
{{- toYaml $.Values.podSecurityContext | nindent 2 }}
{{- with $c.nodeSelector }}
nodeSelector:
{{- toYaml . | nindent 2 }}
{{- end }}
{{- with $c.tolerations }}
tolerations:
{{- toYaml . | nindent 2 }}
{{- end }}
{{- with $c.affinity }}
affinity:
{{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}

{{/* The command that clears stale multiprocess metric files (a restarted container keeps its emptyDir) and runs ARGS. */}}
{{- define "sahab.command" -}}
- /bin/sh
- -c
- rm -f "$PROMETHEUS_MULTIPROC_DIR"/*.db; exec "$0" "$@"
{{- end }}

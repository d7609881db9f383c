{{/* Release-scoped base name; suffixes (-router, -flow-0 ...) must still fit a DNS label. */}}
{{- define "fate-party.fullname" -}}
{{- default .Release.Name .Values.fullnameOverride | trunc 40 | trimSuffix "-" -}}
{{- end -}}

{{- define "fate-party.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "fate-party.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "fate-party.labels" -}}
{{ include "fate-party.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: {{ .Values.federation | quote }}
helm.sh/chart: {{ include "fate-party.chart" . }}
fate.io/party-id: {{ .Values.partyId | int64 | quote }}
fate.io/role: {{ .Values.role }}
{{- end -}}

{{- define "fate-party.image" -}}
{{- $repo := .Values.image.repository -}}
{{- if .Values.image.registry -}}
{{- $repo = printf "%s/%s" (trimSuffix "/" .Values.image.registry) .Values.image.repository -}}
{{- end -}}
{{- printf "%s:%s" $repo .Values.image.tag -}}
{{- end -}}

{{- define "fate-party.tlsSecret" -}}
{{- default (printf "%s-tls" (include "fate-party.fullname" .)) .Values.tls.existingSecret -}}
{{- end -}}

{{- define "fate-party.tokenSecret" -}}
{{- default (printf "%s-token" (include "fate-party.fullname" .)) .Values.token.existingSecret -}}
{{- end -}}

{{/* The Secret holding the flow's PostgreSQL URL; empty = SQLite on the flow's volume. */}}
{{- define "fate-party.databaseSecret" -}}
{{- (.Values.flow.database | default dict).existingSecret | default "" -}}
{{- end -}}

{{/* A Ray cluster of the party's own: compute.engine ray, no rayAddress, a flow to serve. */}}
{{- define "fate-party.rayStarts" -}}
{{- $c := .Values.compute | default dict -}}
{{- if and .Values.flow.enabled (eq ($c.engine | default "local") "ray") (not $c.rayAddress) -}}true{{- end -}}
{{- end -}}

{{- define "fate-party.rayTokenSecret" -}}
{{- default (printf "%s-ray-token" (include "fate-party.fullname" .)) ((.Values.ray | default dict).token | default dict).existingSecret -}}
{{- end -}}

{{/* The flow presents a Ray token: to its own cluster, or to rayAddress when given an existing Secret. */}}
{{- define "fate-party.flowRayToken" -}}
{{- $c := .Values.compute | default dict -}}
{{- if include "fate-party.rayStarts" . -}}true
{{- else if and (eq ($c.engine | default "local") "ray") $c.rayAddress ((.Values.ray | default dict).token | default dict).existingSecret -}}true
{{- end -}}
{{- end -}}

{{/* Where Ray reads its token, and that it must; no secret here (the token is a mounted file). */}}
{{- define "fate-party.rayEnv" -}}
- {name: RAY_AUTH_MODE, value: token}
- {name: RAY_AUTH_TOKEN_PATH, value: /run/secrets/ray_token}
- {name: RAY_USAGE_STATS_ENABLED, value: "0"}
{{- end -}}

{{- define "fate-party.computeConfig" -}}
{{- $c := .Values.compute | default dict -}}
{{- $address := $c.rayAddress | default "" -}}
{{- if include "fate-party.rayStarts" . -}}
{{- $address = printf "ray://%s-ray-head:10001" (include "fate-party.fullname" .) -}}
{{- end -}}
{{- $token := ternary "/run/secrets/ray_token" "" (eq (include "fate-party.flowRayToken" .) "true") -}}
{{- $cfg := dict "engine" ($c.engine | default "local") "workers" (int64 ($c.workers | default 2)) "cpus_per_worker" (int64 ($c.cpusPerWorker | default 1)) "address" $address "token_file" $token -}}
{{- toYaml $cfg -}}
{{- end -}}

{{- define "fate-party.tlsConfig" -}}
{{- if eq .Values.tls.mode "none" -}}
mode: none
{{- else -}}
mode: {{ .Values.tls.mode }}
ca_file: /run/secrets/ca.crt
cert_file: /run/secrets/tls.crt
key_file: /run/secrets/tls.key
{{- end -}}
{{- end -}}

{{/* router.yaml, built from values so `helm upgrade --set router.port=...` stays consistent. */}}
{{- define "fate-party.routerConfig" -}}
{{- $routes := list -}}
{{- range .Values.router.routes -}}
{{- $routes = append $routes (dict "party_id" (int64 .partyId) "host" .host "port" (int64 .port)) -}}
{{- end -}}
{{- $default := dict -}}
{{- with .Values.router.defaultRoute -}}
{{- $default = dict "party_id" (int64 .partyId) "host" .host "port" (int64 .port) -}}
{{- end -}}
{{- $cfg := dict "party_id" (int64 .Values.partyId) "role" .Values.role "routes" $routes "data_dir" "/data/router" -}}
{{- $_ := set $cfg "listen" (dict "host" "0.0.0.0" "port" (int64 .Values.router.port)) -}}
{{- $_ = set $cfg "tls" (include "fate-party.tlsConfig" . | fromYaml) -}}
{{- $_ = set $cfg "default_route" (ternary nil $default (empty $default)) -}}
{{- if .Values.metrics.enabled -}}
{{- if eq (int .Values.metrics.port) (int .Values.router.port) -}}
{{- fail "metrics.port must differ from router.port: metrics never share the peers' port" -}}
{{- end -}}
{{- $_ = set $cfg "metrics" (dict "host" "0.0.0.0" "port" (int64 .Values.metrics.port)) -}}
{{- end -}}
{{- toYaml $cfg -}}
{{- end -}}

{{- define "fate-party.flowConfig" -}}
{{- $fullname := include "fate-party.fullname" . -}}
{{- $cfg := dict "party_id" (int64 .Values.partyId) "token_file" "/run/secrets/flow_token" "reader_token_file" "/run/secrets/flow_reader_token" "data_dir" "/data/flow" -}}
{{- $_ := set $cfg "listen" (dict "host" "0.0.0.0" "port" (int64 .Values.flow.port)) -}}
{{- $_ = set $cfg "router" (dict "host" (printf "%s-router" $fullname) "port" (int64 .Values.router.port)) -}}
{{- $_ = set $cfg "tls" (include "fate-party.tlsConfig" . | fromYaml) -}}
{{- $_ = set $cfg "database_url" "" -}}
{{- if include "fate-party.databaseSecret" . -}}
{{- $_ = set $cfg "database_url_env" "FATE_DATABASE_URL" -}}
{{- end -}}
{{- $peers := list -}}
{{- range .Values.flow.peers -}}
{{- $peers = append $peers (int64 .) -}}
{{- end -}}
{{- $_ = set $cfg "peers" $peers -}}
{{- with .Values.flow.policy }}
{{- $_ = set $cfg "policy" . -}}
{{- end }}
{{- $_ = set $cfg "compute" (include "fate-party.computeConfig" . | fromYaml) -}}
{{- toYaml $cfg -}}
{{- end -}}

{{- define "fate-party.boardConfig" -}}
{{- $fullname := include "fate-party.fullname" . -}}
{{- $cfg := dict "party_id" (int64 .Values.partyId) "token_file" "/run/secrets/flow_reader_token" "password_file" "/run/secrets/board_password" -}}
{{- $_ := set $cfg "listen" (dict "host" "0.0.0.0" "port" (int64 .Values.board.port)) -}}
{{- $_ = set $cfg "flow" (dict "host" (printf "%s-flow" $fullname) "port" (int64 .Values.flow.port)) -}}
{{- toYaml $cfg -}}
{{- end -}}

{{/* Restricted Pod Security Standard, shared by every pod and container. */}}
{{- define "fate-party.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: {{ .Values.securityContext.runAsUser }}
runAsGroup: {{ .Values.securityContext.runAsGroup }}
fsGroup: {{ .Values.securityContext.fsGroup }}
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{- define "fate-party.containerSecurityContext" -}}
runAsNonRoot: true
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
capabilities:
  drop: ["ALL"]
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{- define "fate-party.scheduling" -}}
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
{{- range . }}
  - name: {{ . }}
{{- end }}
{{- end }}
{{- with .Values.nodeSelector }}
nodeSelector:
{{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.tolerations }}
tolerations:
{{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.affinity }}
affinity:
{{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{/* /run/secrets: TLS material and, for flow/board, the API token, from Secrets referenced by name. */}}
{{- define "fate-party.secretsVolume" -}}
- name: secrets
  projected:
    defaultMode: 0440
    sources:
    {{- if ne .ctx.Values.tls.mode "none" }}
      - secret:
          name: {{ include "fate-party.tlsSecret" .ctx }}
          items:
            - {key: ca.crt, path: ca.crt}
            - {key: tls.crt, path: tls.crt}
            - {key: tls.key, path: tls.key}
    {{- end }}
    {{- if .token }}
      - secret:
          name: {{ include "fate-party.tokenSecret" .ctx }}
          items:
            - {key: flow_token, path: flow_token}
            - {key: flow_reader_token, path: flow_reader_token}
    {{- end }}
    {{- if .ray }}
      - secret:
          name: {{ include "fate-party.rayTokenSecret" .ctx }}
          items:
            - {key: auth_token, path: ray_token}
    {{- end }}
{{- end -}}

{{/* The engine's arguments after its config: the log format (fate.logs). */}}
{{- define "fate-party.logArgs" -}}
"--log-format", {{ .Values.logging.format | default "text" | quote }}
{{- end -}}

{{- define "fate-party.checkProbe" -}}
exec:
  command: ["python", "-m", "fate", "check", {{ .process | quote }}, "--config", {{ printf "/etc/fate/%s.yaml" .process | quote }}]
periodSeconds: {{ .period }}
timeoutSeconds: 10
failureThreshold: 3
{{- end -}}

{{/* The release's base name: the release name, with "-kelp" unless it says kelp. */}}
{{- define "kelp.fullname" -}}
{{- if contains "kelp" .Release.Name -}}
{{- .Release.Name | trunc 50 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-kelp" .Release.Name | trunc 50 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{/* Labels every object carries; "component" is agent or server. */}}
{{- define "kelp.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
{{- end -}}

{{/* Selector labels of a component: call with (list $ "agent"). */}}
{{- define "kelp.selector" -}}
{{- $ := index . 0 -}}
app.kubernetes.io/name: kelp
app.kubernetes.io/instance: {{ $.Release.Name }}
app.kubernetes.io/component: {{ index . 1 }}
{{- end -}}

{{- define "kelp.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}

{{/* The directories of agent.config.control_plane.files (when enabled), each once, as a
YAML list: what the agent DaemonSet mounts read-only from the node at the same path. */}}
{{- define "kelp.controlPlaneDirs" -}}
{{- $dirs := list -}}
{{- if .Values.agent.config.control_plane.enabled -}}
{{- range .Values.agent.config.control_plane.files -}}
{{- $dirs = append $dirs (dir .) -}}
{{- end -}}
{{- end -}}
{{- toYaml (uniq $dirs) -}}
{{- end -}}

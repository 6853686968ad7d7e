{{/*
The chart's name (nameOverride or "kubedx").
*/}}
{{- define "kubedx.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The full name of the release's objects: fullnameOverride, else RELEASE-NAME, or
RELEASE when it already contains the name. Truncated to 63 characters (DNS labels).
*/}}
{{- define "kubedx.fullname" -}}
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

{{/*
chart: NAME-VERSION, for the helm.sh/chart label.
*/}}
{{- define "kubedx.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The standard labels of every object.
*/}}
{{- define "kubedx.labels" -}}
helm.sh/chart: {{ include "kubedx.chart" . }}
{{ include "kubedx.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: kubedx
{{- end }}

{{/*
Selector labels (immutable in a Deployment: never add to them).
*/}}
{{- define "kubedx.selectorLabels" -}}
app.kubernetes.io/name: {{ include "kubedx.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: controller
{{- end }}

{{/*
The ServiceAccount's name.
*/}}
{{- define "kubedx.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "kubedx.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
The image reference: repository:tag, or repository:tag@digest when a digest is set.
*/}}
{{- define "kubedx.image" -}}
{{- $tag := default .Chart.AppVersion .Values.image.tag }}
{{- if .Values.image.digest }}
{{- printf "%s:%s@%s" .Values.image.repository $tag .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository $tag }}
{{- end }}
{{- end }}

{{/*
Whether leader election is on: more than one replica, or forced.
*/}}
{{- define "kubedx.leaderElection" -}}
{{- if or (gt (int .Values.replicas) 1) .Values.leaderElection.enabled }}true{{ end }}
{{- end }}

{{/*
The watched namespaces, comma separated (--watch-namespaces): watchNamespaces, and
with scope namespace the release namespace too. Empty: the whole cluster.
*/}}
{{- define "kubedx.watchNamespaces" -}}
{{- $namespaces := .Values.watchNamespaces }}
{{- if eq .Values.scope "namespace" }}
{{- $namespaces = append $namespaces .Release.Namespace }}
{{- end }}
{{- $namespaces | uniq | sortAlpha | join "," }}
{{- end }}

{{/*
Refuses value combinations that would install a controller that cannot work.
*/}}
{{- define "kubedx.checkScope" -}}
{{- if and (eq .Values.rbac.secrets "namespaces") (empty .Values.rbac.secretNamespaces) }}
{{- fail "rbac.secrets=namespaces needs rbac.secretNamespaces (the namespaces whose Secrets kubedx may list)" }}
{{- end }}
{{- if and (ne .Values.rbac.secrets "namespaces") (not (empty .Values.rbac.secretNamespaces)) }}
{{- fail "rbac.secretNamespaces is only used with rbac.secrets=namespaces" }}
{{- end }}
{{- if eq .Values.scope "namespace" }}
{{- $watched := splitList "," (include "kubedx.watchNamespaces" .) }}
{{- range .Values.rbac.secretNamespaces }}
{{- if not (has . $watched) }}
{{- fail (printf "rbac.secretNamespaces names %s, which is not watched (watchNamespaces)" .) }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}

{{/*
The read rules of the namespaced kinds the object graph reads (the ClusterRole's,
less the cluster-scoped kinds): the Roles of `scope: namespace`.
*/}}
{{- define "kubedx.namespacedReadRules" -}}
- apiGroups: [""]
  resources:
    - pods
    - services
    - configmaps
    - serviceaccounts
    - persistentvolumeclaims
    - resourcequotas
    - limitranges
    - events
  verbs: [get, list, watch]
- apiGroups: [apps]
  resources: [deployments, replicasets, statefulsets, daemonsets, controllerrevisions]
  verbs: [get, list, watch]
- apiGroups: [batch]
  resources: [jobs, cronjobs]
  verbs: [get, list, watch]
- apiGroups: [discovery.k8s.io]
  resources: [endpointslices]
  verbs: [get, list, watch]
- apiGroups: [networking.k8s.io]
  resources: [ingresses, networkpolicies]
  verbs: [get, list, watch]
- apiGroups: [autoscaling]
  resources: [horizontalpodautoscalers]
  verbs: [get, list, watch]
- apiGroups: [policy]
  resources: [poddisruptionbudgets]
  verbs: [get, list, watch]
- apiGroups: [gateway.networking.k8s.io]
  resources: [gateways, httproutes]
  verbs: [get, list, watch]
- apiGroups: [kubedx.io]
  resources: [diagnoses]
  verbs: [get, list, watch]
- apiGroups: [kubedx.io]
  resources: [diagnoses/status]
  verbs: [get, patch]
- apiGroups: [events.k8s.io]
  resources: [events]
  verbs: [create, patch]
{{- end }}

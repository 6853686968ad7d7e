#!/usr/bin/env python3
"""Generates cmd/testcluster/kwok.yaml: kwok's configuration and Stages for the
kubedx test plane. Edit this file, then run it (from anywhere):

    python3 tests/cluster/gen-kwok-yaml.py && (cd tests/cluster && go test ./cmd/testcluster)

kwok's own Node and healthy-Pod stages are copied from the kwok module pinned in
go.mod (its kustomize/stage/ directory in the module cache); kubedx's fault
stages are written below. Go templates cannot share definitions across Stages,
so every fault template repeats the same prelude: hence a generator.
"""
import os
import subprocess
import textwrap

HERE = os.path.dirname(os.path.abspath(__file__))
KWOK_DIR = subprocess.check_output(
    ["go", "list", "-m", "-f", "{{.Dir}}", "sigs.k8s.io/kwok"], cwd=HERE, text=True).strip()
if not KWOK_DIR:
    subprocess.check_call(["go", "mod", "download", "sigs.k8s.io/kwok"], cwd=HERE)
    KWOK_DIR = subprocess.check_output(
        ["go", "list", "-m", "-f", "{{.Dir}}", "sigs.k8s.io/kwok"], cwd=HERE, text=True).strip()
K = os.path.join(KWOK_DIR, "kustomize", "stage")
IMG_MODES = ["image-not-found", "image-unauthorized", "image-timeout"]
CRASH_MODES = ["crash-exit-1", "crash-oom", "crash-exit-0", "crash-exit-127"]
CFG_MODES = ["missing-configmap", "missing-secret"]
ALL = IMG_MODES + CRASH_MODES + CFG_MODES + ["readiness-fail"]

# jq: the effective simulate mode of a Pod: the annotation, else the first
# container image under kubedx.test/fault/<mode>.
MODE_KEY = ('(.metadata.annotations["kubedx.io/simulate"] // ([.spec.containers[].image'
            ' | select(startswith("kubedx.test/fault/")) | ltrimstr("kubedx.test/fault/")'
            ' | split(":") | .[0] | split("/") | .[0] | split("@") | .[0]] | first) // "")')

def ind(s, n):
    return textwrap.indent(s, " " * n)

# Go template prelude shared by every fault template: $mode, $c (the faulty
# container), $others (the other containers), $node, $podRef, $now and image refs.
PRELUDE = r'''{{- $now := Now }}
{{- $root := . }}
{{- $ann := .metadata.annotations | default dict }}
{{- $mode := index $ann "kubedx.io/simulate" | default "" }}
{{- $targetName := index $ann "kubedx.io/simulate-container" | default "" }}
{{- range .spec.containers }}{{ if hasPrefix "kubedx.test/fault/" .image }}{{ if not $mode }}{{ $mode = trimPrefix "kubedx.test/fault/" .image | splitList ":" | first | splitList "/" | first | splitList "@" | first }}{{ end }}{{ if not $targetName }}{{ $targetName = .name }}{{ end }}{{ end }}{{ end }}
{{- if not $targetName }}{{ $targetName = (index .spec.containers 0).name }}{{ end }}
{{- $c := index .spec.containers 0 }}
{{- range .spec.containers }}{{ if eq .name $targetName }}{{ $c = . }}{{ end }}{{ end }}
{{- $node := .spec.nodeName }}
{{- $pod := printf "%s_%s(%s)" .metadata.name .metadata.namespace .metadata.uid }}
{{- $img := $c.image }}
{{- $parts := splitList "/" $img }}
{{- $first := first $parts }}
{{- $ref := $img }}
{{- if not (and (gt (len $parts) 1) (or (contains "." $first) (contains ":" $first) (eq $first "localhost"))) }}{{ if gt (len $parts) 1 }}{{ $ref = print "docker.io/" $img }}{{ else }}{{ $ref = print "docker.io/library/" $img }}{{ end }}{{ end }}
{{- if not (or (contains "@" $ref) (contains ":" (last (splitList "/" $ref)))) }}{{ $ref = print $ref ":latest" }}{{ end }}
{{- $host := first (splitList "/" $ref) }}
{{- $repo := join "/" (rest (splitList "/" $ref)) | splitList "@" | first | splitList ":" | first }}
{{- $tag := last (splitList ":" (last (splitList "/" $ref))) }}
{{- $registry := $host }}{{ if eq $host "docker.io" }}{{ $registry = "registry-1.docker.io" }}{{ end }}
{{- $cid := print "containerd://" (sha256sum (print .metadata.uid $c.name "1")) }}
{{- $override := index $ann "kubedx.io/simulate-message" | default "" }}
'''

def pull_error():
    return r'''{{- $err := "" }}
{{- if eq $mode "image-not-found" }}{{ $err = printf "rpc error: code = NotFound desc = failed to pull and unpack image %q: failed to resolve reference %q: %s: not found" $ref $ref $ref }}
{{- else if eq $mode "image-unauthorized" }}{{ if eq $host "docker.io" }}{{ $err = printf "failed to pull and unpack image %q: failed to resolve reference %q: pull access denied, repository does not exist or may require authorization: server message: insufficient_scope: authorization failed" $ref $ref }}{{ else }}{{ $err = printf "failed to pull and unpack image %q: failed to resolve reference %q: pulling from host %s failed with status code [manifests %s]: 401 Unauthorized" $ref $ref $host $tag }}{{ end }}
{{- else }}{{ $err = printf "failed to pull and unpack image %q: failed to resolve reference %q: failed to do request: Head %q: dial tcp 10.0.0.1:443: i/o timeout" $ref $ref (printf "%s://%s/v2/%s/manifests/%s" (ternary "http" "https" (or (eq $host "localhost") (hasPrefix "localhost:" $host) (hasPrefix "127." $host))) $registry $repo $tag) }}{{ end }}
{{- if $override }}{{ $err = $override }}{{ end }}
'''

def event(reason, etype, msg_expr, key, count="1", first="$now", extra=""):
    """A kubelet-sourced core/v1 Event about the faulty container, created by kwok."""
    return PRELUDE + extra + r'''{{- $msg := ''' + msg_expr + r''' }}
apiVersion: v1
kind: Event
metadata:
  name: {{ printf "%s.%s" .metadata.name (sha1sum (print .metadata.uid "''' + key + r'''" $c.name) | trunc 16) | Quote }}
  namespace: {{ .metadata.namespace | Quote }}
involvedObject:
  apiVersion: v1
  kind: Pod
  name: {{ .metadata.name | Quote }}
  namespace: {{ .metadata.namespace | Quote }}
  uid: {{ .metadata.uid | Quote }}
  fieldPath: {{ printf "spec.containers{%s}" $c.name | Quote }}
reason: ''' + reason + r'''
message: {{ $msg | Quote }}
type: ''' + etype + r'''
source:
  component: kubelet
  host: {{ $node | Quote }}
reportingComponent: kubelet
reportingInstance: {{ $node | Quote }}
firstTimestamp: {{ ''' + first + r''' | Quote }}
lastTimestamp: {{ $now | Quote }}
count: ''' + count + r'''
'''

def cond(ready_ok, phase_running=True):
    if ready_ok:
        r = '''- type: Ready
  status: "True"
  lastProbeTime: null
  lastTransitionTime: {{ $now | Quote }}
- type: ContainersReady
  status: "True"
  lastProbeTime: null
  lastTransitionTime: {{ $now | Quote }}
'''
    else:
        r = '''- type: Ready
  status: "False"
  reason: ContainersNotReady
  message: {{ printf "containers with unready status: [%s]" $c.name | Quote }}
  lastProbeTime: null
  lastTransitionTime: {{ $now | Quote }}
- type: ContainersReady
  status: "False"
  reason: ContainersNotReady
  message: {{ printf "containers with unready status: [%s]" $c.name | Quote }}
  lastProbeTime: null
  lastTransitionTime: {{ $now | Quote }}
'''
    return '''conditions:
- type: PodReadyToStartContainers
  status: "True"
  lastProbeTime: null
  lastTransitionTime: {{ $now | Quote }}
- type: Initialized
  status: "True"
  lastProbeTime: null
  lastTransitionTime: {{ $now | Quote }}
''' + r

def statuses(target_status):
    """containerStatuses: the faulty container gets target_status, the others run."""
    return '''containerStatuses:
{{- range $i, $item := $root.spec.containers }}
{{- if eq $item.name $c.name }}
- name: {{ $item.name | Quote }}
  image: {{ $item.image | Quote }}
''' + ind(target_status, 2) + '''{{- else }}
- name: {{ $item.name | Quote }}
  image: {{ $item.image | Quote }}
  imageID: ""
  containerID: {{ print "containerd://" (sha256sum (print $root.metadata.uid $item.name)) | Quote }}
  ready: true
  started: true
  restartCount: 0
  state:
    running:
      startedAt: {{ $now | Quote }}
{{- end }}
{{- end }}
'''

IPS = '''hostIP: {{ NodeIPWith .spec.nodeName | Quote }}
hostIPs:
- ip: {{ NodeIPWith .spec.nodeName | Quote }}
podIP: {{ PodIPWith .spec.nodeName ( or .spec.hostNetwork false ) ( or .metadata.uid "" ) ( or .metadata.name "" ) ( or .metadata.namespace "" ) | Quote }}
'''

def stage(name, exprs, steps, delay_ms=200, jitter_ms=800, comment=""):
    sel = "\n".join(exprs)
    out = f"""{comment}apiVersion: kwok.x-k8s.io/v1alpha1
kind: Stage
metadata:
  name: {name}
spec:
  resourceRef:
    apiGroup: v1
    kind: Pod
  selector:
    matchExpressions:
{ind(sel, 4)}
  delay:
    durationMilliseconds: {delay_ms}
    jitterDurationMilliseconds: {jitter_ms}
  steps:
"""
    for kind, tpl in steps:
        if kind == "status":
            out += "  - patch:\n      subresource: status\n      root: status\n      template: |\n" + ind(tpl, 8)
        else:
            out += "  - apply:\n      template: |\n" + ind(tpl, 8)
    return out

NOTDEL = "- key: '.metadata.deletionTimestamp'\n  operator: DoesNotExist"
NOIP = "- key: '.status.podIP'\n  operator: DoesNotExist"
def mode_in(modes):
    return "- key: '" + MODE_KEY + "'\n  operator: In\n  values: [" + ", ".join(f"'{m}'" for m in modes) + "]"
def mode_notin():
    return "- key: '" + MODE_KEY + "'\n  operator: NotIn\n  values: [" + ", ".join(f"'{m}'" for m in ALL) + "]"

docs = []

# ---- kwok configuration
docs.append("""# GENERATED by tests/cluster/gen-kwok-yaml.py: edit that and re-run it.
#
# kwok configuration of the kubedx test plane: kwok plays the kubelet of every
# Node annotated kwok.x-k8s.io/node=fake. The Stages below drive Node and Pod
# status: kwok's own defaults for healthy Pods, plus kubedx's fault stages that
# reproduce what a real kubelet (containerd) reports for common failures,
# selected per Pod by the annotation kubedx.io/simulate: <mode> (or an image
# under kubedx.test/fault/<mode>). See tests/cluster/README.md.
apiVersion: config.kwok.x-k8s.io/v1alpha1
kind: KwokConfiguration
options:
  cidr: 10.244.0.0/16
  nodeLeaseDurationSeconds: 40
  nodeLeaseParallelism: 4
  podPlayStageParallelism: 8
  nodePlayStageParallelism: 4""")

# ---- Node stages: kwok's own
docs.append(open(f"{K}/node/fast/node-initialize.yaml").read().strip())
docs.append(open(f"{K}/node/heartbeat-with-lease/node-heartbeat-with-lease.yaml").read().strip())

# ---- healthy Pods: kwok's general pod stages, limited to Pods without a fault mode
import re
for f in ["pod-create", "pod-init-container-running", "pod-init-container-completed", "pod-ready", "pod-complete"]:
    y = open(f"{K}/pod/general/{f}.yaml").read().strip()
    y = y.replace("    matchExpressions:\n", "    matchExpressions:\n" + ind(mode_notin(), 4) + "\n", 1)
    # faster than kwok's "general" timings: tests wait for these
    y = y.replace("durationMilliseconds: 1000", "durationMilliseconds: 200").replace("jitterDurationMilliseconds: 5000", "jitterDurationMilliseconds: 1000")
    # kwok's recorder would label this event kwok_controller, not kubelet: drop it
    y = re.sub(r"    event:\n      type: Normal\n      reason: Created\n      message: Created container\n", "", y)
    docs.append(f"# kwok {f} (healthy Pods)\n" + y)
y = open(f"{K}/pod/general/pod-delete.yaml").read().strip()
y = y.replace("durationMilliseconds: 1000", "durationMilliseconds: 200")
docs.append("# kwok pod-delete (all Pods)\n" + y)

W = lambda reason, msg: f'''waiting:
  reason: {reason}
  message: {{{{ {msg} | Quote }}}}
'''

# ---- image pull failures
docs.append(stage("kubedx-image-pull-error",
    [NOTDEL, mode_in(IMG_MODES), NOIP],
    [("status", PRELUDE + pull_error() + "phase: Pending\n" + IPS + cond(False) + statuses(
        'imageID: ""\nready: false\nstarted: false\nrestartCount: 0\nstate:\n' + ind(W("ErrImagePull", "$err"), 2))),
     ("event", event("Pulling", "Normal", 'printf "Pulling image %q" $img', "pulling")),
     ("event", event("Failed", "Warning", '""}}' + pull_error() + '{{ $msg = printf "Failed to pull image %q: %s" $img $err', "failed-pull")),
     ("event", event("Failed", "Warning", '"Error: ErrImagePull"', "failed-errimagepull")),
    ],
    comment="# image-not-found | image-unauthorized | image-timeout: the pull fails (ErrImagePull) ...\n"))
docs.append(stage("kubedx-image-pull-backoff",
    [NOTDEL, mode_in(IMG_MODES), "- key: '.status.containerStatuses.[].state.waiting.reason'\n  operator: In\n  values: ['ErrImagePull']"],
    [("status", PRELUDE + pull_error() + statuses(
        'imageID: ""\nready: false\nstarted: false\nrestartCount: 0\nstate:\n' + ind(W("ImagePullBackOff", 'printf "Back-off pulling image %q: ErrImagePull: %s" $img $err'), 2))),
     ("event", event("BackOff", "Normal", 'printf "Back-off pulling image %q" $img', "backoff-pull")),
     ("event", event("Failed", "Warning", '"Error: ImagePullBackOff"', "failed-imagepullbackoff")),
    ], delay_ms=1000, jitter_ms=1500,
    comment="# ... then the kubelet backs off (ImagePullBackOff) and stays there.\n"))

# ---- crash loops
CRASH_VARS = r'''{{- $exit := 1 }}{{ $reason := "Error" }}
{{- if eq $mode "crash-oom" }}{{ $exit = 137 }}{{ $reason = "OOMKilled" }}{{ end }}
{{- if eq $mode "crash-exit-0" }}{{ $exit = 0 }}{{ $reason = "Completed" }}{{ end }}
{{- $exe := index $ann "kubedx.io/simulate-ref" | default "" }}{{ if not $exe }}{{ with $c.command }}{{ $exe = first . }}{{ end }}{{ end }}{{ if not $exe }}{{ $exe = "xyz" }}{{ end }}
{{- $startErr := printf "failed to create containerd task: failed to create shim task: OCI runtime create failed: runc create failed: unable to start container process: exec: %q: executable file not found in $PATH: unknown" $exe }}
{{- if eq $mode "crash-exit-127" }}{{ $exit = 128 }}{{ $reason = "StartError" }}{{ end }}
'''
def crash_status(restarts_expr):
    return r'''{{- $restarts := ''' + restarts_expr + r''' }}
{{- $backoff := 10 }}{{ range until (int (sub $restarts 1)) }}{{ $backoff = mul $backoff 2 }}{{ end }}{{ if gt $backoff 300 }}{{ $backoff = 300 }}{{ end }}
{{- $backoffStr := printf "%ds" $backoff }}{{ if ge $backoff 60 }}{{ $backoffStr = printf "%dm%ds" (div $backoff 60) (mod $backoff 60) }}{{ end }}
''' + "phase: Running\n" + statuses(r'''imageID: {{ printf "%s@sha256:%s" (splitList ":" $ref | first) (sha256sum $ref) | Quote }}
containerID: {{ print "containerd://" (sha256sum (print $root.metadata.uid $c.name $restarts)) | Quote }}
ready: false
started: false
restartCount: {{ $restarts }}
lastState:
  terminated:
    exitCode: {{ $exit }}
    reason: {{ $reason }}
{{- if eq $reason "StartError" }}
    message: {{ $startErr | Quote }}
    startedAt: "1970-01-01T00:00:00Z"
{{- else }}
    startedAt: {{ (dateModify "-2s" now) | date "2006-01-02T15:04:05Z07:00" | Quote }}
{{- end }}
    finishedAt: {{ $now | Quote }}
    containerID: {{ print "containerd://" (sha256sum (print $root.metadata.uid $c.name (sub $restarts 1))) | Quote }}
state:
  waiting:
    reason: CrashLoopBackOff
    message: {{ printf "back-off %s restarting failed container=%s pod=%s" $backoffStr $c.name $pod | Quote }}
''')

docs.append(stage("kubedx-crash-start",
    [NOTDEL, mode_in(CRASH_MODES), NOIP],
    [("status", PRELUDE + CRASH_VARS + crash_status("1") + IPS + "startTime: {{ $now | Quote }}\n" + cond(False)),
     ("event", event("Pulled", "Normal", 'printf "Container image %q already present on machine and can be accessed by the pod" $img', "pulled")),
     ("event", event("Created", "Normal", '"Container created"', "created")),
     # a container that cannot start (StartError) gets "Failed" instead of "Started"
     ("event", event('{{ if eq $reason "StartError" }}Failed{{ else }}Started{{ end }}',
                     '{{ if eq $reason "StartError" }}Warning{{ else }}Normal{{ end }}',
                     'ternary (printf "Error: %s" $startErr) "Container started" (eq $reason "StartError")',
                     "started", extra=CRASH_VARS)),
     ("event", event("BackOff", "Warning", 'printf "Back-off restarting failed container %s in pod %s" $c.name $pod', "backoff-restart")),
    ],
    comment="# crash-exit-1 | crash-oom | crash-exit-0 | crash-exit-127: the container starts and dies\n# (or cannot start: StartError), the kubelet restarts it with growing back-off ...\n"))
docs.append(stage("kubedx-crash-loop",
    [NOTDEL, mode_in(CRASH_MODES), "- key: '[.status.containerStatuses[]? | select(.state.waiting.reason == \"CrashLoopBackOff\" and .restartCount < 5)] | length > 0'\n  operator: In\n  values: ['true']"],
    [("status", PRELUDE + CRASH_VARS + r'''{{- $prev := 0 }}{{ range $root.status.containerStatuses }}{{ if eq .name $c.name }}{{ $prev = .restartCount }}{{ end }}{{ end }}
''' + crash_status("add (int $prev) 1")),
     ("event", event("BackOff", "Warning", 'printf "Back-off restarting failed container %s in pod %s" $c.name $pod', "backoff-restart",
         count='{{ $n := 1 }}{{ range $root.status.containerStatuses }}{{ if eq .name $c.name }}{{ $n = add (int .restartCount) 1 }}{{ end }}{{ end }}{{ $n }}',
         first='$root.status.startTime | default $now')),
    ], delay_ms=8000, jitter_ms=12000,
    comment="# ... every ~10s, up to restartCount 5 (kept short; a real back-off doubles up to 5m).\n"))

# ---- missing ConfigMap / Secret referenced from env
CFG = r'''{{- $kind := "configmap" }}{{ if eq $mode "missing-secret" }}{{ $kind = "secret" }}{{ end }}
{{- $ref := index $ann "kubedx.io/simulate-ref" | default "" }}
{{- if not $ref }}{{ range $c.envFrom }}{{ if and (not $ref) (eq $kind "configmap") .configMapRef }}{{ $ref = .configMapRef.name }}{{ end }}{{ if and (not $ref) (eq $kind "secret") .secretRef }}{{ $ref = .secretRef.name }}{{ end }}{{ end }}{{ end }}
{{- if not $ref }}{{ range $c.env }}{{ with .valueFrom }}{{ if and (not $ref) (eq $kind "configmap") .configMapKeyRef }}{{ $ref = .configMapKeyRef.name }}{{ end }}{{ if and (not $ref) (eq $kind "secret") .secretKeyRef }}{{ $ref = .secretKeyRef.name }}{{ end }}{{ end }}{{ end }}{{ end }}
{{- if not $ref }}{{ $ref = "missing" }}{{ end }}
{{- $err := printf "%s %q not found" $kind $ref }}
'''
docs.append(stage("kubedx-create-container-config-error",
    [NOTDEL, mode_in(CFG_MODES), NOIP],
    [("status", PRELUDE + CFG + "phase: Pending\n" + IPS + cond(False) + statuses(
        'imageID: ""\nready: false\nstarted: false\nrestartCount: 0\nstate:\n' + ind(W("CreateContainerConfigError", "$err"), 2))),
     ("event", event("Pulled", "Normal", 'printf "Container image %q already present on machine and can be accessed by the pod" $img', "pulled")),
     ("event", event("Failed", "Warning", '""}}' + CFG + '{{ $msg = printf "Error: %s" $err', "failed-config")),
    ],
    comment="# missing-configmap | missing-secret: the container cannot be created (CreateContainerConfigError).\n"))

# ---- readiness probe failing
docs.append(stage("kubedx-readiness-fail",
    [NOTDEL, mode_in(["readiness-fail"]), NOIP],
    [("status", PRELUDE + "phase: Running\n" + IPS + "startTime: {{ $now | Quote }}\n" + cond(False) + statuses(
        r'''imageID: {{ printf "%s@sha256:%s" (splitList ":" $ref | first) (sha256sum $ref) | Quote }}
containerID: {{ $cid | Quote }}
ready: false
started: true
restartCount: 0
state:
  running:
    startedAt: {{ $now | Quote }}
''')),
     ("event", event("Pulled", "Normal", 'printf "Container image %q already present on machine and can be accessed by the pod" $img', "pulled")),
     ("event", event("Created", "Normal", '"Container created"', "created")),
     ("event", event("Started", "Normal", '"Container started"', "started")),
     ("event", event("Unhealthy", "Warning", '$override | default "Readiness probe failed: HTTP probe failed with statuscode: 503"', "unhealthy-readiness")),
    ],
    comment="# readiness-fail: running, never ready; the readiness probe fails.\n"))

open(os.path.join(HERE, "cmd", "testcluster", "kwok.yaml"), "w").write("\n---\n".join(docs) + "\n")

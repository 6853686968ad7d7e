package main

// These tests drive kwok.yaml through kwok's own stage machinery (config
// loader, jq selectors, Go templates with kwok's functions) against sample
// Pods, applying each status patch the way the apiserver would (strategic
// merge), so a broken template fails here and not halfway through `up`.

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/strategicpatch"

	"sigs.k8s.io/kwok/pkg/apis/internalversion"
	"sigs.k8s.io/kwok/pkg/config"
	"sigs.k8s.io/kwok/pkg/utils/gotpl"
	"sigs.k8s.io/kwok/pkg/utils/lifecycle"
)

type played struct {
	pod    *corev1.Pod
	stages []string
	events []corev1.Event
}

func podLifecycle(t *testing.T) lifecycle.Lifecycle {
	t.Helper()
	objs, err := config.Load(context.Background(), "kwok.yaml")
	if err != nil {
		t.Fatalf("load kwok.yaml: %v", err)
	}
	var pods []*internalversion.Stage
	nodes := 0
	for _, s := range config.FilterWithType[*internalversion.Stage](objs) {
		switch s.Spec.ResourceRef.Kind {
		case "Pod":
			pods = append(pods, s)
		case "Node":
			nodes++
		}
	}
	if nodes != 2 {
		t.Fatalf("want 2 Node stages, got %d", nodes)
	}
	if len(config.FilterWithType[*internalversion.KwokConfiguration](objs)) != 1 {
		t.Fatalf("want one KwokConfiguration")
	}
	lc, err := lifecycle.NewLifecycle(pods)
	if err != nil {
		t.Fatalf("lifecycle: %v", err)
	}
	return lc
}

var renderer = gotpl.NewRenderer(gotpl.FuncMap{
	"NodeIPWith": func(string) string { return "127.0.10.3" },
	"PodIPWith": func(string, bool, string, string, string) (string, error) {
		return "10.244.1.5", nil
	},
})

// play runs matching stages until none matches (or max rounds), like kwok does on each watch event.
func play(t *testing.T, lc lifecycle.Lifecycle, pod *corev1.Pod, rounds int) played {
	t.Helper()
	out := played{pod: pod}
	events := map[string]int{}
	for range rounds {
		stage, err := lc.Match(context.Background(), &lifecycle.Event{
			Labels: pod.Labels, Annotations: pod.Annotations, Data: pod,
		})
		if err != nil {
			t.Fatalf("match: %v", err)
		}
		if stage == nil {
			break
		}
		out.stages = append(out.stages, stage.Name())
		var next = pod
		_, err = stage.DoSteps(0, pod.Finalizers, pod, renderer,
			func(e *internalversion.StageEvent) error {
				t.Errorf("stage %s sends an event through kwok's recorder (source kwok_controller): %+v", stage.Name(), e)
				return nil
			},
			func() error { return nil },
			func(p *lifecycle.Patch) error {
				if p.Type != types.StrategicMergePatchType || p.Subresource != "status" {
					t.Fatalf("stage %s: unexpected patch %s/%s", stage.Name(), p.Type, p.Subresource)
				}
				orig, _ := json.Marshal(next)
				merged, err := strategicpatch.StrategicMergePatch(orig, p.Data, corev1.Pod{})
				if err != nil {
					t.Fatalf("stage %s: patch: %v\n%s", stage.Name(), err, p.Data)
				}
				np := &corev1.Pod{}
				dec := json.NewDecoder(strings.NewReader(string(merged)))
				dec.DisallowUnknownFields()
				if err := dec.Decode(np); err != nil {
					t.Fatalf("stage %s: patched pod does not decode: %v\n%s", stage.Name(), err, p.Data)
				}
				next = np
				return nil
			},
			func(a *lifecycle.Apply) error {
				var ev corev1.Event
				dec := json.NewDecoder(strings.NewReader(string(a.Data)))
				dec.DisallowUnknownFields()
				if err := dec.Decode(&ev); err != nil {
					t.Fatalf("stage %s: applied object is not an Event: %v\n%s", stage.Name(), err, a.Data)
				}
				if ev.Kind != "Event" || ev.APIVersion != "v1" {
					t.Fatalf("stage %s: applies %s %s", stage.Name(), ev.APIVersion, ev.Kind)
				}
				if i, ok := events[ev.Name]; ok {
					out.events[i] = ev
				} else {
					events[ev.Name] = len(out.events)
					out.events = append(out.events, ev)
				}
				return nil
			},
		)
		if err != nil {
			t.Fatalf("stage %s: %v", stage.Name(), err)
		}
		pod = next
		out.pod = pod
	}
	return out
}

func samplePod(annotations map[string]string, containers ...corev1.Container) *corev1.Pod {
	if len(containers) == 0 {
		containers = []corev1.Container{{Name: "app", Image: "nginx:doesnotexist"}}
	}
	return &corev1.Pod{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: metav1.ObjectMeta{Name: "web-7d4f9-abcde", Namespace: "shop", UID: "1b2c3d4e-0000-4000-8000-000000000001", Annotations: annotations},
		Spec:       corev1.PodSpec{NodeName: "kubedx-worker-1", Containers: containers},
		Status: corev1.PodStatus{Phase: corev1.PodPending, Conditions: []corev1.PodCondition{
			{Type: corev1.PodScheduled, Status: corev1.ConditionTrue},
		}},
	}
}

func status(t *testing.T, p *corev1.Pod, name string) corev1.ContainerStatus {
	t.Helper()
	for _, s := range p.Status.ContainerStatuses {
		if s.Name == name {
			return s
		}
	}
	t.Fatalf("no status for container %s: %+v", name, p.Status.ContainerStatuses)
	return corev1.ContainerStatus{}
}

func findEvent(t *testing.T, evs []corev1.Event, reason, message string) corev1.Event {
	t.Helper()
	for _, e := range evs {
		if e.Reason == reason && e.Message == message {
			if e.Source.Component != "kubelet" || e.Source.Host != "kubedx-worker-1" || e.ReportingController != "kubelet" ||
				e.InvolvedObject.Kind != "Pod" || e.InvolvedObject.Name != "web-7d4f9-abcde" || e.Namespace != "shop" || e.Count < 1 {
				t.Errorf("event %s %q is not kubelet-like: %+v", reason, message, e)
			}
			return e
		}
	}
	var have []string
	for _, e := range evs {
		have = append(have, e.Type+" "+e.Reason+" "+e.Message)
	}
	t.Fatalf("no event %s %q; have:\n  %s", reason, message, strings.Join(have, "\n  "))
	return corev1.Event{}
}

func condition(p *corev1.Pod, c corev1.PodConditionType) corev1.ConditionStatus {
	for _, x := range p.Status.Conditions {
		if x.Type == c {
			return x.Status
		}
	}
	return ""
}

func TestHealthyPod(t *testing.T) {
	lc := podLifecycle(t)
	r := play(t, lc, samplePod(nil, corev1.Container{Name: "app", Image: "nginx:1.27"}), 6)
	if r.pod.Status.Phase != corev1.PodRunning || condition(r.pod, corev1.PodReady) != corev1.ConditionTrue || r.pod.Status.PodIP == "" {
		t.Fatalf("healthy pod not running+ready: stages %v status %+v", r.stages, r.pod.Status)
	}
}

func TestImageNotFound(t *testing.T) {
	lc := podLifecycle(t)
	r := play(t, lc, samplePod(map[string]string{"kubedx.io/simulate": "image-not-found"}), 6)
	s := status(t, r.pod, "app")
	err := `rpc error: code = NotFound desc = failed to pull and unpack image "docker.io/library/nginx:doesnotexist": failed to resolve reference "docker.io/library/nginx:doesnotexist": docker.io/library/nginx:doesnotexist: not found`
	if s.State.Waiting == nil || s.State.Waiting.Reason != "ImagePullBackOff" || s.State.Waiting.Message != `Back-off pulling image "nginx:doesnotexist": ErrImagePull: `+err {
		t.Fatalf("stages %v: state %+v", r.stages, s.State)
	}
	findEvent(t, r.events, "Pulling", `Pulling image "nginx:doesnotexist"`)
	findEvent(t, r.events, "Failed", `Failed to pull image "nginx:doesnotexist": `+err)
	findEvent(t, r.events, "Failed", "Error: ErrImagePull")
	findEvent(t, r.events, "BackOff", `Back-off pulling image "nginx:doesnotexist"`)
	findEvent(t, r.events, "Failed", "Error: ImagePullBackOff")
	if r.pod.Status.Phase != corev1.PodPending || condition(r.pod, corev1.PodReady) != corev1.ConditionFalse {
		t.Fatalf("phase %s", r.pod.Status.Phase)
	}
}

func TestImageModesByImageName(t *testing.T) {
	lc := podLifecycle(t)
	r := play(t, lc, samplePod(nil,
		corev1.Container{Name: "sidecar", Image: "busybox:1.36"},
		corev1.Container{Name: "app", Image: "kubedx.test/fault/image-unauthorized:v1"}), 6)
	s := status(t, r.pod, "app")
	if s.State.Waiting == nil || s.State.Waiting.Reason != "ImagePullBackOff" ||
		s.State.Waiting.Message != `Back-off pulling image "kubedx.test/fault/image-unauthorized:v1": ErrImagePull: failed to pull and unpack image "kubedx.test/fault/image-unauthorized:v1": failed to resolve reference "kubedx.test/fault/image-unauthorized:v1": pulling from host kubedx.test failed with status code [manifests v1]: 401 Unauthorized` {
		t.Fatalf("stages %v: state %+v", r.stages, s.State)
	}
	if side := status(t, r.pod, "sidecar"); side.State.Running == nil || !side.Ready {
		t.Fatalf("sidecar %+v", side)
	}
	r = play(t, lc, samplePod(map[string]string{"kubedx.io/simulate": "image-unauthorized"}, corev1.Container{Name: "app", Image: "acme/private"}), 6)
	if m := status(t, r.pod, "app").State.Waiting.Message; !strings.HasSuffix(m, `ErrImagePull: failed to pull and unpack image "docker.io/acme/private:latest": failed to resolve reference "docker.io/acme/private:latest": pull access denied, repository does not exist or may require authorization: server message: insufficient_scope: authorization failed`) {
		t.Fatal(m)
	}
	r = play(t, lc, samplePod(map[string]string{"kubedx.io/simulate": "image-timeout"}, corev1.Container{Name: "app", Image: "ghcr.io/acme/api:1.2"}), 6)
	if m := status(t, r.pod, "app").State.Waiting.Message; m != `Back-off pulling image "ghcr.io/acme/api:1.2": ErrImagePull: failed to pull and unpack image "ghcr.io/acme/api:1.2": failed to resolve reference "ghcr.io/acme/api:1.2": failed to do request: Head "https://ghcr.io/v2/acme/api/manifests/1.2": dial tcp 10.0.0.1:443: i/o timeout` {
		t.Fatal(m)
	}
}

func TestCrashModes(t *testing.T) {
	lc := podLifecycle(t)
	for _, tc := range []struct {
		mode   string
		exit   int32
		reason string
	}{
		{"crash-exit-1", 1, "Error"},
		{"crash-oom", 137, "OOMKilled"},
		{"crash-exit-0", 0, "Completed"},
		{"crash-exit-127", 128, "StartError"},
	} {
		r := play(t, lc, samplePod(map[string]string{"kubedx.io/simulate": tc.mode}, corev1.Container{Name: "app", Image: "acme/api:1", Command: []string{"/bin/api-server"}}), 10)
		s := status(t, r.pod, "app")
		if s.State.Waiting == nil || s.State.Waiting.Reason != "CrashLoopBackOff" || s.LastTerminationState.Terminated == nil {
			t.Fatalf("%s: stages %v: %+v", tc.mode, r.stages, s)
		}
		term := s.LastTerminationState.Terminated
		if term.ExitCode != tc.exit || term.Reason != tc.reason || s.RestartCount != 5 || s.Ready {
			t.Fatalf("%s: %+v restarts %d", tc.mode, term, s.RestartCount)
		}
		if want := `back-off 2m40s restarting failed container=app pod=web-7d4f9-abcde_shop(1b2c3d4e-0000-4000-8000-000000000001)`; s.State.Waiting.Message != want {
			t.Fatalf("%s: message %q", tc.mode, s.State.Waiting.Message)
		}
		ev := findEvent(t, r.events, "BackOff", "Back-off restarting failed container app in pod web-7d4f9-abcde_shop(1b2c3d4e-0000-4000-8000-000000000001)")
		if ev.Count != 5 || ev.Type != "Warning" {
			t.Fatalf("%s: BackOff count %d", tc.mode, ev.Count)
		}
		if tc.mode == "crash-exit-127" {
			if !strings.Contains(term.Message, `exec: "/bin/api-server": executable file not found in $PATH`) {
				t.Fatalf("%s: %q", tc.mode, term.Message)
			}
			findEvent(t, r.events, "Failed", "Error: "+term.Message)
		} else {
			findEvent(t, r.events, "Started", "Container started")
		}
		if r.pod.Status.Phase != corev1.PodRunning || condition(r.pod, corev1.PodReady) != corev1.ConditionFalse || condition(r.pod, corev1.ContainersReady) != corev1.ConditionFalse {
			t.Fatalf("%s: pod %s", tc.mode, r.pod.Status.Phase)
		}
	}
}

func TestMissingConfig(t *testing.T) {
	lc := podLifecycle(t)
	r := play(t, lc, samplePod(map[string]string{"kubedx.io/simulate": "missing-configmap"}, corev1.Container{Name: "app", Image: "acme/api:1",
		EnvFrom: []corev1.EnvFromSource{{ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "api-config"}}}}}), 6)
	s := status(t, r.pod, "app")
	if s.State.Waiting == nil || s.State.Waiting.Reason != "CreateContainerConfigError" || s.State.Waiting.Message != `configmap "api-config" not found` {
		t.Fatalf("stages %v: %+v", r.stages, s.State)
	}
	findEvent(t, r.events, "Failed", `Error: configmap "api-config" not found`)

	r = play(t, lc, samplePod(map[string]string{"kubedx.io/simulate": "missing-secret"}, corev1.Container{Name: "app", Image: "acme/api:1",
		Env: []corev1.EnvVar{{Name: "PW", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "db-creds"}, Key: "pw"}}}}}), 6)
	if m := status(t, r.pod, "app").State.Waiting.Message; m != `secret "db-creds" not found` {
		t.Fatal(m)
	}
	r = play(t, lc, samplePod(map[string]string{"kubedx.io/simulate": "missing-secret", "kubedx.io/simulate-ref": "tls"}), 6)
	if m := status(t, r.pod, "app").State.Waiting.Message; m != `secret "tls" not found` {
		t.Fatal(m)
	}
}

func TestReadinessFail(t *testing.T) {
	lc := podLifecycle(t)
	r := play(t, lc, samplePod(map[string]string{"kubedx.io/simulate": "readiness-fail"}), 6)
	s := status(t, r.pod, "app")
	if s.State.Running == nil || s.Ready || r.pod.Status.Phase != corev1.PodRunning || condition(r.pod, corev1.PodReady) != corev1.ConditionFalse {
		t.Fatalf("stages %v: %+v", r.stages, s)
	}
	findEvent(t, r.events, "Unhealthy", "Readiness probe failed: HTTP probe failed with statuscode: 503")
	findEvent(t, r.events, "Created", "Container created")
	findEvent(t, r.events, "Pulled", `Container image "nginx:doesnotexist" already present on machine and can be accessed by the pod`)
	msg := `Readiness probe failed: Get "http://10.244.1.5:8080/ready": dial tcp: lookup db.shop.svc.cluster.local: no such host`
	r = play(t, lc, samplePod(map[string]string{"kubedx.io/simulate": "readiness-fail", "kubedx.io/simulate-message": msg}), 6)
	findEvent(t, r.events, "Unhealthy", msg)
}

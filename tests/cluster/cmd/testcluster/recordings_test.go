package main

// kwok's stages against what the real kubelet wrote: each fault mode is played on
// the very Pod of its recording (tests/fixtures/real/, recorded on the real node
// by tests/cluster/record-real), and the Events kwok makes must have the real
// Events' shape (type, reason, source, field path), their reasons (no more, no
// fewer) and their message forms; the container's terminated/waiting state must
// match too. A stage that drifts from the kubelet fails here.

import (
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"
)

// recordingOf maps a kwok fault mode to the real node's recording of the same failure.
var recordingOf = map[string]string{
	"image-not-found":    "image-not-found",
	"image-unauthorized": "image-unauthorized",
	"image-timeout":      "registry-unreachable",
	"crash-exit-1":       "crash-exit-1",
	"crash-oom":          "oom-killed",
	"crash-exit-0":       "exit-zero",
	"crash-exit-127":     "command-not-found",
	"missing-configmap":  "configmap-env-missing",
	"missing-secret":     "secret-env-missing",
	"readiness-fail":     "readiness",
}

type recording struct {
	pod    *corev1.Pod
	events []corev1.Event
}

func loadRecording(t *testing.T, name string) recording {
	t.Helper()
	path := filepath.Join("..", "..", "..", "fixtures", "real", name+".yaml")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("recording %s: %v (record it with tests/cluster/record-real)", path, err)
	}
	var list struct {
		Items []map[string]any `json:"items"`
	}
	if err := yaml.Unmarshal(b, &list); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	var rec recording
	for _, item := range list.Items {
		raw, err := yaml.Marshal(item)
		if err != nil {
			t.Fatal(err)
		}
		switch item["kind"] {
		case "Pod":
			var p corev1.Pod
			if err := yaml.Unmarshal(raw, &p); err != nil {
				t.Fatalf("%s: Pod: %v", path, err)
			}
			if rec.pod == nil {
				rec.pod = &p
			}
		case "Event":
			var e corev1.Event
			if err := yaml.Unmarshal(raw, &e); err != nil {
				t.Fatalf("%s: Event: %v", path, err)
			}
			if e.InvolvedObject.Kind == "Pod" && e.Source.Component == "kubelet" {
				rec.events = append(rec.events, e)
			}
		}
	}
	if rec.pod == nil || len(rec.events) == 0 {
		t.Fatalf("%s: no Pod or no kubelet Events", path)
	}
	return rec
}

var (
	backOff    = regexp.MustCompile(`back-off \d+[0-9hms]*`)
	statusCode = regexp.MustCompile(`statuscode: \d+`)
	dialTail   = regexp.MustCompile(`dial tcp [^"]*$`)
)

// form is a message with what varies between two runs of the same failure
// replaced: back-off durations, the HTTP status a probe got, the way a dial failed.
func form(msg string) string {
	msg = backOff.ReplaceAllString(msg, "back-off D")
	msg = statusCode.ReplaceAllString(msg, "statuscode: N")
	return dialTail.ReplaceAllString(msg, "dial tcp ADDR: ERR")
}

type shape struct{ typ, reason, fieldPath string }

func shapes(evs []corev1.Event) map[shape][]string {
	out := map[shape][]string{}
	for _, e := range evs {
		k := shape{e.Type, e.Reason, e.InvolvedObject.FieldPath}
		out[k] = append(out[k], form(e.Message))
	}
	return out
}

func keys(m map[shape][]string) []string {
	var out []string
	for k := range m {
		out = append(out, k.typ+" "+k.reason+" "+k.fieldPath)
	}
	sort.Strings(out)
	return out
}

func TestStagesFollowTheRealKubelet(t *testing.T) {
	lc := podLifecycle(t)
	for mode, name := range recordingOf {
		t.Run(mode, func(t *testing.T) {
			rec := loadRecording(t, name)
			// the recorded Pod as it was created, with the failure asked of kwok
			pod := &corev1.Pod{
				TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
				ObjectMeta: metav1.ObjectMeta{Name: rec.pod.Name, Namespace: rec.pod.Namespace, UID: rec.pod.UID,
					Labels: rec.pod.Labels, Annotations: map[string]string{"kubedx.io/simulate": mode}},
				Spec: rec.pod.Spec,
				Status: corev1.PodStatus{Phase: corev1.PodPending, Conditions: []corev1.PodCondition{
					{Type: corev1.PodScheduled, Status: corev1.ConditionTrue},
				}},
			}
			r := play(t, lc, pod, 12)
			kwok, real := shapes(r.events), shapes(rec.events)
			for _, e := range r.events {
				if e.Source.Component != "kubelet" || e.ReportingController != "kubelet" || e.Source.Host != rec.pod.Spec.NodeName {
					t.Errorf("kwok Event %s %q: source %+v / %q, want the kubelet of %s", e.Reason, e.Message, e.Source, e.ReportingController, rec.pod.Spec.NodeName)
				}
			}
			if strings.Join(keys(kwok), "\n") != strings.Join(keys(real), "\n") {
				t.Errorf("Event types/reasons/field paths differ:\n kwok:\n  %s\n real kubelet:\n  %s",
					strings.Join(keys(kwok), "\n  "), strings.Join(keys(real), "\n  "))
			}
			for k, msgs := range kwok {
				for _, m := range msgs {
					found := false
					for _, rm := range real[k] {
						found = found || rm == m
					}
					if !found {
						t.Errorf("kwok writes %s %s %q; the kubelet wrote:\n  %s", k.typ, k.reason, m, strings.Join(real[k], "\n  "))
					}
				}
			}
			compareStates(t, r.pod, rec.pod)
		})
	}
}

// compareStates holds the faulty container's state to the recording's: the same
// terminated reason and exit code (and a StartError's message and 1970 start),
// the same waiting message where both wait for the same reason.
func compareStates(t *testing.T, kwok, real *corev1.Pod) {
	t.Helper()
	byName := func(p *corev1.Pod) map[string]corev1.ContainerStatus {
		out := map[string]corev1.ContainerStatus{}
		for _, s := range p.Status.ContainerStatuses {
			out[s.Name] = s
		}
		return out
	}
	ks, rs := byName(kwok), byName(real)
	for name, r := range rs {
		k, ok := ks[name]
		if !ok {
			t.Errorf("kwok gives container %s no status", name)
			continue
		}
		if rt := r.LastTerminationState.Terminated; rt != nil {
			kt := k.LastTerminationState.Terminated
			switch {
			case kt == nil:
				t.Errorf("%s: the kubelet's lastState.terminated %s/%d, kwok's none", name, rt.Reason, rt.ExitCode)
			case kt.Reason != rt.Reason || kt.ExitCode != rt.ExitCode:
				t.Errorf("%s: lastState.terminated kwok %s/%d, kubelet %s/%d", name, kt.Reason, kt.ExitCode, rt.Reason, rt.ExitCode)
			case rt.Reason == "StartError" && (form(kt.Message) != form(rt.Message) || !kt.StartedAt.Time.Equal(rt.StartedAt.Time)):
				t.Errorf("%s: StartError kwok %q (started %s), kubelet %q (started %s)", name, kt.Message, kt.StartedAt, rt.Message, rt.StartedAt)
			}
		}
		if rw, kw := r.State.Waiting, k.State.Waiting; rw != nil && kw != nil && rw.Reason == kw.Reason && form(rw.Message) != form(kw.Message) {
			t.Errorf("%s: waiting %s: kwok %q, kubelet %q", name, rw.Reason, kw.Message, rw.Message)
		}
	}
}

package cluster

import (
	"os"
	"path/filepath"
	"strconv"
	"time"
)

// Pod annotations read by the job stages (see JobPodTiming): how long a Job's pod runs, and
// whether it then fails, with which exit code.
const (
	// AnnotationPodCompleteDelay and AnnotationPodCompleteJitterDelay time kwok's general
	// "pod-complete" stage: a Running pod owned by a Job becomes Succeeded after it.
	AnnotationPodCompleteDelay       = "pod-complete.stage.kwok.x-k8s.io/delay"
	AnnotationPodCompleteJitterDelay = "pod-complete.stage.kwok.x-k8s.io/jitter-delay"
	// AnnotationPodCompleteWeight is the general "pod-complete" stage's weight for the pod:
	// "0" leaves the pod to "pod-fail".
	AnnotationPodCompleteWeight = "pod-complete.stage.kwok.x-k8s.io/weight"
	// AnnotationPodFailWeight is the "pod-fail" stage's weight for the pod (default 0: never,
	// while "pod-complete" applies). Equal weights make each pod fail with probability 1/2.
	AnnotationPodFailWeight = "pod-fail.stage.kwok.x-k8s.io/weight"
	// AnnotationPodFailExitCode is the failed container's exit code (default 1).
	AnnotationPodFailExitCode = "pod-fail.stage.kwok.x-k8s.io/exit-code"
	// AnnotationPodFailDelay and AnnotationPodFailJitterDelay time the "pod-fail" stage.
	AnnotationPodFailDelay       = "pod-fail.stage.kwok.x-k8s.io/delay"
	AnnotationPodFailJitterDelay = "pod-fail.stage.kwok.x-k8s.io/jitter-delay"
)

// jobStagesFile is the kwok --config file, written in the state directory next to the general
// stages, that adds the "pod-fail" stage.
const jobStagesFile = "kwok-job-stages.yaml"

// jobStages is khist's addition to kwok's general pod stages: "pod-fail", the failing twin of
// "pod-complete". A Running and Ready pod owned by a Job whose annotations give "pod-fail" a
// positive weight (AnnotationPodFailWeight) ends in phase Failed, its containers terminated
// with reason Error and the exit code of AnnotationPodFailExitCode, after its delay. Its
// default weight is 0, so that pods without the annotations only ever complete.
const jobStages = `# khist's pod-fail stage (test/cluster/jobstages.go): a Job's pod fails after a delay.
apiVersion: kwok.x-k8s.io/v1alpha1
kind: Stage
metadata:
  name: pod-fail
spec:
  resourceRef:
    apiGroup: v1
    kind: Pod
  selector:
    matchExpressions:
    - key: '.metadata.deletionTimestamp'
      operator: 'DoesNotExist'
    - key: '.status.phase'
      operator: 'In'
      values:
      - 'Running'
    - key: '.status.conditions.[] | select( .type == "Ready" ) | .status'
      operator: 'In'
      values:
      - 'True'
    - key: '.metadata.ownerReferences.[].kind'
      operator: 'In'
      values:
      - 'Job'
  weight: 0
  weightFrom:
    expressionFrom: '.metadata.annotations["pod-fail.stage.kwok.x-k8s.io/weight"]'
  delay:
    durationMilliseconds: 1000
    durationFrom:
      expressionFrom: '.metadata.annotations["pod-fail.stage.kwok.x-k8s.io/delay"]'
    jitterDurationMilliseconds: 5000
    jitterDurationFrom:
      expressionFrom: '.metadata.annotations["pod-fail.stage.kwok.x-k8s.io/jitter-delay"]'
  next:
    delete: false
    statusTemplate: |
      {{ $now := Now }}
      {{ $code := or (index .metadata.annotations "pod-fail.stage.kwok.x-k8s.io/exit-code") "1" }}
      conditions:
      - lastProbeTime: null
        lastTransitionTime: {{ $now | Quote }}
        message: ''
        reason: PodFailed
        status: "False"
        type: Ready
      - lastProbeTime: null
        lastTransitionTime: {{ $now | Quote }}
        message: ''
        reason: PodFailed
        status: "False"
        type: ContainersReady
      containerStatuses:
      {{ range $index, $item := .spec.containers }}
      - image: {{ $item.image | Quote }}
        name: {{ $item.name | Quote }}
        ready: false
        restartCount: 0
        started: false
        state:
          terminated:
            exitCode: {{ $code }}
            finishedAt: {{ $now | Quote }}
            reason: Error
            startedAt: {{ $now | Quote }}
      {{ end }}
      phase: Failed
`

// writeJobStages writes the pod-fail stage into dir and returns its path.
func writeJobStages(dir string) (string, error) {
	p := filepath.Join(dir, jobStagesFile)
	return p, os.WriteFile(p, []byte(jobStages), 0o644)
}

// JobPodTiming is how a Job's pod lives on kwok: it is created and becomes Ready as PodTiming
// says, runs for Run, then succeeds, or fails with ExitCode when Fail is set, or either at
// random (even odds) when Flaky is set.
type JobPodTiming struct {
	PodTiming
	// Run is the wait from Ready to Succeeded or Failed (widened by Jitter).
	Run time.Duration
	// Fail makes every pod fail; Flaky makes each pod fail with probability 1/2.
	Fail, Flaky bool
	// ExitCode is the failed container's exit code. Default 1.
	ExitCode int
}

// Annotations returns the pod annotations that give kwok this behaviour.
func (t JobPodTiming) Annotations() map[string]string {
	a := t.PodTiming.Annotations()
	run, upto := t.Run.String(), (t.Run + t.Jitter).String()
	a[AnnotationPodCompleteDelay], a[AnnotationPodCompleteJitterDelay] = run, upto
	a[AnnotationPodFailDelay], a[AnnotationPodFailJitterDelay] = run, upto
	switch {
	case t.Fail:
		a[AnnotationPodCompleteWeight], a[AnnotationPodFailWeight] = "0", "1"
	case t.Flaky:
		a[AnnotationPodCompleteWeight], a[AnnotationPodFailWeight] = "1", "1"
	}
	if t.Fail || t.Flaky {
		code := t.ExitCode
		if code == 0 {
			code = 1
		}
		a[AnnotationPodFailExitCode] = strconv.Itoa(code)
	}
	return a
}

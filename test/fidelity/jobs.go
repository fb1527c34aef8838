package fidelity

import (
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/khist/khist/test/cluster"
	"github.com/khist/khist/test/load"
)

// The jobs suite: Jobs and CronJobs played together on the test control plane (see
// TestLiveJobs), each scenario twice, in namespaces NAME and NAME-2. kwok's general stages
// complete a Job's Running pod after its pod-complete delay; the cluster's pod-fail stage
// (test/cluster/jobstages.go) makes it fail instead, with an exit code, when its annotations
// say so. Recordings are kept as testdata/jobs/NAMESPACE.json.gz (JobFixturePath).

// JobRuns is how many times TestLiveJobs plays each job scenario, in namespaces NAME, NAME-2, ...
const JobRuns = 2

// jobWait bounds the waits of the jobs suite.
const jobWait = 6 * time.Minute

// JobFixturePath is where the recording of a job scenario played in namespace ns is kept,
// relative to this package.
func JobFixturePath(dir, ns string) string {
	return filepath.Join(dir, "jobs", ns+".json.gz")
}

// jobPod is the pod behaviour of a job scenario: created and Ready within about a second of
// being scheduled, then running for run to run+jitter before it succeeds or (fail) fails.
func jobPod(run, jitter time.Duration, fail bool, exitCode int) cluster.JobPodTiming {
	return cluster.JobPodTiming{
		PodTiming: cluster.PodTiming{Create: 200 * time.Millisecond, Ready: 500 * time.Millisecond, Delete: time.Second, Jitter: jitter},
		Run:       run, Fail: fail, ExitCode: exitCode,
	}
}

// flaky makes a job pod fail with probability 1/2.
func flaky(p cluster.JobPodTiming) cluster.JobPodTiming {
	p.Flaky = true
	return p
}

// annotationLines renders annotations as YAML map lines indented by pad, in key order.
func annotationLines(a map[string]string, pad string) string {
	keys := make([]string, 0, len(a))
	for k := range a {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "%s%s: %q\n", pad, k, a[k])
	}
	return b.String()
}

// jobSpec is the body of a Job's spec (its own fields, then its pod template), indented by pad.
func jobSpec(fields string, pod cluster.JobPodTiming, pad string) string {
	return load.Indent(fields, pad) + pad + "template:\n" +
		pad + "  metadata:\n" + pad + "    annotations:\n" + annotationLines(pod.Annotations(), pad+"      ") +
		pad + "  spec:\n" + pad + "    restartPolicy: Never\n" + pad + "    containers:\n" +
		pad + "    - name: work\n" + pad + "      image: work:v1\n"
}

// job is a Job manifest; fields are its spec's own fields (YAML, unindented).
func job(name, fields string, pod cluster.JobPodTiming) string {
	return fmt.Sprintf("apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: %s\nspec:\n%s", name, jobSpec(fields, pod, "  "))
}

// cronJob is a CronJob manifest: fields are its spec's own fields, jobFields those of its Job
// template's spec.
func cronJob(name, fields, jobFields string, pod cluster.JobPodTiming) string {
	return fmt.Sprintf("apiVersion: batch/v1\nkind: CronJob\nmetadata:\n  name: %s\nspec:\n%s  jobTemplate:\n    spec:\n%s",
		name, load.Indent(fields, "  "), jobSpec(jobFields, pod, "      "))
}

// waitJob waits until the Job has the condition (Complete or Failed).
func waitJob(name, condition string) Step {
	return Step{Kubectl: []string{"wait", "--for=condition=" + condition, "job/" + name, "--timeout=" + jobWait.String()}}
}

// atSecond waits until the wall clock is s seconds past a minute.
func atSecond(s int) Step { return Step{AtSecond: time.Duration(s) * time.Second} }

func patch(target, p string) Step {
	return Step{Kubectl: []string{"patch", target, "--type=merge", "-p", p}}
}

// JobScenarios are the jobs suite (see TestLiveJobs). Kind is the kind of the scenario's main
// workload, Workload its name.
var JobScenarios = []Scenario{
	{
		// 10 completions, 3 at a time; every pod succeeds after 3-6 s.
		Name: "job-parallel", Kind: "Job", Workload: "work",
		Steps: []Step{
			{Apply: job("work", "parallelism: 3\ncompletions: 10\nbackoffLimit: 6\n", jobPod(3*sec, 3*sec, false, 0))},
			waitJob("work", "Complete"),
		},
	},
	{
		// Every pod fails with exit code 2 after 2-3 s: the controller retries with its
		// exponential back-off (10 s, 20 s, 40 s) and gives up after backoffLimit+1 = 4 failures.
		Name: "job-backoff", Kind: "Job", Workload: "migrate",
		Steps: []Step{
			{Apply: job("migrate", "backoffLimit: 3\n", jobPod(2*sec, sec, true, 2))},
			waitJob("migrate", "Failed"),
		},
	},
	{
		// 6 completions, 3 at a time, each pod failing with exit code 1 with probability 1/2:
		// successes and failures mixed, retried with back-off, within backoffLimit 20.
		Name: "job-flaky", Kind: "Job", Workload: "crawl",
		Steps: []Step{
			{Apply: job("crawl", "parallelism: 3\ncompletions: 6\nbackoffLimit: 20\n", flaky(jobPod(2*sec, 2*sec, false, 1)))},
			waitJob("crawl", "Complete"),
		},
	},
	{
		// Indexed completion, 5 indexes 2 at a time; created suspended, resumed 5 s later.
		Name: "job-indexed", Kind: "Job", Workload: "shard",
		Steps: []Step{
			{Apply: job("shard", "completionMode: Indexed\nparallelism: 2\ncompletions: 5\nsuspend: true\n", jobPod(2*sec, 2*sec, false, 0))},
			sleep(5 * sec),
			patch("job/shard", `{"spec":{"suspend":false}}`),
			waitJob("shard", "Complete"),
		},
	},
	{
		// Pods that would run 2 minutes, under an activeDeadlineSeconds of 20: the Job fails
		// with DeadlineExceeded and its pods are deleted.
		Name: "job-deadline", Kind: "Job", Workload: "slow",
		Steps: []Step{
			{Apply: job("slow", "parallelism: 2\ncompletions: 4\nactiveDeadlineSeconds: 20\n", jobPod(120*sec, 0, false, 0))},
			waitJob("slow", "Failed"),
		},
	},
	{
		// Every minute, concurrencyPolicy Allow, runs of 70-75 s (so two overlap), one
		// successful Job kept (older ones cleaned up).
		Name: "cron-allow", Kind: "CronJob", Workload: "tick",
		Steps: []Step{
			{Apply: cronJob("tick", "schedule: \"* * * * *\"\nconcurrencyPolicy: Allow\nsuccessfulJobsHistoryLimit: 1\nfailedJobsHistoryLimit: 1\n",
				"backoffLimit: 0\n", jobPod(70*sec, 5*sec, false, 0))},
			atSecond(30), sleep(4 * time.Minute),
		},
	},
	{
		// Every minute, concurrencyPolicy Forbid, runs of 150 s: the schedules that fall
		// during a run are skipped (the most recent one starts late, when the run ends).
		Name: "cron-forbid", Kind: "CronJob", Workload: "report",
		Steps: []Step{
			{Apply: cronJob("report", "schedule: \"* * * * *\"\nconcurrencyPolicy: Forbid\nsuccessfulJobsHistoryLimit: 3\n",
				"backoffLimit: 0\n", jobPod(150*sec, 0, false, 0))},
			atSecond(30), sleep(4 * time.Minute),
		},
	},
	{
		// Every minute (in Asia/Kolkata), concurrencyPolicy Replace, runs of 90 s: each run
		// replaces the previous, still running.
		Name: "cron-replace", Kind: "CronJob", Workload: "sync",
		Steps: []Step{
			{Apply: cronJob("sync", "schedule: \"* * * * *\"\ntimeZone: Asia/Kolkata\nconcurrencyPolicy: Replace\n",
				"backoffLimit: 0\n", jobPod(90*sec, 0, false, 0))},
			atSecond(30), sleep(4 * time.Minute),
		},
	},
	{
		// Every minute with startingDeadlineSeconds 30, runs of 10 s: suspended after its
		// first run for two schedules, resumed 45 s past a minute, too late for that minute's
		// run, which is missed; the next one runs.
		Name: "cron-suspend", Kind: "CronJob", Workload: "backup",
		Steps: []Step{
			{Apply: cronJob("backup", "schedule: \"* * * * *\"\nstartingDeadlineSeconds: 30\n",
				"backoffLimit: 0\n", jobPod(10*sec, 0, false, 0))},
			atSecond(10), sleep(60 * sec),
			patch("cronjob/backup", `{"spec":{"suspend":true}}`),
			atSecond(45), sleep(60 * sec), sleep(60 * sec),
			patch("cronjob/backup", `{"spec":{"suspend":false}}`),
			atSecond(30),
		},
	},
}

// JobScenarioRuns returns each job scenario played runs times, in namespaces NAME, NAME-2, ...
func JobScenarioRuns(runs int) []Scenario {
	var out []Scenario
	for _, s := range JobScenarios {
		for i := 1; i <= runs; i++ {
			out = append(out, JobScenarioRun(s, i))
		}
	}
	return out
}

// JobScenarioRun is run n of a job scenario: in namespace NAME for the first, NAME-n after.
func JobScenarioRun(s Scenario, n int) Scenario {
	if n > 1 {
		s.Name = fmt.Sprintf("%s-%d", s.Name, n)
	}
	return s
}

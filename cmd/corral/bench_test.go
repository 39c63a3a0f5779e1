package main

import (
	"bytes"
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/corral-sched/corral/agent/containerizer"
	"github.com/corral-sched/corral/internal/benchkit"
	"github.com/corral-sched/corral/internal/zktest"
)

// runAsCorral is set in the environment of this test binary's children:
// benchmarks that start masters as processes run os.Executable(), which
// under `go test` is this binary, and it must then be corral.
const runAsCorral = "CORRAL_TEST_RUN_MAIN"

func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == "init" {
		containerizer.Init() // this test binary, re-executed as a linux container's init
	}
	if os.Getenv(runAsCorral) == "1" {
		main()
		os.Exit(0)
	}
	os.Setenv(runAsCorral, "1")
	os.Exit(m.Run())
}

// runBench runs `corral args...` and decodes its first line into result.
func runBench(t *testing.T, result any, args ...string) string {
	t.Helper()
	root := newRootCommand()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetArgs(args)
	if err := root.Execute(); err != nil {
		t.Fatalf("corral %s: %v\n%s", strings.Join(args, " "), err, out.String())
	}
	first, table, _ := strings.Cut(out.String(), "\n")
	if err := json.Unmarshal([]byte(first), result); err != nil {
		t.Fatalf("first line is not the JSON result: %v\n%s", err, out.String())
	}
	if !strings.Contains(table, "|---|") {
		t.Fatalf("no markdown table after the JSON line:\n%s", out.String())
	}
	return table
}

func saneLatency(t *testing.T, what string, count int, l benchkit.Latency) {
	t.Helper()
	if l.Count != count || !(0 < l.P50 && l.P50 <= l.P90 && l.P90 <= l.P99 && l.P99 <= l.Max) {
		t.Fatalf("%s: %+v, want %d samples, 0 < p50 ≤ p90 ≤ p99 ≤ max", what, l, count)
	}
}

func TestBenchLaunchSimReportsEveryTask(t *testing.T) {
	var r launchResult
	runBench(t, &r, "bench", "launch", "--isolation", "sim", "--tasks", "60", "--agents", "3", "--timeout", "60s")
	if r.Scenario != "launch" || r.Isolation != "sim" || r.Tasks != 60 || r.Running != 60 || r.Failed != 0 || r.Agents != 3 {
		t.Fatalf("result %+v", r)
	}
	saneLatency(t, "ACCEPT → RUNNING", 60, r.AcceptToRunning)
	saneLatency(t, "submit → RUNNING", 60, r.SubmitToRunning)
	if r.SubmitToRunning.P50 < r.AcceptToRunning.P50 || r.TasksPerSecond <= 0 || r.Seconds <= 0 || r.RSSMB <= 0 {
		t.Fatalf("result %+v", r)
	}
}

func TestBenchLaunchAtARate(t *testing.T) {
	var r launchResult
	runBench(t, &r, "bench", "launch", "--isolation", "sim", "--tasks", "10", "--agents", "2", "--rate", "50", "--timeout", "60s")
	if r.Running != 10 || r.Rate != 50 {
		t.Fatalf("result %+v", r)
	}
	// Ten tasks queued at 50/s take at least 180 ms from the first to the
	// last.
	if r.Seconds < 0.18 {
		t.Fatalf("10 tasks at 50/s ran within %.3f s: not paced", r.Seconds)
	}
	saneLatency(t, "ACCEPT → RUNNING", 10, r.AcceptToRunning)
}

func TestBenchChurnReplacesTasks(t *testing.T) {
	for _, mode := range []string{"sleep", "kill"} {
		t.Run(mode, func(t *testing.T) {
			var r churnResult
			runBench(t, &r, "bench", "churn", "--agents", "3", "--rate", "40", "--duration", "1s", "--task-seconds", "0.2", "--mode", mode)
			if r.Scenario != "churn" || r.Submitted != 40 || r.Running != 40 || r.Failed != 0 {
				t.Fatalf("result %+v", r)
			}
			// Tasks of 0.2 s started over a second: most have ended by the
			// time the last runs.
			if r.Ended == 0 || r.AchievedRate <= 0 || r.CPUSeconds <= 0 || r.RSSMB <= 0 || r.AllocationRounds == 0 {
				t.Fatalf("result %+v", r)
			}
			saneLatency(t, "ACCEPT → RUNNING", 40, r.AcceptToRunning)
		})
	}
}

func TestBenchFailoverKeepsEveryTask(t *testing.T) {
	if missing := zktest.Available(); missing != "" && os.Getenv("CI") != "true" {
		t.Skipf("ZooKeeper not available: %s", missing)
	}
	if testing.Short() {
		t.Skip("starts ZooKeeper and two master processes")
	}
	var r failoverResult
	runBench(t, &r, "bench", "failover", "--agents", "5", "--tasks", "20", "--timeout", "2m")
	if r.Agents != 5 || r.Tasks != 20 || r.TasksRunning != 20 {
		t.Fatalf("result %+v", r)
	}
	if !(0 < r.NewLeader && r.NewLeader <= r.AgentsReregistered && r.AgentsReregistered <= r.TasksKnown && r.FirstOffer > 0) {
		t.Fatalf("times out of order: %+v", r)
	}
}

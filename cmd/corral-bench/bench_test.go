package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/corral-sched/corral/agent/containerizer"
	"github.com/corral-sched/corral/internal/testkit/benchkit"
	"github.com/corral-sched/corral/internal/testkit/zktest"
)

func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == "init" {
		containerizer.Init() // this test binary, re-executed as a linux container's init
	}
	if len(os.Args) > 1 && os.Args[1] == "agents" {
		// This test binary, re-executed as the agent processes of `scale`.
		root := newRootCommand()
		root.SetArgs(os.Args[1:])
		if err := root.Execute(); err != nil {
			fmt.Fprintln(os.Stderr, "corral-bench:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	code := m.Run()
	if corral.dir != "" {
		os.RemoveAll(corral.dir)
	}
	os.Exit(code)
}

// corral is the corral binary the scenarios that run masters as processes
// start, built once for the tests that need it.
var corral struct {
	once      sync.Once
	dir, path string
	err       error
}

func corralBin(t *testing.T) string {
	t.Helper()
	corral.once.Do(func() {
		if corral.dir, corral.err = os.MkdirTemp("", "corral-bench-test-"); corral.err != nil {
			return
		}
		corral.path = filepath.Join(corral.dir, "corral")
		out, err := exec.Command("go", "build", "-o", corral.path, "github.com/corral-sched/corral/cmd/corral").CombinedOutput()
		if err != nil {
			corral.err = fmt.Errorf("go build ./cmd/corral: %w\n%s", err, out)
		}
	})
	if corral.err != nil {
		t.Fatal(corral.err)
	}
	return corral.path
}

// runBench runs `corral-bench args...` and decodes its first line into
// result.
func runBench(t *testing.T, result any, args ...string) string {
	t.Helper()
	root := newRootCommand()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetArgs(args)
	if err := root.Execute(); err != nil {
		t.Fatalf("corral-bench %s: %v\n%s", strings.Join(args, " "), err, out.String())
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
	runBench(t, &r, "launch", "--isolation", "sim", "--tasks", "60", "--agents", "3", "--timeout", "60s")
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
	runBench(t, &r, "launch", "--isolation", "sim", "--tasks", "10", "--agents", "2", "--rate", "50", "--timeout", "60s")
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

func TestBenchLaunchOneAtATime(t *testing.T) {
	var r launchResult
	table := runBench(t, &r, "launch", "--isolation", "sim", "--tasks", "5", "--agents", "2", "--one-at-a-time", "--timeout", "60s")
	if !r.OneAtATime || r.Running != 5 || r.Failed != 0 {
		t.Fatalf("result %+v", r)
	}
	saneLatency(t, "ACCEPT → RUNNING", 5, r.AcceptToRunning)
	// Launches one after another take at least as long as the three of
	// them at or above the median: all at once, they would overlap.
	if r.Seconds*1000 < 3*r.AcceptToRunning.P50 {
		t.Fatalf("5 launches in %.2f ms with a p50 of %.2f ms each: they overlapped", r.Seconds*1000, r.AcceptToRunning.P50)
	}
	if !strings.Contains(table, "each queued once the one before runs") {
		t.Fatalf("the table does not say how tasks were queued:\n%s", table)
	}
}

func TestBenchLaunchTakesOnePace(t *testing.T) {
	root := newRootCommand()
	root.SetOut(new(bytes.Buffer))
	root.SetArgs([]string{"launch", "--isolation", "sim", "--tasks", "5", "--one-at-a-time", "--rate", "10"})
	if err := root.Execute(); err == nil || !strings.Contains(err.Error(), "--one-at-a-time") {
		t.Fatalf("launch with --one-at-a-time and --rate: %v, want an error naming both", err)
	}
}

func TestBenchChurnReplacesTasks(t *testing.T) {
	for _, mode := range []string{"sleep", "kill"} {
		t.Run(mode, func(t *testing.T) {
			var r churnResult
			runBench(t, &r, "churn", "--agents", "3", "--rate", "40", "--duration", "1s", "--task-seconds", "0.2", "--mode", mode)
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
	runBench(t, &r, "failover", "--corral", corralBin(t), "--agents", "5", "--tasks", "20", "--timeout", "2m")
	if r.Agents != 5 || r.Tasks != 20 || r.TasksRunning != 20 {
		t.Fatalf("result %+v", r)
	}
	if !(0 < r.NewLeader && r.NewLeader <= r.AgentsReregistered && r.AgentsReregistered <= r.TasksKnown && r.FirstOffer > 0) {
		t.Fatalf("times out of order: %+v", r)
	}
}

// Rounds kill the leader again and again, the killed master coming back
// as a standby each time, here under a three-server ensemble.
func TestBenchFailoverRoundsUnderAnEnsemble(t *testing.T) {
	if missing := zktest.Available(); missing != "" && os.Getenv("CI") != "true" {
		t.Skipf("ZooKeeper not available: %s", missing)
	}
	if testing.Short() {
		t.Skip("starts three ZooKeeper servers and two master processes")
	}
	var r failoverResult
	table := runBench(t, &r, "failover", "--corral", corralBin(t), "--agents", "3", "--tasks", "6", "--rounds", "2", "--zk-servers", "3", "--timeout", "3m")
	if r.ZooKeeperServers != 3 || len(r.Rounds) != 2 {
		t.Fatalf("result %+v", r)
	}
	for i, round := range r.Rounds {
		if round.TasksRunning != 6 || !(0 < round.NewLeader && round.NewLeader <= round.AgentsReregistered && round.AgentsReregistered <= round.TasksKnown && round.FirstOffer > 0) {
			t.Fatalf("round %d: %+v", i+1, round)
		}
	}
	if r.NewLeader != r.Rounds[0].NewLeader || r.TasksKnown != r.Rounds[0].TasksKnown {
		t.Fatalf("the top-level figures %+v are not the first round's %+v", r.failoverRound, r.Rounds[0])
	}
	if !strings.Contains(table, "| 2 |") || !strings.Contains(table, "3-server ZooKeeper ensemble") {
		t.Fatalf("the table lacks round 2 or the ensemble:\n%s", table)
	}
}

func TestBenchScaleRegistersSimulatedAgentsAndOffersThemAll(t *testing.T) {
	for _, child := range []bool{false, true} {
		t.Run(map[bool]string{false: "in-process", true: "master-process"}[child], func(t *testing.T) {
			args := []string{"scale", "--agents", "20", "--timeout", "60s"}
			if child {
				args = append(args, "--master-process", "--corral", corralBin(t))
			}
			var r scaleResult
			table := runBench(t, &r, args...)
			if r.Agents != 20 || r.MasterProcess != child || r.RegisterSeconds <= 0 || r.AllOffersSeconds <= 0 || r.AllocationRounds == 0 || r.RSSMB <= 0 {
				t.Fatalf("result %+v", r)
			}
			if !strings.Contains(table, "| 20 |") {
				t.Fatalf("no table row:\n%s", table)
			}
		})
	}
}

// Agents beyond --agents-per-process run in child processes (`agents
// --report`), whose reports the benchmark adds up: every agent registered,
// offered and still connected after the hold, in three processes.
func TestBenchScaleSpreadsAgentsOverProcesses(t *testing.T) {
	var r scaleResult
	runBench(t, &r, "scale", "--agents", "30", "--agents-per-process", "10", "--hold", "1s", "--timeout", "60s",
		"--master-process", "--corral", corralBin(t))
	if r.AgentProcesses != 3 || r.OfferLatency.Count != 30 || r.ConnectedAfterHold != 30 || r.RegisterSeconds <= 0 {
		t.Fatalf("result %+v: want 30 agents in 3 processes, each offered and connected after the hold", r)
	}
	if m := r.MasterMemory; m == nil || m.Goroutines < 30 || m.HeapInUseMB <= 0 || m.StackMB <= 0 {
		t.Fatalf("the master's memory %+v: want its runtime's figures, a goroutine per agent at least", m)
	}
}

// A master process needs a corral binary; a wrong one is named, not
// started.
func TestMasterProcessNeedsACorralBinary(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "no-corral")
	for _, args := range [][]string{
		{"scale", "--agents", "1", "--master-process", "--corral", missing},
		{"failover", "--agents", "1", "--corral", missing},
	} {
		root := newRootCommand()
		root.SetOut(new(bytes.Buffer))
		root.SetArgs(args)
		if err := root.Execute(); err == nil || !strings.Contains(err.Error(), "--corral") || !strings.Contains(err.Error(), missing) {
			t.Errorf("corral-bench %s: %v, want an error naming --corral and %s", strings.Join(args, " "), err, missing)
		}
	}
}

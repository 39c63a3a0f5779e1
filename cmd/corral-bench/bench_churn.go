package main

import (
	"context"
	"errors"
	"fmt"
	"math"
	"runtime"
	"time"

	"github.com/spf13/cobra"

	"github.com/corral-sched/corral/internal/testkit/benchkit"
)

func newBenchChurnCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "churn --agents K --rate R --duration D",
		Short: "Steady churn of short tasks on K simulated agents; report launch latencies, achieved rate, CPU and memory",
		Long: "Start a master, K simulated agents and an SDK framework in this process, then queue R tasks per\n" +
			"second for D. Each task ends on its own after --task-seconds (\"sleep S\", mode sleep) or is\n" +
			"killed by the framework that long after it runs (mode kill), so the cluster holds about R×S\n" +
			"tasks while launches, updates, acknowledgements and freed offers flow at R per second.",
		Args: cobra.NoArgs, RunE: runBenchChurn}
	f := cmd.Flags()
	f.Int("agents", 50, "simulated agents")
	f.Float64("rate", 200, "tasks queued per second")
	f.Duration("duration", 30*time.Second, "how long to queue tasks for")
	f.Float64("task-seconds", 2, "how long each task runs")
	f.String("mode", "sleep", `sleep: tasks end on their own; kill: the framework kills them`)
	f.Float64("cpus", 0.01, "each task's cpus")
	f.Float64("mem", 8, "each task's memory, MB")
	f.String("resources", simResources, "each agent's resources")
	profileFlags(cmd)
	return cmd
}

// churnResult is what `corral-bench churn` reports.
type churnResult struct {
	Scenario         string           `json:"scenario"`
	Mode             string           `json:"mode"`
	Agents           int              `json:"agents"`
	Rate             float64          `json:"rate_per_second"`
	DurationSeconds  float64          `json:"duration_seconds"`
	TaskSeconds      float64          `json:"task_seconds"`
	Submitted        int              `json:"submitted"`
	Running          int              `json:"running"`
	Failed           int              `json:"failed"`
	Ended            int              `json:"ended"`
	AchievedRate     float64          `json:"achieved_rate_per_second"` // TASK_RUNNING per second, first submit → last running
	AcceptToRunning  benchkit.Latency `json:"accept_to_running"`
	SubmitToRunning  benchkit.Latency `json:"submit_to_running"`
	AllocationMeanMs float64          `json:"allocation_round_mean_ms"`
	AllocationRounds uint64           `json:"allocation_rounds"`
	// CPUSeconds is the whole process's (master, agents and framework)
	// over the run; MasterCPUShare the master's part of it is not
	// measured here (profile with -tagfocus component=master for that).
	CPUSeconds  float64 `json:"cpu_seconds"`
	RSSMB       float64 `json:"rss_mb"`
	Cores       int     `json:"cores"`
	LoadAverage float64 `json:"load_avg_1m"` // at the start
}

func runBenchChurn(cmd *cobra.Command, _ []string) error {
	fl := cmd.Flags()
	agents, _ := fl.GetInt("agents")
	rate, _ := fl.GetFloat64("rate")
	duration, _ := fl.GetDuration("duration")
	taskSeconds, _ := fl.GetFloat64("task-seconds")
	mode, _ := fl.GetString("mode")
	cpus, _ := fl.GetFloat64("cpus")
	mem, _ := fl.GetFloat64("mem")
	res, _ := fl.GetString("resources")
	if agents < 1 || rate <= 0 || duration <= 0 || taskSeconds < 0 {
		return errors.New("--agents, --rate and --duration must be positive, --task-seconds not negative")
	}
	cfg := loadConfig{CPUs: cpus, Mem: mem}
	switch mode {
	case "sleep":
		cfg.Command = fmt.Sprintf("sleep %g", taskSeconds)
	case "kill":
		// Anything but "sleep N" runs on a simulated agent until killed.
		cfg.Command, cfg.KillAfter = "churn", time.Duration(taskSeconds*float64(time.Second))
	default:
		return fmt.Errorf("--mode %q: want sleep or kill", mode)
	}
	total := int(math.Ceil(rate * duration.Seconds()))
	cfg.Capacity = total
	stopProfiles, err := startProfiles(cmd)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(cmd.Context(), duration+2*time.Minute)
	defer cancel()
	s, err := startLaunchSetup(ctx, "sim", agents, res, cfg)
	if err != nil {
		return err
	}
	defer s.close()
	load := benchkit.LoadAverage()
	cpuStart := benchkit.CPUSeconds()
	pace(ctx, s.fw, total, rate)
	// A cluster that falls behind the rate is a result, not an error: the
	// tasks not running 30 s after the last was queued are reported as
	// such (running < submitted).
	settle, stopSettle := context.WithTimeout(ctx, 30*time.Second)
	_ = s.fw.wait(settle, "the last tasks running", func() bool { return s.fw.running.Load()+s.fw.failed.Load() >= int64(total) })
	stopSettle()
	out := churnResult{Scenario: "churn", Mode: mode, Agents: agents, Rate: rate, DurationSeconds: duration.Seconds(),
		TaskSeconds: taskSeconds, CPUSeconds: benchkit.CPUSeconds() - cpuStart, RSSMB: benchkit.RSSMB(), Cores: runtime.NumCPU(), LoadAverage: load}
	out.AllocationRounds, out.AllocationMeanMs = s.master.allocationRounds()
	if err := stopProfiles(); err != nil {
		return err
	}
	fw := s.fw
	fw.close()
	s.fw = nil
	r := fw.result()
	out.Submitted, out.Running, out.Failed, out.Ended = r.Submitted, r.Running, r.Failed, int(fw.ended.Load())
	out.AcceptToRunning, out.SubmitToRunning = r.AcceptToRunning, r.SubmitToRunning
	if d := r.LastRunning.Sub(r.FirstSubmit); d > 0 {
		out.AchievedRate = float64(r.Running) / d.Seconds()
	}
	table := fmt.Sprintf("| churn (%s, %g s tasks) on %d sim agents, %g/s for %v | p50 | p90 | p99 | max |\n|---|---|---|---|---|\n",
		mode, taskSeconds, agents, rate, duration) +
		fmt.Sprintf("| ACCEPT → TASK_RUNNING | %.2f ms | %.2f ms | %.2f ms | %.2f ms |\n", out.AcceptToRunning.P50, out.AcceptToRunning.P90, out.AcceptToRunning.P99, out.AcceptToRunning.Max) +
		fmt.Sprintf("| submit → TASK_RUNNING | %.2f ms | %.2f ms | %.2f ms | %.2f ms |\n", out.SubmitToRunning.P50, out.SubmitToRunning.P90, out.SubmitToRunning.P99, out.SubmitToRunning.Max) +
		fmt.Sprintf("\n%d of %d submitted tasks ran (%d failed, %d ended): **%.0f tasks/s** achieved; process CPU %.1f s over %.0f s (%.0f%% of one core; master, agents and framework together), RSS %.0f MB; %d allocation rounds, mean %.2f ms; load average %.1f at the start.\n",
			out.Running, out.Submitted, out.Failed, out.Ended, out.AchievedRate, out.CPUSeconds, duration.Seconds(),
			100*out.CPUSeconds/duration.Seconds(), out.RSSMB, out.AllocationRounds, out.AllocationMeanMs, out.LoadAverage)
	return report(cmd.OutOrStdout(), out, table)
}

package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/corral-sched/corral/internal/testkit/benchkit"
)

func newBenchLaunchCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "launch --tasks N --agents K --isolation sim|posix|linux [--rate R | --one-at-a-time] [--baseline=false]",
		Short: "Launch N tasks on K agents through an SDK framework; report ACCEPT→RUNNING and submit→RUNNING latencies and tasks/s",
		Long: "Start a master, K agents (sim: simulated, nothing forked; posix, linux: real agents forking\n" +
			"real processes, linux in containers) and a framework on the SDK in this process, then queue N\n" +
			"tasks in the framework, all at once, --rate per second, or --one-at-a-time (each queued once the\n" +
			"one before runs: ACCEPT→RUNNING of a single launch, with nothing else in flight). The framework\n" +
			"packs queued tasks into the offers it holds, as many per offer as fit, one ACCEPT per offer.\n\n" +
			"Then, with the cluster gone, it measures the floor of this machine (--baseline=false skips it):\n" +
			"posix spawns the same N commands with os/exec, each in a fresh sandbox with stdout and stderr\n" +
			"files, from GOMAXPROCS×4 workers (one after another with --one-at-a-time), and reports the time\n" +
			"until all have started and corral's time over it (ratio_to_baseline). linux starts the same N\n" +
			"containers (`/bin/sh -c` the command, a root shaped like corral's) with `runc run -d` from as\n" +
			"many workers and reports the same; with --one-at-a-time it runs /bin/true under runc (create,\n" +
			"start, exit, delete) one container after another, min(N, 50) times, and reports its p50 and\n" +
			"corral's ACCEPT→RUNNING p50 over it (ratio_to_runc_p50). Without runc it says why not.",
		Args: cobra.NoArgs, RunE: runBenchLaunch}
	f := cmd.Flags()
	f.Int("tasks", 1000, "tasks to launch")
	f.Int("agents", 0, "agents (default: 20 sim, 3 posix or linux)")
	f.String("isolation", "sim", "agents' isolation: sim, posix or linux (root, cgroups)")
	f.Float64("rate", 0, "queue tasks at this many per second (0: all at once)")
	f.Bool("one-at-a-time", false, "queue each task once the one before runs, to time single launches")
	f.Float64("cpus", 0.01, "each task's cpus")
	f.Float64("mem", 8, "each task's memory, MB")
	f.String("command", "", `each task's command (default: "sleep 3600" sim, "sleep 120" otherwise; killed at the end)`)
	f.String("resources", "", "each agent's resources (default: "+simResources+" sim, "+posixResources+" otherwise)")
	f.Duration("timeout", 5*time.Minute, "give up after this long (the cluster run, then the baseline, each)")
	f.Bool("baseline", true, "after the run, time the same launches without corral (posix: os/exec; linux: runc)")
	profileFlags(cmd)
	return cmd
}

// launchResult is what `corral-bench launch` reports.
type launchResult struct {
	Scenario        string           `json:"scenario"`
	Isolation       string           `json:"isolation"`
	Agents          int              `json:"agents"`
	Tasks           int              `json:"tasks"`
	Rate            float64          `json:"rate_per_second"` // 0: all at once
	OneAtATime      bool             `json:"one_at_a_time,omitempty"`
	Running         int              `json:"running"`
	Failed          int              `json:"failed"`
	AcceptToRunning benchkit.Latency `json:"accept_to_running"`
	SubmitToRunning benchkit.Latency `json:"submit_to_running"`
	Seconds         float64          `json:"seconds"` // first submit → last TASK_RUNNING
	TasksPerSecond  float64          `json:"tasks_per_second"`
	RSSMB           float64          `json:"rss_mb"`
	CPUSeconds      float64          `json:"cpu_seconds"`
	Cores           int              `json:"cores"`
	LoadAverage     float64          `json:"load_avg_1m"` // at the start

	// The floor of this machine, measured after the run (bench_baseline.go).
	BaselineSeconds        float64 `json:"baseline_seconds,omitempty"` // first spawn → all started
	BaselineTasksPerSecond float64 `json:"baseline_tasks_per_second,omitempty"`
	BaselineWorkers        int     `json:"baseline_workers,omitempty"`
	RatioToBaseline        float64 `json:"ratio_to_baseline,omitempty"` // seconds / baseline_seconds
	RuncRuns               int     `json:"runc_runs,omitempty"`
	RuncP50                float64 `json:"runc_p50_ms,omitempty"`
	RatioToRuncP50         float64 `json:"ratio_to_runc_p50,omitempty"` // accept_to_running.p50_ms / runc_p50_ms
	// BaselineSkipped says why a baseline the isolation has is missing.
	BaselineSkipped string `json:"baseline_skipped,omitempty"`
}

// launchSetup is what launch and churn share: a master, agents and the
// load framework, in this process.
type launchSetup struct {
	master *benchMaster
	agents *benchkit.Agents
	fw     *loadFramework
	dir    string
}

func (s *launchSetup) close() {
	if s.fw != nil {
		s.fw.close()
	}
	if s.agents != nil {
		s.agents.Stop()
	}
	if s.master != nil {
		s.master.Close()
	}
	os.RemoveAll(s.dir)
}

// startLaunchSetup starts everything and waits until the framework holds
// an offer from every agent.
func startLaunchSetup(ctx context.Context, isolation string, agents int, res string, cfg loadConfig) (*launchSetup, error) {
	dir, err := os.MkdirTemp(workDirBase(isolation), "corral-bench-")
	if err != nil {
		return nil, err
	}
	s := &launchSetup{dir: dir}
	log := slog.New(slog.DiscardHandler)
	if s.master, err = startBenchMaster(dir, log); err != nil {
		s.close()
		return nil, err
	}
	labelled(ctx, "agents", func(actx context.Context) {
		s.agents, err = benchkit.StartAgents(actx, benchkit.AgentsOptions{Count: agents, Master: s.master.Addr,
			Isolation: isolation, Resources: res, Dir: filepath.Join(dir, "agents"), Logger: log})
	})
	if err != nil {
		s.close()
		return nil, err
	}
	if err := s.agents.WaitRegistered(ctx); err != nil {
		s.close()
		return nil, err
	}
	cfg.Master, cfg.Logger = s.master.Addr, log
	if s.fw, err = newLoadFramework(cfg); err != nil {
		s.close()
		return nil, err
	}
	labelled(ctx, "framework", func(fctx context.Context) { s.fw.start(fctx) })
	if err := s.fw.wait(ctx, "offers from every agent", func() bool { return s.fw.held.Load() >= int64(agents) }); err != nil {
		s.close()
		return nil, err
	}
	return s, nil
}

// workDirBase is where a benchmark keeps the agents' and the master's
// state. Simulated agents' work dirs go on tmpfs when there is one: each
// real agent checkpoints to a disk of its own, and a hundred of them
// sharing this machine's disk would measure that disk, not the control
// plane. Real agents keep theirs on the disk.
func workDirBase(isolation string) string {
	if isolation == "sim" {
		if st, err := os.Stat("/dev/shm"); err == nil && st.IsDir() {
			return "/dev/shm"
		}
	}
	return ""
}

// killAll kills the tasks that run and waits (within a minute) until they
// are gone: real agents leave their processes running when they stop.
func (s *launchSetup) killAll() error {
	s.fw.killAll()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	return s.fw.wait(ctx, "every task killed", func() bool { return s.fw.ended.Load()-s.fw.failed.Load() >= s.fw.running.Load() })
}

// launchParams are `bench launch`'s flags, checked and defaulted.
type launchParams struct {
	tasks, agents           int
	isolation, command, res string
	rate, cpus, mem         float64
	timeout                 time.Duration
	baseline, oneAtATime    bool
}

func runBenchLaunch(cmd *cobra.Command, _ []string) error {
	p, err := launchFlags(cmd)
	if err != nil {
		return err
	}
	out, err := launchOnCluster(cmd, p)
	if err != nil {
		return err
	}
	var baseErr error
	if p.baseline {
		ctx, cancel := context.WithTimeout(cmd.Context(), p.timeout)
		defer cancel()
		baseErr = out.addBaseline(ctx, p.command)
	}
	if err := report(cmd.OutOrStdout(), out, launchTable(out)); err != nil {
		return err
	}
	return baseErr
}

func launchFlags(cmd *cobra.Command) (launchParams, error) {
	fl := cmd.Flags()
	tasks, _ := fl.GetInt("tasks")
	agents, _ := fl.GetInt("agents")
	isolation, _ := fl.GetString("isolation")
	rate, _ := fl.GetFloat64("rate")
	cpus, _ := fl.GetFloat64("cpus")
	mem, _ := fl.GetFloat64("mem")
	command, _ := fl.GetString("command")
	res, _ := fl.GetString("resources")
	timeout, _ := fl.GetDuration("timeout")
	baseline, _ := fl.GetBool("baseline")
	oneAtATime, _ := fl.GetBool("one-at-a-time")
	switch isolation {
	case "sim", "posix", "linux":
	default:
		return launchParams{}, fmt.Errorf("--isolation %q: want sim, posix or linux", isolation)
	}
	if tasks < 1 || agents < 0 || rate < 0 {
		return launchParams{}, errors.New("--tasks must be at least 1, --agents and --rate not negative")
	}
	if oneAtATime && rate > 0 {
		return launchParams{}, errors.New("--one-at-a-time and --rate are two paces: give one")
	}
	real := isolation != "sim"
	if agents == 0 {
		agents = map[bool]int{false: 20, true: 3}[real]
	}
	if res == "" {
		res = map[bool]string{false: simResources, true: posixResources}[real]
	}
	if command == "" {
		command = map[bool]string{false: "sleep 3600", true: "sleep 120"}[real]
	}
	return launchParams{tasks: tasks, agents: agents, isolation: isolation, command: command, res: res,
		rate: rate, cpus: cpus, mem: mem, timeout: timeout, baseline: baseline, oneAtATime: oneAtATime}, nil
}

// launchOnCluster runs the benchmark proper; everything it started is
// gone when it returns.
func launchOnCluster(cmd *cobra.Command, p launchParams) (launchResult, error) {
	stopProfiles, err := startProfiles(cmd)
	if err != nil {
		return launchResult{}, err
	}
	ctx, cancel := context.WithTimeout(cmd.Context(), p.timeout)
	defer cancel()

	tasks := p.tasks
	s, err := startLaunchSetup(ctx, p.isolation, p.agents, p.res, loadConfig{CPUs: p.cpus, Mem: p.mem, Command: p.command, Capacity: tasks})
	if err != nil {
		return launchResult{}, err
	}
	defer s.close()
	load := benchkit.LoadAverage()
	cpuStart := benchkit.CPUSeconds()
	var waitErr error
	if p.oneAtATime {
		waitErr = oneAtATime(ctx, s.fw, tasks)
	} else {
		pace(ctx, s.fw, tasks, p.rate)
		waitErr = s.fw.wait(ctx, fmt.Sprintf("%d tasks running", tasks), func() bool {
			return s.fw.running.Load()+s.fw.failed.Load() >= int64(tasks)
		})
	}
	cpu := benchkit.CPUSeconds() - cpuStart
	rss := benchkit.RSSMB()
	if err := stopProfiles(); err != nil {
		return launchResult{}, err
	}
	var killErr error
	if p.isolation != "sim" {
		killErr = s.killAll() // simulated tasks die with their agents
	}
	fw := s.fw
	fw.close()
	s.fw = nil
	if waitErr != nil {
		return launchResult{}, waitErr
	}
	if killErr != nil {
		return launchResult{}, killErr
	}
	r := fw.result()
	out := launchResult{Scenario: "launch", Isolation: p.isolation, Agents: p.agents, Tasks: tasks, Rate: p.rate, OneAtATime: p.oneAtATime,
		Running: r.Running, Failed: r.Failed, AcceptToRunning: r.AcceptToRunning, SubmitToRunning: r.SubmitToRunning,
		RSSMB: rss, CPUSeconds: cpu, Cores: runtime.NumCPU(), LoadAverage: load}
	if d := r.LastRunning.Sub(r.FirstSubmit); d > 0 {
		out.Seconds = d.Seconds()
		out.TasksPerSecond = float64(r.Running) / d.Seconds()
	}
	return out, nil
}

func launchTable(r launchResult) string {
	var b strings.Builder
	how := "all queued at once"
	switch {
	case r.OneAtATime:
		how = "each queued once the one before runs"
	case r.Rate > 0:
		how = fmt.Sprintf("queued at %g/s", r.Rate)
	}
	fmt.Fprintf(&b, "| %s: %d tasks, %d agents, %s | p50 | p90 | p99 | max |\n|---|---|---|---|---|\n", r.Isolation, r.Tasks, r.Agents, how)
	for _, l := range []struct {
		name string
		l    benchkit.Latency
	}{{"ACCEPT → TASK_RUNNING", r.AcceptToRunning}, {"submit → TASK_RUNNING", r.SubmitToRunning}} {
		fmt.Fprintf(&b, "| %s | %.2f ms | %.2f ms | %.2f ms | %.2f ms |\n", l.name, l.l.P50, l.l.P90, l.l.P99, l.l.Max)
	}
	fmt.Fprintf(&b, "\n%d of %d TASK_RUNNING (%d failed) in %.2f s: **%.0f tasks/s** to RUNNING; process CPU %.1f s (master, agents and framework), RSS %.0f MB; load average %.1f at the start.\n",
		r.Running, r.Tasks, r.Failed, r.Seconds, r.TasksPerSecond, r.CPUSeconds, r.RSSMB, r.LoadAverage)
	if s := baselineSentence(r); s != "" {
		fmt.Fprintf(&b, "\n%s\n", s)
	}
	return b.String()
}

// oneAtATime queues tasks one by one, each once the one before has run
// (or failed), so that each ACCEPT→RUNNING is a launch's alone: what
// test/bench measured before it became this mode.
func oneAtATime(ctx context.Context, fw *loadFramework, tasks int) error {
	for i := range tasks {
		fw.submit(1)
		if err := fw.wait(ctx, fmt.Sprintf("task %d of %d running", i+1, tasks), func() bool {
			return fw.running.Load()+fw.failed.Load() >= int64(i+1)
		}); err != nil {
			return err
		}
	}
	return nil
}

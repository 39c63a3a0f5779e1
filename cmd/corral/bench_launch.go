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

	"github.com/corral-sched/corral/internal/benchkit"
)

func newBenchLaunchCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "launch --tasks N --agents K --isolation sim|posix|linux [--rate R]",
		Short: "Launch N tasks on K agents through an SDK framework; report ACCEPT→RUNNING and submit→RUNNING latencies and tasks/s",
		Long: "Start a master, K agents (sim: simulated, nothing forked; posix, linux: real agents forking\n" +
			"real processes, linux in containers) and a framework on the SDK in this process, then queue N\n" +
			"tasks in the framework, all at once or --rate per second. The framework packs queued tasks into\n" +
			"the offers it holds, as many per offer as fit, one ACCEPT per offer.",
		Args: cobra.NoArgs, RunE: runBenchLaunch}
	f := cmd.Flags()
	f.Int("tasks", 1000, "tasks to launch")
	f.Int("agents", 0, "agents (default: 20 sim, 3 posix or linux)")
	f.String("isolation", "sim", "agents' isolation: sim, posix or linux (root, cgroups)")
	f.Float64("rate", 0, "queue tasks at this many per second (0: all at once)")
	f.Float64("cpus", 0.01, "each task's cpus")
	f.Float64("mem", 8, "each task's memory, MB")
	f.String("command", "", `each task's command (default: "sleep 3600" sim, "sleep 120" otherwise; killed at the end)`)
	f.String("resources", "", "each agent's resources (default: "+simResources+" sim, "+posixResources+" otherwise)")
	f.Duration("timeout", 5*time.Minute, "give up after this long")
	profileFlags(cmd)
	return cmd
}

// launchResult is what `corral bench launch` reports.
type launchResult struct {
	Scenario        string           `json:"scenario"`
	Isolation       string           `json:"isolation"`
	Agents          int              `json:"agents"`
	Tasks           int              `json:"tasks"`
	Rate            float64          `json:"rate_per_second"` // 0: all at once
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

func runBenchLaunch(cmd *cobra.Command, _ []string) error {
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
	switch isolation {
	case "sim", "posix", "linux":
	default:
		return fmt.Errorf("--isolation %q: want sim, posix or linux", isolation)
	}
	if tasks < 1 || agents < 0 || rate < 0 {
		return errors.New("--tasks must be at least 1, --agents and --rate not negative")
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
	stopProfiles, err := startProfiles(cmd)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
	defer cancel()

	s, err := startLaunchSetup(ctx, isolation, agents, res, loadConfig{CPUs: cpus, Mem: mem, Command: command, Capacity: tasks})
	if err != nil {
		return err
	}
	defer s.close()
	load := benchkit.LoadAverage()
	cpuStart := benchkit.CPUSeconds()
	pace(ctx, s.fw, tasks, rate)
	waitErr := s.fw.wait(ctx, fmt.Sprintf("%d tasks running", tasks), func() bool {
		return s.fw.running.Load()+s.fw.failed.Load() >= int64(tasks)
	})
	cpu := benchkit.CPUSeconds() - cpuStart
	rss := benchkit.RSSMB()
	if err := stopProfiles(); err != nil {
		return err
	}
	var killErr error
	if real {
		killErr = s.killAll() // simulated tasks die with their agents
	}
	fw := s.fw
	fw.close()
	s.fw = nil
	if waitErr != nil {
		return waitErr
	}
	if killErr != nil {
		return killErr
	}
	r := fw.result()
	out := launchResult{Scenario: "launch", Isolation: isolation, Agents: agents, Tasks: tasks, Rate: rate,
		Running: r.Running, Failed: r.Failed, AcceptToRunning: r.AcceptToRunning, SubmitToRunning: r.SubmitToRunning,
		RSSMB: rss, CPUSeconds: cpu, Cores: runtime.NumCPU(), LoadAverage: load}
	if d := r.LastRunning.Sub(r.FirstSubmit); d > 0 {
		out.Seconds = d.Seconds()
		out.TasksPerSecond = float64(r.Running) / d.Seconds()
	}
	return report(cmd.OutOrStdout(), out, launchTable(out))
}

func launchTable(r launchResult) string {
	var b strings.Builder
	how := "all queued at once"
	if r.Rate > 0 {
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
	return b.String()
}

package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/cobra"
	"google.golang.org/protobuf/proto"

	"github.com/corral-sched/corral/agent"
	"github.com/corral-sched/corral/frameworks/sdk"
	"github.com/corral-sched/corral/master"
	"github.com/corral-sched/corral/proto/mesospb"
	"github.com/corral-sched/corral/proto/schedulerpb"
	"github.com/corral-sched/corral/store"
)

// corral bench: load the control plane with simulated agents, which speak
// the real agent protocol but fork nothing (isolation "sim": a task
// "sleep N" runs N seconds, anything else until killed).
func newBenchCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "bench", Short: "Load a master with simulated agents and measure it"}
	agents := &cobra.Command{Use: "agents --count N --master HOST:PORT", Short: "Run N simulated agents in this process against a master",
		Args: cobra.NoArgs, RunE: runBenchAgents}
	agents.Flags().Int("count", 100, "simulated agents")
	agents.Flags().String("master", "127.0.0.1:5050", "host:port of a master")
	agents.Flags().String("resources", "cpus:8;mem:16384;disk:100000;ports:[31000-32000]", "each agent's resources")
	agents.Flags().String("work-dir", "", "where the agents keep their state (default: a temporary directory)")
	scale := &cobra.Command{Use: "scale --agents N", Short: "Start a master and N simulated agents; report registration, first offers, allocation time, memory and CPU",
		Args: cobra.NoArgs, RunE: runBenchScale}
	scale.Flags().Int("agents", 1000, "simulated agents")
	scale.Flags().String("resources", "cpus:8;mem:16384;disk:100000;ports:[31000-32000]", "each agent's resources")
	scale.Flags().Duration("timeout", 5*time.Minute, "give up after this long")
	scale.Flags().String("cpuprofile", "", "write a CPU profile of the run (master and agents) to this file")
	cmd.AddCommand(agents, scale)
	addBenchScenarios(cmd)
	return cmd
}

// simAgents starts n simulated agents against master; each gets a port
// number of its own for its AgentInfo but no listener (the master never
// dials agents).
func simAgents(ctx context.Context, n int, masterAddr, res, dir string, log *slog.Logger) ([]*agent.Agent, func(), error) {
	var list []*agent.Agent
	var cancels []context.CancelFunc
	var done []chan struct{}
	stop := func() {
		for i, c := range cancels {
			c()
			<-done[i]
		}
	}
	for i := range n {
		a, err := agent.New(agent.Config{
			Master: masterAddr, Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(20000+i%40000)),
			Hostname: fmt.Sprintf("sim-%d", i), WorkDir: filepath.Join(dir, fmt.Sprintf("sim-%d", i)),
			Resources: res, Attributes: fmt.Sprintf("rack:r%d", i%10), Isolation: "sim",
			RegisterBackoff: 50 * time.Millisecond, DiskWatchInterval: time.Hour,
			Registerer: prometheus.NewRegistry(), Logger: log,
		})
		if err != nil {
			stop()
			return nil, nil, err
		}
		actx, cancel := context.WithCancel(ctx)
		ch := make(chan struct{})
		go func() { _ = a.Run(actx); close(ch) }()
		list, cancels, done = append(list, a), append(cancels, cancel), append(done, ch)
	}
	return list, stop, nil
}

func runBenchAgents(cmd *cobra.Command, _ []string) error {
	count, _ := cmd.Flags().GetInt("count")
	if count < 1 {
		return errors.New("--count must be at least 1")
	}
	masterAddr, _ := cmd.Flags().GetString("master")
	res, _ := cmd.Flags().GetString("resources")
	dir, _ := cmd.Flags().GetString("work-dir")
	if dir == "" {
		var err error
		if dir, err = os.MkdirTemp("", "corral-sim-"); err != nil {
			return err
		}
		defer os.RemoveAll(dir)
	}
	ctx, cancel := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
	defer cancel()
	agents, stop, err := simAgents(ctx, count, masterAddr, res, dir, slog.New(slog.DiscardHandler))
	if err != nil {
		return err
	}
	defer stop()
	start := time.Now()
	for registered(agents) < count {
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(100 * time.Millisecond):
		}
	}
	fmt.Fprintf(cmd.OutOrStdout(), "%d simulated agents registered in %v; Ctrl-C stops them\n", count, time.Since(start).Round(time.Millisecond))
	<-ctx.Done()
	return nil
}

func registered(agents []*agent.Agent) int {
	n := 0
	for _, a := range agents {
		if a.Connected() {
			n++
		}
	}
	return n
}

// scaleResult is what `corral bench scale` reports.
type scaleResult struct {
	Scenario          string  `json:"scenario"`
	Agents            int     `json:"agents"`
	Cores             int     `json:"cores"`
	RegisterSeconds   float64 `json:"register_seconds"`
	FirstOfferSeconds float64 `json:"first_offer_seconds"`
	AllOffersSeconds  float64 `json:"all_agents_offered_seconds"`
	AllocationMeanMs  float64 `json:"allocation_round_mean_ms"`
	AllocationRounds  uint64  `json:"allocation_rounds"`
	RSSMB             float64 `json:"rss_mb"`
	CPUSeconds        float64 `json:"cpu_seconds"`
}

func runBenchScale(cmd *cobra.Command, _ []string) error {
	n, _ := cmd.Flags().GetInt("agents")
	if n < 1 {
		return errors.New("--agents must be at least 1")
	}
	res, _ := cmd.Flags().GetString("resources")
	timeout, _ := cmd.Flags().GetDuration("timeout")
	if path, _ := cmd.Flags().GetString("cpuprofile"); path != "" {
		f, err := os.Create(path)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	dir, err := os.MkdirTemp("", "corral-bench-scale-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
	defer cancel()
	log := slog.New(slog.DiscardHandler)

	ln, err := listen("127.0.0.1:0")
	if err != nil {
		return err
	}
	registry, err := store.OpenLocal(filepath.Join(dir, "master"))
	if err != nil {
		ln.Close()
		return err
	}
	defer registry.Close()
	reg := prometheus.NewRegistry()
	m, err := master.New(master.Config{Addr: ln.Addr().String(), WorkDir: filepath.Join(dir, "master"), Store: registry,
		Registerer: reg, Logger: log, AgentPingTimeout: 15 * time.Second})
	if err != nil {
		ln.Close()
		return err
	}
	srv := serveHTTP(ln, m.Handler(), log)
	mctx, stopMaster := context.WithCancel(context.Background())
	mdone := make(chan struct{})
	go func() { _ = m.Run(mctx); close(mdone) }()
	defer func() { srv.shutdown(); stopMaster(); <-mdone }()

	cpuStart := cpuSeconds()
	start := time.Now()
	agents, stop, err := simAgents(ctx, n, ln.Addr().String(), res, filepath.Join(dir, "agents"), log)
	if err != nil {
		return err
	}
	defer stop()
	for registered(agents) < n {
		if ctx.Err() != nil {
			return fmt.Errorf("%d of %d agents registered within %v", registered(agents), n, timeout)
		}
		time.Sleep(20 * time.Millisecond) // polling for registration
	}
	out := scaleResult{Scenario: "scale", Agents: n, Cores: runtime.NumCPU(), RegisterSeconds: time.Since(start).Seconds()}

	// A framework subscribes: how soon is it offered anything, and every
	// agent?
	offered := make(map[string]bool)
	var first atomic.Int64
	all := make(chan struct{})
	subscribed := time.Now()
	s, err := sdk.New(sdk.Config{Master: ln.Addr().String(), Logger: log,
		Framework: &mesospb.FrameworkInfo{User: proto.String("root"), Name: proto.String("bench")}},
		sdk.HandlerFunc(func(ctx context.Context, ev *schedulerpb.Event) error {
			for _, o := range ev.GetOffers().GetOffers() {
				first.CompareAndSwap(0, int64(time.Since(subscribed)))
				if !offered[o.GetAgentId().GetValue()] {
					offered[o.GetAgentId().GetValue()] = true
					if len(offered) == n {
						close(all)
					}
				}
			}
			return nil
		}))
	if err != nil {
		return err
	}
	sctx, stopFramework := context.WithCancel(ctx)
	sdone := make(chan struct{})
	go func() { _ = s.Run(sctx); close(sdone) }()
	defer func() { stopFramework(); <-sdone }()
	select {
	case <-all:
	case <-ctx.Done():
		return fmt.Errorf("the framework was offered %d of %d agents within %v", len(offered), n, timeout)
	}
	out.FirstOfferSeconds = time.Duration(first.Load()).Seconds()
	out.AllOffersSeconds = time.Since(subscribed).Seconds()
	if families, err := reg.Gather(); err == nil {
		for _, f := range families {
			if f.GetName() == "corral_allocator_run_seconds" {
				h := f.GetMetric()[0].GetHistogram()
				out.AllocationRounds = h.GetSampleCount()
				if c := h.GetSampleCount(); c > 0 {
					out.AllocationMeanMs = 1000 * h.GetSampleSum() / float64(c)
				}
			}
		}
	}
	out.RSSMB = rssMB()
	out.CPUSeconds = cpuSeconds() - cpuStart
	b, _ := json.Marshal(out)
	w := cmd.OutOrStdout()
	fmt.Fprintln(w, string(b))
	fmt.Fprintf(w, "\n| agents | all registered | first offer | every agent offered | allocation round (mean of %d) | RSS (process, agents included) | CPU |\n|---|---|---|---|---|---|---|\n", out.AllocationRounds)
	fmt.Fprintf(w, "| %d | %.2f s | %.0f ms | %.2f s | %.2f ms | %.0f MB | %.1f s |\n", n, out.RegisterSeconds,
		out.FirstOfferSeconds*1000, out.AllOffersSeconds, out.AllocationMeanMs, out.RSSMB, out.CPUSeconds)
	return nil
}

// rssMB reads this process's resident memory.
func rssMB() float64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 64)
			return kb / 1024
		}
	}
	return 0
}

// cpuSeconds is this process's user and system CPU time.
func cpuSeconds() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}

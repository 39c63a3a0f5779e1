package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/protobuf/proto"

	"github.com/corral-sched/corral/frameworks/sdk"
	"github.com/corral-sched/corral/internal/httpserve"
	"github.com/corral-sched/corral/internal/testkit/benchkit"
	"github.com/corral-sched/corral/proto/mesospb"
	"github.com/corral-sched/corral/proto/schedulerpb"
)

// corral-bench scale: one master, N simulated agents registering at once,
// a framework taking every offer. It answers: how long until all are
// registered, how soon after its registration is each agent offered, and
// what the master costs in memory and CPU for N agents.
func newBenchScaleCommand() *cobra.Command {
	scale := &cobra.Command{Use: "scale --agents N", Short: "Start a master and N simulated agents; report registration, offer latency, allocation time, memory and CPU",
		Args: cobra.NoArgs, RunE: runBenchScale}
	f := scale.Flags()
	f.Int("agents", 1000, "simulated agents")
	f.String("resources", simResources, "each agent's resources")
	f.Duration("timeout", 5*time.Minute, "give up after this long")
	f.Bool("master-process", false, "run the master as a child process (corral master), so that its RSS and CPU are its own and not the agents'")
	f.Bool("framework-first", true, "subscribe the framework before the agents start (offers follow each registration); false: after all registered")
	f.String("connections", "auto", "own: each agent has its own HTTP/1.1 connections, as real agents do; shared: the agents multiplex over a few HTTP/2 connections; auto: own if the file descriptor limit allows")
	f.Int("agents-per-process", 10000, "run the agents in child processes (corral-bench agents) of at most this many each when there are more; 0: all in this process")
	f.Duration("hold", 0, "keep the agents heartbeating this long after every agent was offered, then count them and measure memory again")
	profileFlags(scale)
	return scale
}

// raiseFileLimit lets this process (and a master it starts, which inherits
// the limit) hold up to want file descriptors, as far as the hard limit
// allows (root may raise that up to fs.nr_open where it holds
// CAP_SYS_RESOURCE). It returns the limit now in force.
func raiseFileLimit(want uint64) (uint64, error) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0, fmt.Errorf("reading RLIMIT_NOFILE: %w", err)
	}
	if lim.Cur >= want {
		return lim.Cur, nil
	}
	if lim.Max < want {
		raised := syscall.Rlimit{Cur: want, Max: want}
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &raised); err == nil {
			return want, nil
		}
	}
	lim.Cur = min(want, lim.Max)
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0, fmt.Errorf("raising RLIMIT_NOFILE to %d: %w", lim.Cur, err)
	}
	return lim.Cur, nil
}

// sharedConnections decides --connections for n agents in one process:
// own (false) when asked, or with auto when it fits in the file
// descriptor limit, else shared (true). Each agent keeps its checkpoint
// log open and, with connections of its own, two connections to the
// master, whose ends are both in this process when the master is.
func sharedConnections(conns string, n int, masterInProcess bool) (bool, error) {
	perAgent := 3
	if masterInProcess {
		perAgent = 5
	}
	want := uint64(perAgent*n + 2048)
	limit, err := raiseFileLimit(want)
	if err != nil {
		return false, err
	}
	fit := limit >= want
	switch conns {
	case "auto":
		return !fit, nil
	case "own":
		if !fit {
			return false, fmt.Errorf("%d agents with connections of their own need %d file descriptors, more than RLIMIT_NOFILE allows here: use --connections shared", n, want)
		}
		return false, nil
	case "shared":
		return true, nil
	}
	return false, fmt.Errorf("--connections must be own, shared or auto, not %q", conns)
}

// scaleResult is what `corral-bench scale` reports.
type scaleResult struct {
	Scenario       string `json:"scenario"`
	Agents         int    `json:"agents"`
	Cores          int    `json:"cores"`
	MasterProcess  bool   `json:"master_process"`
	FrameworkFirst bool   `json:"framework_first"`
	Connections    string `json:"connections"` // own or shared
	// AgentProcesses is how many processes ran the agents (0: this one).
	AgentProcesses int `json:"agent_processes,omitempty"`
	// RegisterSeconds runs from starting the first agent to the last one
	// registered.
	RegisterSeconds float64 `json:"register_seconds"`
	// FirstOfferSeconds and AllOffersSeconds run from the framework's
	// subscription (after the agents registered), or with FrameworkFirst
	// from starting the first agent.
	FirstOfferSeconds float64 `json:"first_offer_seconds"`
	AllOffersSeconds  float64 `json:"all_agents_offered_seconds"`
	// OfferLatency is, per agent, from reading its SUBSCRIBED ack to the
	// framework receiving the first offer of its resources.
	OfferLatency     benchkit.Latency `json:"registration_to_offer"`
	AllocationMeanMs float64          `json:"allocation_round_mean_ms"`
	AllocationRounds uint64           `json:"allocation_rounds"`
	// RSSMB is this process's (agents and framework, and the master
	// unless MasterProcess); MasterRSSMB the master process's alone.
	RSSMB            float64 `json:"rss_mb"`
	MasterRSSMB      float64 `json:"master_rss_mb,omitempty"`
	MasterPeakRSSMB  float64 `json:"master_peak_rss_mb,omitempty"`
	MasterCPUSeconds float64 `json:"master_cpu_seconds,omitempty"`
	// CPUSeconds counts this process and the agents' processes.
	CPUSeconds float64 `json:"cpu_seconds"`
	// After --hold: agents still connected and the master's memory then.
	HoldSeconds        float64 `json:"hold_seconds,omitempty"`
	ConnectedAfterHold int     `json:"connected_after_hold,omitempty"`
	MasterRSSAfterHold float64 `json:"master_rss_after_hold_mb,omitempty"`
	// MasterMemory is the master process's Go runtime's account, read
	// last (after the hold, if any).
	MasterMemory *masterMemory `json:"master_memory,omitempty"`
}

func runBenchScale(cmd *cobra.Command, _ []string) error {
	fl := cmd.Flags()
	n, _ := fl.GetInt("agents")
	if n < 1 {
		return errors.New("--agents must be at least 1")
	}
	res, _ := fl.GetString("resources")
	timeout, _ := fl.GetDuration("timeout")
	child, _ := fl.GetBool("master-process")
	frameworkFirst, _ := fl.GetBool("framework-first")
	hold, _ := fl.GetDuration("hold")
	conns, _ := fl.GetString("connections")
	perProcess, _ := fl.GetInt("agents-per-process")
	if perProcess < 0 {
		return errors.New("--agents-per-process must not be negative")
	}
	inProcess := perProcess == 0 || n <= perProcess
	if inProcess {
		perProcess = n
	}
	shared, err := sharedConnections(conns, perProcess, !child && inProcess)
	if err != nil {
		return err
	}
	conns = "own"
	if shared {
		conns = "shared"
	}
	var bin string // the corral binary the master runs as; none: in this process
	if child {
		if bin, err = corralBinary(cmd); err != nil {
			return err
		}
	}
	stopProfiles, err := startProfiles(cmd)
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "corral-bench-scale-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	// The master's state stays on the disk; the agents', as in every
	// benchmark of simulated agents, goes where workDirBase says.
	agentsDir, err := os.MkdirTemp(workDirBase("sim"), "corral-bench-scale-agents-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(agentsDir)
	ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
	defer cancel()
	log := slog.New(slog.DiscardHandler)

	m, err := startScaleMaster(bin, dir, log)
	if err != nil {
		return err
	}
	defer m.stop()
	out := scaleResult{Scenario: "scale", Agents: n, Cores: runtime.NumCPU(), MasterProcess: child, FrameworkFirst: frameworkFirst, Connections: conns}
	cpuStart := benchkit.CPUSeconds()
	fw := newScaleFramework(n)
	if frameworkFirst {
		stopFramework, err := fw.run(ctx, m.addr, log)
		if err != nil {
			return err
		}
		defer stopFramework()
		select {
		case <-fw.subscribed:
		case <-ctx.Done():
			return errors.New("the framework did not subscribe")
		}
	}

	var agents fleet
	if inProcess {
		labelled(ctx, "agents", func(actx context.Context) {
			local := &localFleet{gate: newFleetGate(m.addr)}
			agents, err = local, local.start(actx, 0, n, m.addr, res, agentsDir, shared, log)
		})
	} else {
		agents, err = startProcessFleet(n, perProcess, m.addr, res, agentsDir, conns)
		out.AgentProcesses = (n + perProcess - 1) / perProcess
	}
	if err != nil {
		return err
	}
	defer agents.stop()
	// Every agent starts before any registers: the clock measures the
	// registrations, not the benchmark setting up its agents.
	for agents.waiting() < n {
		if ctx.Err() != nil {
			return fmt.Errorf("%d of %d agents started within %v", agents.waiting(), n, timeout)
		}
		time.Sleep(20 * time.Millisecond) // polling the agents' start
	}
	start := time.Now()
	agents.release()
	progress := time.Now()
	for agents.connected() < n {
		if ctx.Err() != nil {
			return fmt.Errorf("%d of %d agents registered within %v", agents.connected(), n, timeout)
		}
		if time.Since(progress) > 10*time.Second {
			progress = time.Now()
			fmt.Fprintf(cmd.ErrOrStderr(), "%v: %d of %d agents registered, %d offered\n",
				time.Since(start).Round(time.Second), agents.connected(), n, fw.count())
		}
		time.Sleep(20 * time.Millisecond) // polling for registration
	}
	out.RegisterSeconds = time.Since(start).Seconds()

	from := start
	if !frameworkFirst {
		from = time.Now()
		stopFramework, err := fw.run(ctx, m.addr, log)
		if err != nil {
			return err
		}
		defer stopFramework()
	}
	select {
	case <-fw.all:
	case <-ctx.Done():
		return fmt.Errorf("the framework was offered %d of %d agents within %v", fw.count(), n, timeout)
	}
	out.AllOffersSeconds = time.Since(from).Seconds()
	out.FirstOfferSeconds = fw.first().Sub(from).Seconds()
	out.OfferLatency = benchkit.Summarize(fw.latencies(agents.subscribedAt()))
	out.AllocationRounds, out.AllocationMeanMs = m.allocationRounds()
	out.RSSMB = benchkit.RSSMB()
	out.CPUSeconds = benchkit.CPUSeconds() - cpuStart
	if pf, ok := agents.(*processFleet); ok {
		out.CPUSeconds += pf.cpuSeconds()
	}
	if m.pid != 0 {
		out.MasterRSSMB, out.MasterPeakRSSMB = procStatusMB(m.pid, "VmRSS"), procStatusMB(m.pid, "VmHWM")
		out.MasterCPUSeconds, _ = benchkit.ProcCPUSeconds(m.pid)
	}
	if hold > 0 {
		select {
		case <-time.After(hold):
		case <-ctx.Done():
		}
		out.HoldSeconds, out.ConnectedAfterHold = hold.Seconds(), agents.connected()
		if m.pid != 0 {
			out.MasterRSSAfterHold = procStatusMB(m.pid, "VmRSS")
		}
	}
	out.MasterMemory = m.memory()
	if err := stopProfiles(); err != nil {
		return err
	}
	rss := fmt.Sprintf("%.0f MB (process, agents included)", out.RSSMB)
	if child {
		rss = fmt.Sprintf("%.0f MB (master process; peak %.0f MB)", out.MasterRSSMB, out.MasterPeakRSSMB)
	}
	l := out.OfferLatency
	table := fmt.Sprintf("| agents | all registered | every agent offered | registration → offer p50 / p99 / max | allocation round (mean of %d) | RSS | CPU |\n|---|---|---|---|---|---|---|\n", out.AllocationRounds) +
		fmt.Sprintf("| %d | %.2f s | %.2f s | %.0f / %.0f / %.0f ms | %.2f ms | %s | %.1f s |\n", n, out.RegisterSeconds,
			out.AllOffersSeconds, l.P50, l.P99, l.Max, out.AllocationMeanMs, rss, out.CPUSeconds+out.MasterCPUSeconds)
	if mm := out.MasterMemory; mm != nil {
		table += fmt.Sprintf("\nMaster memory (its Go runtime): heap %.0f MB in use, %.0f MB allocated (next GC at %.0f MB), stacks %.0f MB for %d goroutines, %.0f MB from the OS; %.1f KB of heap and stacks per agent.\n",
			mm.HeapInUseMB, mm.HeapLiveMB, mm.NextGCMB, mm.StackMB, mm.Goroutines, mm.SysMB, (mm.HeapInUseMB+mm.StackMB)*1024/float64(n))
	}
	return report(cmd.OutOrStdout(), out, table)
}

// scaleFramework is the framework of `bench scale`: it holds every offer
// and notes when each agent was first offered.
type scaleFramework struct {
	n          int
	subscribed chan struct{}
	all        chan struct{}

	mu        sync.Mutex
	offeredAt map[string]time.Time // guarded by mu; agent ID → first offer
	firstAt   time.Time            // guarded by mu
}

func newScaleFramework(n int) *scaleFramework {
	return &scaleFramework{n: n, subscribed: make(chan struct{}), all: make(chan struct{}), offeredAt: make(map[string]time.Time, n)}
}

// run subscribes the framework; the returned function stops it.
func (f *scaleFramework) run(ctx context.Context, masterAddr string, log *slog.Logger) (func(), error) {
	var once sync.Once
	s, err := sdk.New(sdk.Config{Master: masterAddr, Logger: log,
		Framework: &mesospb.FrameworkInfo{User: proto.String("root"), Name: proto.String("bench")}},
		sdk.HandlerFunc(func(ctx context.Context, ev *schedulerpb.Event) error {
			switch ev.GetType() {
			case schedulerpb.Event_SUBSCRIBED:
				once.Do(func() { close(f.subscribed) })
			case schedulerpb.Event_OFFERS:
				f.offers(time.Now(), ev.GetOffers().GetOffers())
			}
			return nil
		}))
	if err != nil {
		return nil, err
	}
	sctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	labelled(sctx, "framework", func(sctx context.Context) { go func() { _ = s.Run(sctx); close(done) }() })
	return func() { cancel(); <-done }, nil
}

func (f *scaleFramework) offers(at time.Time, offers []*mesospb.Offer) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.firstAt.IsZero() && len(offers) > 0 {
		f.firstAt = at
	}
	for _, o := range offers {
		id := o.GetAgentId().GetValue()
		if _, ok := f.offeredAt[id]; ok {
			continue
		}
		f.offeredAt[id] = at
		if len(f.offeredAt) == f.n {
			close(f.all)
		}
	}
}

func (f *scaleFramework) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.offeredAt)
}

func (f *scaleFramework) first() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.firstAt
}

// latencies are, per agent, the time from its registration ack to its
// first offer. An offer that reached the framework before the agent read
// its ack (both leave the master at once) counts as zero.
func (f *scaleFramework) latencies(subscribed map[string]time.Time) []time.Duration {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]time.Duration, 0, len(subscribed))
	for id, sub := range subscribed {
		if at, ok := f.offeredAt[id]; ok {
			out = append(out, max(at.Sub(sub), 0))
		}
	}
	return out
}

// scaleMaster is the master under test: in this process (its goroutines
// labelled component=master in CPU profiles), or a `corral master` child
// process whose memory and CPU are its own.
type scaleMaster struct {
	addr   string
	pid    int          // the child's; 0 in this process
	inProc *benchMaster // nil for a child
	stop   func()
}

// startScaleMaster starts a master in this process, or as a `bin master`
// child when bin is set.
func startScaleMaster(bin, dir string, log *slog.Logger) (*scaleMaster, error) {
	if bin != "" {
		return startMasterProcess(bin, filepath.Join(dir, "master"))
	}
	m, err := startBenchMaster(dir, log)
	if err != nil {
		return nil, err
	}
	return &scaleMaster{addr: m.Addr, inProc: m, stop: m.Close}, nil
}

// startMasterProcess runs `corral master` (bin) on a free loopback port
// and waits until it answers /health.
func startMasterProcess(bin, dir string) (*scaleMaster, error) {
	ln, err := httpserve.Listen("127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	addr := ln.Addr().String()
	ln.Close()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	logFile, err := os.Create(filepath.Join(dir, "master.log"))
	if err != nil {
		return nil, err
	}
	c := exec.Command(bin, "master", "--listen", addr, "--work-dir", dir, "--log-level", "warn")
	c.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM} // a benchmark killed midway leaves nothing running
	c.Stdout, c.Stderr = logFile, logFile
	if err := c.Start(); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("starting corral master: %w", err)
	}
	exited := make(chan struct{})
	go func() { _ = c.Wait(); logFile.Close(); close(exited) }()
	m := &scaleMaster{addr: addr, pid: c.Process.Pid, stop: func() {
		_ = c.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = c.Process.Kill()
			<-exited
		}
	}}
	for deadline := time.Now().Add(30 * time.Second); ; {
		resp, err := http.Get("http://" + addr + "/health")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return m, nil
			}
		}
		if time.Now().After(deadline) {
			m.stop()
			return nil, fmt.Errorf("corral master at %s did not answer /health within 30 s", addr)
		}
		select {
		case <-exited:
			return nil, fmt.Errorf("corral master exited; see %s", filepath.Join(dir, "master.log"))
		case <-time.After(50 * time.Millisecond): // polling for readiness
		}
	}
}

// allocationRounds reads the allocator's round-time histogram: rounds run
// and their mean in milliseconds.
func (m *scaleMaster) allocationRounds() (uint64, float64) {
	if m.inProc != nil {
		return m.inProc.allocationRounds()
	}
	v := m.metrics("corral_allocator_run_seconds_count", "corral_allocator_run_seconds_sum")
	count, sum := v["corral_allocator_run_seconds_count"], v["corral_allocator_run_seconds_sum"]
	if count == 0 {
		return 0, 0
	}
	return uint64(count), 1000 * sum / count
}

// memory reads where a master process's memory is, from the Go
// collector of its /metrics; nil for a master in this process.
func (m *scaleMaster) memory() *masterMemory {
	if m.inProc != nil {
		return nil
	}
	v := m.metrics("go_memstats_heap_inuse_bytes", "go_memstats_heap_alloc_bytes", "go_memstats_stack_inuse_bytes",
		"go_memstats_sys_bytes", "go_memstats_next_gc_bytes", "go_goroutines")
	if len(v) == 0 {
		return nil
	}
	const mb = 1 << 20
	return &masterMemory{HeapInUseMB: v["go_memstats_heap_inuse_bytes"] / mb, HeapLiveMB: v["go_memstats_heap_alloc_bytes"] / mb,
		StackMB: v["go_memstats_stack_inuse_bytes"] / mb, SysMB: v["go_memstats_sys_bytes"] / mb,
		NextGCMB: v["go_memstats_next_gc_bytes"] / mb, Goroutines: int(v["go_goroutines"])}
}

// masterMemory is a master process's memory as its Go runtime sees it.
type masterMemory struct {
	HeapInUseMB float64 `json:"heap_in_use_mb"`
	HeapLiveMB  float64 `json:"heap_allocated_mb"` // reachable and not yet collected
	StackMB     float64 `json:"stacks_mb"`
	SysMB       float64 `json:"from_os_mb"`
	NextGCMB    float64 `json:"next_gc_mb"`
	Goroutines  int     `json:"goroutines"`
}

// metrics reads the named unlabelled samples of the master's /metrics.
func (m *scaleMaster) metrics(names ...string) map[string]float64 {
	resp, err := http.Get("http://" + m.addr + "/metrics")
	if err != nil {
		return nil
	}
	defer resp.Body.Close()
	out := make(map[string]float64, len(names))
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		name, value, _ := strings.Cut(sc.Text(), " ")
		if slices.Contains(names, name) {
			out[name], _ = strconv.ParseFloat(value, 64)
		}
	}
	return out
}

// procStatusMB reads a memory field of /proc/PID/status (VmRSS, VmHWM) in
// MB.
func procStatusMB(pid int, field string) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, field+":"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 64)
			return kb / 1024
		}
	}
	return 0
}

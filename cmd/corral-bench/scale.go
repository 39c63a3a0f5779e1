package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/cobra"
	"google.golang.org/protobuf/proto"

	"github.com/corral-sched/corral/agent"
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
	f.Duration("hold", 0, "keep the agents heartbeating this long after every agent was offered, then count them and measure memory again")
	profileFlags(scale)
	return scale
}

// agentsPerSourceIP bounds the agents that dial from one loopback address
// when each has connections of its own: two (its event stream and its
// calls), and one source address has about 28,000 ephemeral ports
// (net.ipv4.ip_local_port_range) towards the master's address and port.
const agentsPerSourceIP = 5000

// simAgents starts n simulated agents against master; each gets a port
// number of its own for its AgentInfo but no listener (the master never
// dials agents).
//
// With shared false each has an HTTP client of its own, as a real agent
// has: two connections to the master, both ends in this process when the
// master is in it too. Agents then dial from 127.0.1.1, 127.0.1.2, ... so
// that tens of thousands do not run out of ephemeral ports. With shared
// true they all use one HTTP/2 client (h2c), which multiplexes their
// streams and calls over a few connections.
func simAgents(ctx context.Context, n int, masterAddr, res, dir string, shared bool, log *slog.Logger) ([]*agent.Agent, func(), error) {
	var list []*agent.Agent
	var cancels []context.CancelFunc
	var done []chan struct{}
	stop := func() {
		for i, c := range cancels {
			c()
			<-done[i]
		}
	}
	var h2 *http.Client
	if shared {
		var protocols http.Protocols
		protocols.SetUnencryptedHTTP2(true)
		h2 = &http.Client{Transport: &http.Transport{Proxy: nil, Protocols: &protocols, IdleConnTimeout: 90 * time.Second}}
	}
	for i := range n {
		client := h2
		if client == nil {
			dialer := &net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second,
				LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 1, byte(1+i/agentsPerSourceIP))}}
			client = &http.Client{Transport: &http.Transport{
				Proxy: nil, DialContext: dialer.DialContext, MaxIdleConnsPerHost: 2, IdleConnTimeout: 90 * time.Second,
			}}
		}
		a, err := agent.New(agent.Config{
			Master: masterAddr, Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(20000+i%40000)),
			Hostname: fmt.Sprintf("sim-%d", i), WorkDir: filepath.Join(dir, fmt.Sprintf("sim-%d", i)),
			Resources: res, Attributes: fmt.Sprintf("rack:r%d", i%10), Isolation: "sim",
			RegisterBackoff: 50 * time.Millisecond, DiskWatchInterval: time.Hour, HTTPClient: client,
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

func registered(agents []*agent.Agent) int {
	n := 0
	for _, a := range agents {
		if a.Connected() {
			n++
		}
	}
	return n
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

// ownConnectionsFit reports whether n agents with connections of their
// own fit in a process's file descriptor limit: each holds two connections
// to the master, whose ends are both in this process when the master is.
func ownConnectionsFit(n int, masterInProcess bool) (bool, uint64, error) {
	perAgent := 2
	if masterInProcess {
		perAgent = 4
	}
	want := uint64(perAgent*n + 2048)
	limit, err := raiseFileLimit(want)
	return limit >= want, want, err
}

// scaleResult is what `corral-bench scale` reports.
type scaleResult struct {
	Scenario       string `json:"scenario"`
	Agents         int    `json:"agents"`
	Cores          int    `json:"cores"`
	MasterProcess  bool   `json:"master_process"`
	FrameworkFirst bool   `json:"framework_first"`
	Connections    string `json:"connections"` // own or shared
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
	CPUSeconds       float64 `json:"cpu_seconds"`
	// After --hold: agents still connected and the master's memory then.
	HoldSeconds        float64 `json:"hold_seconds,omitempty"`
	ConnectedAfterHold int     `json:"connected_after_hold,omitempty"`
	MasterRSSAfterHold float64 `json:"master_rss_after_hold_mb,omitempty"`
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
	fit, want, err := ownConnectionsFit(n, !child)
	if err != nil {
		return err
	}
	switch {
	case conns == "auto" && fit:
		conns = "own"
	case conns == "auto":
		conns = "shared"
	case conns == "own" && !fit:
		return fmt.Errorf("%d agents with connections of their own need %d file descriptors, more than RLIMIT_NOFILE allows here: use --connections shared", n, want)
	case conns != "own" && conns != "shared":
		return fmt.Errorf("--connections must be own, shared or auto, not %q", conns)
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

	start := time.Now()
	var agents []*agent.Agent
	var stop func()
	labelled(ctx, "agents", func(actx context.Context) {
		agents, stop, err = simAgents(actx, n, m.addr, res, filepath.Join(dir, "agents"), conns == "shared", log)
	})
	if err != nil {
		return err
	}
	defer stop()
	progress := time.Now()
	for registered(agents) < n {
		if ctx.Err() != nil {
			return fmt.Errorf("%d of %d agents registered within %v", registered(agents), n, timeout)
		}
		if time.Since(progress) > 10*time.Second {
			progress = time.Now()
			fmt.Fprintf(cmd.ErrOrStderr(), "%v: %d of %d agents registered, %d offered\n",
				time.Since(start).Round(time.Second), registered(agents), n, fw.count())
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
	out.OfferLatency = benchkit.Summarize(fw.latencies(agents))
	out.AllocationRounds, out.AllocationMeanMs = m.allocationRounds()
	out.RSSMB = benchkit.RSSMB()
	out.CPUSeconds = benchkit.CPUSeconds() - cpuStart
	if m.pid != 0 {
		out.MasterRSSMB, out.MasterPeakRSSMB = procStatusMB(m.pid, "VmRSS"), procStatusMB(m.pid, "VmHWM")
		out.MasterCPUSeconds, _ = benchkit.ProcCPUSeconds(m.pid)
	}
	if hold > 0 {
		select {
		case <-time.After(hold):
		case <-ctx.Done():
		}
		out.HoldSeconds, out.ConnectedAfterHold = hold.Seconds(), registered(agents)
		if m.pid != 0 {
			out.MasterRSSAfterHold = procStatusMB(m.pid, "VmRSS")
		}
	}
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
func (f *scaleFramework) latencies(agents []*agent.Agent) []time.Duration {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]time.Duration, 0, len(agents))
	for _, a := range agents {
		if at, ok := f.offeredAt[a.ID()]; ok {
			out = append(out, max(at.Sub(a.SubscribedAt()), 0))
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
	resp, err := http.Get("http://" + m.addr + "/metrics")
	if err != nil {
		return 0, 0
	}
	defer resp.Body.Close()
	var count, sum float64
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		name, value, _ := strings.Cut(sc.Text(), " ")
		switch name {
		case "corral_allocator_run_seconds_count":
			count, _ = strconv.ParseFloat(value, 64)
		case "corral_allocator_run_seconds_sum":
			sum, _ = strconv.ParseFloat(value, 64)
		}
	}
	if count == 0 {
		return 0, 0
	}
	return uint64(count), 1000 * sum / count
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

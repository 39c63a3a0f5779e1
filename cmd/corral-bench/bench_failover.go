package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/corral-sched/corral/election"
	"github.com/corral-sched/corral/internal/benchkit"
	"github.com/corral-sched/corral/internal/zktest"
	"github.com/corral-sched/corral/proto/masterpb"
	"github.com/corral-sched/corral/proto/mesospb"
)

func newBenchFailoverCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "failover --agents N --tasks M",
		Short: "kill -9 the leading master under ZooKeeper; report time to a new leader, to every agent re-registered, to the first offer and to every task known",
		Long: "Start a ZooKeeper server (Debian's zookeeper package), --masters `corral master` processes (see\n" +
			"--corral) under leader election, N simulated agents in this process finding the leader through\n" +
			"ZooKeeper, and an SDK framework that runs M `sleep 100000` tasks spread over them. Then SIGKILL\n" +
			"the leader and time the new one taking over. --cpuprofile and --memprofile profile the master\n" +
			"that takes over (written when it is stopped at the end).",
		Args: cobra.NoArgs, RunE: runBenchFailover}
	f := cmd.Flags()
	f.Int("agents", 200, "simulated agents")
	f.Int("tasks", 1000, "tasks running before the kill")
	f.Int("masters", 2, "master processes")
	f.Duration("zk-session-timeout", 2*time.Second, "ZooKeeper session timeout of the masters, agents and framework")
	f.Duration("timeout", 10*time.Minute, "give up after this long")
	f.String("connections", "auto", "own: each agent has its own HTTP/1.1 connections, as real agents do; shared: the agents multiplex over HTTP/2; auto: own if the file descriptor limit allows")
	profileFlags(cmd)
	return cmd
}

// failoverResult is what `corral-bench failover` reports.
type failoverResult struct {
	Scenario       string  `json:"scenario"`
	Masters        int     `json:"masters"`
	Agents         int     `json:"agents"`
	Tasks          int     `json:"tasks"`
	Connections    string  `json:"connections"` // own or shared (HTTP/2)
	SessionTimeout float64 `json:"zk_session_timeout_seconds"`
	// Seconds after the SIGKILL of the leader.
	NewLeader          float64 `json:"new_leader_seconds"`
	AgentsReregistered float64 `json:"agents_reregistered_seconds"`
	FirstOffer         float64 `json:"first_offer_seconds"`
	TasksKnown         float64 `json:"tasks_known_seconds"`
	// ReregisterAfterLeader is AgentsReregistered − NewLeader: what the
	// "every agent back within 15 s of the election" target is about.
	ReregisterAfterLeader float64 `json:"reregister_after_leader_seconds"`
	TasksRunning          int     `json:"tasks_running_on_new_leader"`
	// The new leader process's CPU from the kill until every task was
	// known, and its RSS then.
	MasterCPUSeconds float64 `json:"master_cpu_seconds"`
	MasterRSSMB      float64 `json:"master_rss_mb"`
	Cores            int     `json:"cores"`
	LoadAverage      float64 `json:"load_avg_1m"` // at the start
}

// masterProc is one `corral master` child. Its profiles, if asked for,
// are taken by corral itself (CORRAL_CPUPROFILE, CORRAL_MEMPROFILE) and
// written when it stops.
type masterProc struct {
	addr    string
	cmd     *exec.Cmd
	done    chan struct{}
	profile string
}

func startMasterProc(bin, dir, zkURL string, session time.Duration, i int, cpuprofile, memprofile string) (*masterProc, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	addr := ln.Addr().String()
	ln.Close()
	mdir := filepath.Join(dir, fmt.Sprintf("master-%d", i))
	if err := os.MkdirAll(mdir, 0o755); err != nil {
		return nil, err
	}
	p := &masterProc{addr: addr, done: make(chan struct{})}
	// Only the profiles asked for here: not ones this process inherited.
	env := slices.DeleteFunc(os.Environ(), func(kv string) bool {
		return strings.HasPrefix(kv, "CORRAL_CPUPROFILE=") || strings.HasPrefix(kv, "CORRAL_MEMPROFILE=")
	})
	if cpuprofile != "" {
		p.profile = fmt.Sprintf("%s.master-%d", cpuprofile, i)
		env = append(env, "CORRAL_CPUPROFILE="+p.profile)
	}
	if memprofile != "" {
		env = append(env, fmt.Sprintf("CORRAL_MEMPROFILE=%s.master-%d", memprofile, i))
	}
	args := []string{"master", "--listen", addr, "--zk", zkURL, "--zk-session-timeout", session.String(),
		"--work-dir", mdir, "--log-level", "warn"}
	logFile, err := os.Create(filepath.Join(mdir, "stderr"))
	if err != nil {
		return nil, err
	}
	p.cmd = exec.Command(bin, args...)
	p.cmd.Env = env
	p.cmd.Stdout, p.cmd.Stderr = logFile, logFile
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := p.cmd.Start(); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("starting a master: %w", err)
	}
	go func() { _ = p.cmd.Wait(); logFile.Close(); close(p.done) }()
	return p, nil
}

// stop ends the master with sig and waits for it.
func (p *masterProc) stop(sig syscall.Signal) {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Signal(sig)
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// leaderOf is the index of the master that answers operator calls itself
// (standbys redirect), or -1.
func leaderOf(masters []*masterProc, skip int) int {
	for i, m := range masters {
		if i == skip {
			continue
		}
		if _, err := benchkit.Operator(m.addr, masterpb.Call_GET_HEALTH); err == nil {
			return i
		}
	}
	return -1
}

// poll calls cond every interval until it holds or ctx ends.
func poll(ctx context.Context, what string, interval time.Duration, cond func() bool) error {
	for !cond() {
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s: %w", what, ctx.Err())
		case <-time.After(interval): // polling another process
		}
	}
	return nil
}

func runBenchFailover(cmd *cobra.Command, _ []string) error {
	fl := cmd.Flags()
	agents, _ := fl.GetInt("agents")
	tasks, _ := fl.GetInt("tasks")
	nMasters, _ := fl.GetInt("masters")
	session, _ := fl.GetDuration("zk-session-timeout")
	timeout, _ := fl.GetDuration("timeout")
	cpuprofile, _ := fl.GetString("cpuprofile")
	memprofile, _ := fl.GetString("memprofile")
	if agents < 1 || tasks < 0 || nMasters < 2 {
		return errors.New("--agents must be at least 1, --masters at least 2, --tasks not negative")
	}
	conns, _ := fl.GetString("connections")
	var share bool
	switch conns {
	case "auto":
		share = !benchkit.FitsOwnClients(agents)
	case "own", "shared":
		share = conns == "shared"
	default:
		return fmt.Errorf("--connections must be own, shared or auto, not %q", conns)
	}
	bin, err := corralBinary(cmd)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
	defer cancel()
	h := &benchkit.Harness{}
	defer h.Close()
	dir := h.TempDir()
	var zk *zktest.Server
	if err := h.Do(func() { zk = zktest.Start(h) }); err != nil {
		return fmt.Errorf("ZooKeeper: %w", err)
	}
	zkURL := "zk://" + zk.Addr + "/corral"
	masters := make([]*masterProc, nMasters)
	for i := range masters {
		if masters[i], err = startMasterProc(bin, dir, zkURL, session, i, cpuprofile, memprofile); err != nil {
			return err
		}
		h.Cleanup(func() { masters[i].stop(syscall.SIGKILL) })
	}
	log := slog.New(slog.DiscardHandler)
	zs, err := election.Dial([]string{zk.Addr}, session, log)
	if err != nil {
		return err
	}
	h.Cleanup(zs.Close)
	detector := election.NewDetector(zs, "/corral")
	as, err := benchkit.StartAgents(ctx, benchkit.AgentsOptions{Count: agents, Detector: detector, Isolation: "sim",
		Resources: simResources, Dir: filepath.Join(dir, "agents"), RegisterBackoff: 100 * time.Millisecond,
		ShareClient: share, Logger: log})
	if err != nil {
		return err
	}
	h.Cleanup(as.Stop)
	if err := as.WaitRegistered(ctx); err != nil {
		return err
	}
	perAgent := max(1, (tasks+agents-1)/agents)
	fw, err := newLoadFramework(loadConfig{Detector: detector, CPUs: 0.01, Mem: 8, Command: "sleep 100000",
		Capacity: tasks, MaxPerOffer: perAgent, Logger: log})
	if err != nil {
		return err
	}
	fw.start(ctx)
	h.Cleanup(fw.close)
	if err := fw.wait(ctx, "offers from every agent", func() bool { return fw.held.Load() >= int64(agents) }); err != nil {
		return err
	}
	fw.submit(tasks)
	if err := fw.wait(ctx, fmt.Sprintf("%d tasks running", tasks), func() bool { return fw.running.Load() >= int64(tasks) }); err != nil {
		return err
	}
	leader := leaderOf(masters, -1)
	if leader < 0 {
		return errors.New("no leading master before the kill")
	}

	load := benchkit.LoadAverage()
	fw.watchOffers()
	killed := time.Now()
	masters[leader].stop(syscall.SIGKILL)
	out := failoverResult{Scenario: "failover", Masters: nMasters, Agents: agents, Tasks: tasks, Connections: map[bool]string{false: "own", true: "shared"}[share],
		SessionTimeout: session.Seconds(), Cores: runtime.NumCPU(), LoadAverage: load}
	since := func() float64 { return time.Since(killed).Seconds() }
	next := -1
	if err := poll(ctx, "a new leader", 5*time.Millisecond, func() bool { next = leaderOf(masters, leader); return next >= 0 }); err != nil {
		return err
	}
	out.NewLeader = since()
	newLeader := masters[next]
	cpuAtKill, _ := benchkit.ProcCPUSeconds(newLeader.cmd.Process.Pid)
	// GET_AGENTS lists every agent: polled more often, it would be a load
	// on the master it measures.
	if err := poll(ctx, "every agent re-registered", 100*time.Millisecond, func() bool {
		n, err := benchkit.ActiveAgents(newLeader.addr)
		return err == nil && n == agents
	}); err != nil {
		return err
	}
	out.AgentsReregistered = since()
	out.ReregisterAfterLeader = out.AgentsReregistered - out.NewLeader
	if err := fw.wait(ctx, "an offer from the new leader", func() bool { return fw.firstOfferAfter.Load() != 0 }); err != nil {
		return err
	}
	out.FirstOffer = time.Unix(0, fw.firstOfferAfter.Load()).Sub(killed).Seconds()
	if err := poll(ctx, "every task known as running", 250*time.Millisecond, func() bool {
		out.TasksRunning = runningTasks(newLeader.addr)
		return out.TasksRunning >= tasks
	}); err != nil {
		return fmt.Errorf("%w (%d of %d)", err, out.TasksRunning, tasks)
	}
	out.TasksKnown = since()
	if cpu, err := benchkit.ProcCPUSeconds(newLeader.cmd.Process.Pid); err == nil {
		out.MasterCPUSeconds = cpu - cpuAtKill
	}
	out.MasterRSSMB = benchkit.ProcRSSMB(newLeader.cmd.Process.Pid)

	// Stop the survivors gently, so that their profiles are written; the
	// new leader's is the one asked for.
	for i, m := range masters {
		if i != leader {
			m.stop(syscall.SIGTERM)
		}
	}
	if cpuprofile != "" {
		if err := os.Rename(newLeader.profile, cpuprofile); err != nil {
			return fmt.Errorf("--cpuprofile: %w", err)
		}
	}
	if memprofile != "" {
		if err := os.Rename(fmt.Sprintf("%s.master-%d", memprofile, next), memprofile); err != nil {
			return fmt.Errorf("--memprofile: %w", err)
		}
	}
	table := fmt.Sprintf("| %d masters, %d sim agents (%s connections), %d tasks, ZooKeeper session %v | after kill -9 of the leader |\n|---|---|\n", nMasters, agents, out.Connections, tasks, session) +
		fmt.Sprintf("| new leader serving | %.2f s |\n", out.NewLeader) +
		fmt.Sprintf("| every agent re-registered | %.2f s (%.2f s after the new leader) |\n", out.AgentsReregistered, out.ReregisterAfterLeader) +
		fmt.Sprintf("| first offer to the framework | %.2f s |\n", out.FirstOffer) +
		fmt.Sprintf("| all %d tasks known RUNNING by the new leader | %.2f s (%d running) |\n", tasks, out.TasksKnown, out.TasksRunning) +
		fmt.Sprintf("| new leader's CPU from the kill to then, RSS | %.1f s, %.0f MB |\n", out.MasterCPUSeconds, out.MasterRSSMB) +
		fmt.Sprintf("\nLoad average %.1f at the kill.\n", out.LoadAverage)
	return report(cmd.OutOrStdout(), out, table)
}

// runningTasks counts the tasks the master at addr knows as running, -1
// if it does not answer.
func runningTasks(addr string) int {
	resp, err := benchkit.Operator(addr, masterpb.Call_GET_TASKS)
	if err != nil {
		return -1
	}
	n := 0
	for _, t := range resp.GetGetTasks().GetTasks() {
		if t.GetState() == mesospb.TaskState_TASK_RUNNING {
			n++
		}
	}
	return n
}

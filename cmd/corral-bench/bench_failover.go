package main

import (
	"context"
	"fmt"
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

	"github.com/corral-sched/corral/internal/testkit/benchkit"
	"github.com/corral-sched/corral/proto/masterpb"
	"github.com/corral-sched/corral/proto/mesospb"
)

func newBenchFailoverCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "failover --agents N --tasks M [--rounds R] [--zk-servers 3]",
		Short: "kill -9 the leading master under ZooKeeper; report time to a new leader, to every agent re-registered, to the first offer and to every task known",
		Long: "Start a ZooKeeper server (Debian's zookeeper package; --zk-servers 3 for an ensemble), --masters\n" +
			"`corral master` processes (see --corral) under leader election, N simulated agents in this process\n" +
			"finding the leader through ZooKeeper, and an SDK framework that runs M `sleep 100000` tasks spread\n" +
			"over them. Then SIGKILL the leader and time the new one taking over; with --rounds R, start the\n" +
			"killed master again as a standby and kill the new leader, R times in all. --cpuprofile and\n" +
			"--memprofile profile the master that takes over last (written when it is stopped at the end).",
		Args: cobra.NoArgs, RunE: runBenchFailover}
	f := cmd.Flags()
	f.Int("agents", 200, "simulated agents")
	f.Int("tasks", 1000, "tasks running before the kill")
	f.Int("masters", 2, "master processes")
	f.Int("rounds", 1, "leader kills, each after the cluster settled on the leader before")
	f.Int("zk-servers", 1, "ZooKeeper servers (an ensemble when more than one)")
	f.Duration("zk-session-timeout", 2*time.Second, "ZooKeeper session timeout of the masters, agents and framework")
	f.Duration("timeout", 10*time.Minute, "give up after this long")
	f.String("connections", "auto", "own: each agent has its own HTTP/1.1 connections, as real agents do; shared: the agents multiplex over HTTP/2; auto: own if the file descriptor limit allows")
	profileFlags(cmd)
	return cmd
}

// failoverResult is what `corral-bench failover` reports: its top-level
// figures are the first round's (masters that started together, as after
// a deploy), Rounds every round's.
type failoverResult struct {
	Scenario         string  `json:"scenario"`
	Masters          int     `json:"masters"`
	Agents           int     `json:"agents"`
	Tasks            int     `json:"tasks"`
	ZooKeeperServers int     `json:"zk_servers"`
	Connections      string  `json:"connections"` // own or shared (HTTP/2)
	SessionTimeout   float64 `json:"zk_session_timeout_seconds"`
	failoverRound
	Rounds      []failoverRound `json:"rounds"`
	Cores       int             `json:"cores"`
	LoadAverage float64         `json:"load_avg_1m"` // at the start
}

// failoverRound is one kill of the leader, in seconds after the SIGKILL.
type failoverRound struct {
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

	killed int // the index of the master killed
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
	p, err := failoverFlags(cmd)
	if err != nil {
		return err
	}
	bin, err := corralBinary(cmd)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(cmd.Context(), p.timeout)
	defer cancel()
	h := &benchkit.Harness{}
	defer h.Close()
	c, err := startFailoverCluster(ctx, h, bin, p)
	if err != nil {
		return err
	}
	out := failoverResult{Scenario: "failover", Masters: p.masters, Agents: p.agents, Tasks: p.tasks,
		ZooKeeperServers: p.zkServers, Connections: map[bool]string{false: "own", true: "shared"}[p.share],
		SessionTimeout: p.session.Seconds(), Cores: runtime.NumCPU(), LoadAverage: benchkit.LoadAverage()}
	for round := 1; round <= p.rounds; round++ {
		r, err := c.killLeader(ctx, round)
		if err != nil {
			return fmt.Errorf("round %d: %w", round, err)
		}
		out.Rounds = append(out.Rounds, r)
		if round < p.rounds {
			// The killed master comes back as a standby, so that the next
			// round has a master to fail over to.
			if err := c.restart(ctx, r.killed); err != nil {
				return fmt.Errorf("round %d: %w", round, err)
			}
		}
	}
	out.failoverRound = out.Rounds[0]
	if err := c.stopAndKeepProfiles(p.cpuprofile, p.memprofile); err != nil {
		return err
	}
	return report(cmd.OutOrStdout(), out, failoverTable(out))
}

func failoverTable(out failoverResult) string {
	var b strings.Builder
	zk := "a ZooKeeper server"
	if out.ZooKeeperServers > 1 {
		zk = fmt.Sprintf("a %d-server ZooKeeper ensemble", out.ZooKeeperServers)
	}
	fmt.Fprintf(&b, "%d masters, %d sim agents (%s connections), %d tasks, %s, session timeout %v; seconds after kill -9 of the leader:\n\n",
		out.Masters, out.Agents, out.Connections, out.Tasks, zk, time.Duration(out.SessionTimeout*float64(time.Second)))
	b.WriteString("| round | new leader serving | every agent re-registered | first offer to the framework | all tasks known RUNNING | new leader's CPU, RSS |\n|---|---|---|---|---|---|\n")
	for i, r := range out.Rounds {
		fmt.Fprintf(&b, "| %d | %.2f s | %.2f s (%.2f s after the new leader) | %.2f s | %.2f s (%d running) | %.1f s, %.0f MB |\n",
			i+1, r.NewLeader, r.AgentsReregistered, r.ReregisterAfterLeader, r.FirstOffer, r.TasksKnown, r.TasksRunning, r.MasterCPUSeconds, r.MasterRSSMB)
	}
	fmt.Fprintf(&b, "\nLoad average %.1f at the first kill.\n", out.LoadAverage)
	return b.String()
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

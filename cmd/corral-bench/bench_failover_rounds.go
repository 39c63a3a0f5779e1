package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/corral-sched/corral/election"
	"github.com/corral-sched/corral/internal/testkit/benchkit"
	"github.com/corral-sched/corral/internal/testkit/zktest"
)

// failoverParams are `bench failover`'s flags, checked.
type failoverParams struct {
	agents, tasks, masters, rounds, zkServers int
	session, timeout                          time.Duration
	share                                     bool
	cpuprofile, memprofile                    string
}

func failoverFlags(cmd *cobra.Command) (failoverParams, error) {
	fl := cmd.Flags()
	var p failoverParams
	p.agents, _ = fl.GetInt("agents")
	p.tasks, _ = fl.GetInt("tasks")
	p.masters, _ = fl.GetInt("masters")
	p.rounds, _ = fl.GetInt("rounds")
	p.zkServers, _ = fl.GetInt("zk-servers")
	p.session, _ = fl.GetDuration("zk-session-timeout")
	p.timeout, _ = fl.GetDuration("timeout")
	p.cpuprofile, _ = fl.GetString("cpuprofile")
	p.memprofile, _ = fl.GetString("memprofile")
	if p.agents < 1 || p.tasks < 0 || p.masters < 2 || p.rounds < 1 || p.zkServers < 1 {
		return p, errors.New("--agents, --rounds and --zk-servers must be at least 1, --masters at least 2, --tasks not negative")
	}
	conns, _ := fl.GetString("connections")
	switch conns {
	case "auto":
		p.share = !benchkit.FitsOwnClients(p.agents)
	case "own", "shared":
		p.share = conns == "shared"
	default:
		return p, fmt.Errorf("--connections must be own, shared or auto, not %q", conns)
	}
	return p, nil
}

// failoverCluster is what the failover benchmark kills masters in: the
// master processes, the agents and the framework, with tasks running.
type failoverCluster struct {
	p       failoverParams
	bin     string
	dir     string
	zkURL   string
	masters []*masterProc
	fw      *loadFramework
	leader  int // the master that took over last
}

// startFailoverCluster starts ZooKeeper, the masters, the agents and the
// framework, and waits until every task runs. h stops them all.
func startFailoverCluster(ctx context.Context, h *benchkit.Harness, bin string, p failoverParams) (*failoverCluster, error) {
	c := &failoverCluster{p: p, bin: bin, dir: h.TempDir()}
	var zk *zktest.Ensemble
	if err := h.Do(func() { zk = zktest.StartEnsemble(h, p.zkServers) }); err != nil {
		return nil, fmt.Errorf("ZooKeeper: %w", err)
	}
	c.zkURL = zk.URL("/corral")
	c.masters = make([]*masterProc, p.masters)
	for i := range c.masters {
		var err error
		if c.masters[i], err = startMasterProc(bin, c.dir, c.zkURL, p.session, i, p.cpuprofile, p.memprofile); err != nil {
			return nil, err
		}
		// The slot, not the process: a restarted master replaces it.
		h.Cleanup(func() { c.masters[i].stop(syscall.SIGKILL) })
	}
	log := slog.New(slog.DiscardHandler)
	zs, err := election.Dial(zk.Addrs(), p.session, log)
	if err != nil {
		return nil, err
	}
	h.Cleanup(zs.Close)
	detector := election.NewDetector(zs, "/corral")
	as, err := benchkit.StartAgents(ctx, benchkit.AgentsOptions{Count: p.agents, Detector: detector, Isolation: "sim",
		Resources: simResources, Dir: filepath.Join(c.dir, "agents"), RegisterBackoff: 100 * time.Millisecond,
		ShareClient: p.share, Logger: log})
	if err != nil {
		return nil, err
	}
	h.Cleanup(as.Stop)
	if err := as.WaitRegistered(ctx); err != nil {
		return nil, err
	}
	perAgent := max(1, (p.tasks+p.agents-1)/p.agents)
	c.fw, err = newLoadFramework(loadConfig{Detector: detector, CPUs: 0.01, Mem: 8, Command: "sleep 100000",
		Capacity: p.tasks, MaxPerOffer: perAgent, Logger: log})
	if err != nil {
		return nil, err
	}
	c.fw.start(ctx)
	h.Cleanup(c.fw.close)
	fw := c.fw
	if err := fw.wait(ctx, "offers from every agent", func() bool { return fw.held.Load() >= int64(p.agents) }); err != nil {
		return nil, err
	}
	fw.submit(p.tasks)
	if err := fw.wait(ctx, fmt.Sprintf("%d tasks running", p.tasks), func() bool { return fw.running.Load() >= int64(p.tasks) }); err != nil {
		return nil, err
	}
	return c, nil
}

// killLeader SIGKILLs the leading master and times the next one taking
// over, until it knows every task as running.
func (c *failoverCluster) killLeader(ctx context.Context, round int) (failoverRound, error) {
	leader := leaderOf(c.masters, -1)
	if leader < 0 {
		return failoverRound{}, errors.New("no leading master before the kill")
	}
	c.fw.watchOffers()
	killed := time.Now()
	c.masters[leader].stop(syscall.SIGKILL)
	r := failoverRound{killed: leader}
	since := func() float64 { return time.Since(killed).Seconds() }
	next := -1
	if err := poll(ctx, "a new leader", 5*time.Millisecond, func() bool { next = leaderOf(c.masters, leader); return next >= 0 }); err != nil {
		return r, err
	}
	r.NewLeader = since()
	c.leader = next
	newLeader := c.masters[next]
	cpuAtKill, _ := benchkit.ProcCPUSeconds(newLeader.cmd.Process.Pid)
	// GET_AGENTS lists every agent: polled more often, it would be a load
	// on the master it measures.
	if err := poll(ctx, "every agent re-registered", 100*time.Millisecond, func() bool {
		n, err := benchkit.ActiveAgents(newLeader.addr)
		return err == nil && n == c.p.agents
	}); err != nil {
		return r, err
	}
	r.AgentsReregistered = since()
	r.ReregisterAfterLeader = r.AgentsReregistered - r.NewLeader
	if err := c.fw.wait(ctx, "an offer from the new leader", func() bool { return c.fw.firstOfferAfter.Load() != 0 }); err != nil {
		return r, err
	}
	r.FirstOffer = time.Unix(0, c.fw.firstOfferAfter.Load()).Sub(killed).Seconds()
	if err := poll(ctx, "every task known as running", 250*time.Millisecond, func() bool {
		r.TasksRunning = runningTasks(newLeader.addr)
		return r.TasksRunning >= c.p.tasks
	}); err != nil {
		return r, fmt.Errorf("%w (%d of %d)", err, r.TasksRunning, c.p.tasks)
	}
	r.TasksKnown = since()
	if cpu, err := benchkit.ProcCPUSeconds(newLeader.cmd.Process.Pid); err == nil {
		r.MasterCPUSeconds = cpu - cpuAtKill
	}
	r.MasterRSSMB = benchkit.ProcRSSMB(newLeader.cmd.Process.Pid)
	return r, nil
}

// restart starts master i again and waits until it serves (as a
// standby: the leader's takeover was measured already).
func (c *failoverCluster) restart(ctx context.Context, i int) error {
	m, err := startMasterProc(c.bin, c.dir, c.zkURL, c.p.session, i, c.p.cpuprofile, c.p.memprofile)
	if err != nil {
		return err
	}
	c.masters[i] = m
	return poll(ctx, fmt.Sprintf("master %d serving again", i), 10*time.Millisecond, func() bool { return serves(m.addr) })
}

// serves reports whether the master at addr answers /health.
func serves(addr string) bool {
	resp, err := http.Get("http://" + addr + "/health")
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// stopAndKeepProfiles stops the masters still running gently, so that
// their profiles are written, and keeps the profiles of the master that
// took over last under the names asked for.
func (c *failoverCluster) stopAndKeepProfiles(cpuprofile, memprofile string) error {
	for _, m := range c.masters {
		m.stop(syscall.SIGTERM)
	}
	leader := c.leader
	if cpuprofile != "" {
		if err := os.Rename(c.masters[leader].profile, cpuprofile); err != nil {
			return fmt.Errorf("--cpuprofile: %w", err)
		}
	}
	if memprofile != "" {
		if err := os.Rename(fmt.Sprintf("%s.master-%d", memprofile, leader), memprofile); err != nil {
			return fmt.Errorf("--memprofile: %w", err)
		}
	}
	return nil
}

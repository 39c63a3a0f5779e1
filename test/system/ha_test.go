package system

import (
	"fmt"
	"net/http"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/corral-sched/corral/election"
	"github.com/corral-sched/corral/frameworks/sdk"
	"github.com/corral-sched/corral/internal/testkit/zktest"
	"github.com/corral-sched/corral/proto/masterpb"
)

// zkSessionTimeout is low so that a killed leader's znode goes quickly.
const zkSessionTimeout = "2s"

type haCluster struct {
	t           *testing.T
	zk          *zktest.Ensemble
	root        string
	masters     []*proc
	masterAddrs []string
	agents      []*proc
}

func startHACluster(t *testing.T, masters, agents int) *haCluster {
	t.Helper()
	c := &haCluster{t: t, root: t.TempDir()}
	// Registered first, so it runs last: tasks outlive their agents.
	t.Cleanup(func() { killSandboxTasks(c.root) })
	c.zk = zktest.StartEnsemble(t, 3)
	url := c.zk.URL("/corral")
	for i := range masters {
		addr := freeAddr(t)
		c.masterAddrs = append(c.masterAddrs, addr)
		c.masters = append(c.masters, startProc(t, fmt.Sprintf("master-%d", i), "master", "--listen", addr,
			"--zk", url, "--zk-session-timeout", zkSessionTimeout, "--work-dir", filepath.Join(c.root, fmt.Sprintf("master-%d", i)),
			"--agent-ping-timeout", "500ms", "--max-agent-ping-timeouts", "10", "--allocation-interval", "100ms", "--log-level", "debug"))
	}
	for i := range agents {
		c.agents = append(c.agents, startProc(t, fmt.Sprintf("agent-%d", i), "agent", "--listen", freeAddr(t),
			"--zk", url, "--zk-session-timeout", zkSessionTimeout, "--work-dir", filepath.Join(c.root, fmt.Sprintf("agent-%d", i)),
			"--hostname", fmt.Sprintf("agent-%d", i), "--isolation", "posix", "--resources", "cpus:2;mem:1024", "--log-level", "debug"))
	}
	return c
}

// leader returns the index of the master that answers operator calls
// itself, or -1.
func (c *haCluster) leader() int {
	for i, addr := range c.masterAddrs {
		if status, _, err := operator(addr, call(masterpb.Call_GET_HEALTH)); err == nil && status == http.StatusOK {
			return i
		}
	}
	return -1
}

func (c *haCluster) detector() sdk.Detector {
	c.t.Helper()
	s, err := election.Dial(c.zk.Addrs(), 2*time.Second, testLogger())
	if err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(s.Close)
	return election.NewDetector(s, "/corral")
}

// settled waits until the leader sees every agent active, the framework
// connected and all n tasks running, and the framework agrees.
func (c *haCluster) settled(f *fleet, agents, n int, within time.Duration) {
	c.t.Helper()
	var last clusterView
	waitFor(c.t, within, fmt.Sprintf("%d agents, the framework and %d running tasks (last seen %+v)", agents, n, &last), func() bool {
		i := c.leader()
		if i < 0 {
			return false
		}
		v, err := viewOf(c.masterAddrs[i], f.s.FrameworkID())
		if err != nil {
			return false
		}
		last = v
		return v.activeAgents == agents && v.connected && v.runningTasks == n && len(v.taskIDs) == n && f.allRunning()
	})
}

func TestLeaderKilledFiveTimesKeepsEveryTask(t *testing.T) {
	const tasks = 60
	began := time.Now()
	c := startHACluster(t, 3, 3)
	waitFor(t, 60*time.Second, "a leader", func() bool { return c.leader() >= 0 })
	t.Logf("ensemble and cluster up, leader elected after %v", time.Since(began).Round(time.Millisecond))
	f, _ := startFleet(t, tasks, sdk.Config{Detector: c.detector()}, false)
	c.settled(f, 3, tasks, 90*time.Second)
	t.Logf("%d tasks running after %v", tasks, time.Since(began).Round(time.Millisecond))
	pids := taskProcesses(t, c.root, "sleep", tasks)
	if len(pids) != tasks {
		t.Fatalf("%d task processes run, want %d", len(pids), tasks)
	}
	framework := f.s.FrameworkID()

	for round := 1; round <= 5; round++ {
		old := c.leader()
		if old < 0 {
			t.Fatal("no leader before the kill")
		}
		killed := time.Now()
		c.masters[old].kill9()
		c.masters[old].start()
		waitFor(t, 30*time.Second, "a new leader", func() bool { i := c.leader(); return i >= 0 && i != old })
		elected := time.Since(killed)
		c.settled(f, 3, tasks, 60*time.Second)
		t.Logf("round %d: leader %s killed; new leader %s serving after %v; agents, framework and %d tasks reconciled after %v",
			round, c.masterAddrs[old], c.masterAddrs[c.leader()], elected.Round(time.Millisecond), tasks, time.Since(killed).Round(time.Millisecond))
		f.checkIntact(t)
		if now := sandboxTasks(c.root, "sleep"); !slices.Equal(now, pids) {
			t.Fatalf("round %d: task processes changed: had %d (%v), now %d (%v)", round, len(pids), pids, len(now), now)
		}
		if f.s.FrameworkID() != framework {
			t.Fatalf("round %d: framework ID became %s, want %s", round, f.s.FrameworkID(), framework)
		}
	}
}

func TestZooKeeperQuorumLossAndRecovery(t *testing.T) {
	const tasks = 20
	c := startHACluster(t, 2, 2)
	waitFor(t, 60*time.Second, "a leader", func() bool { return c.leader() >= 0 })
	f, _ := startFleet(t, tasks, sdk.Config{Detector: c.detector()}, false)
	c.settled(f, 2, tasks, 90*time.Second)
	pids := taskProcesses(t, c.root, "sleep", tasks)
	leader := c.leader()

	// One member down: the quorum holds. Watch past the session timeout
	// (clients move their sessions to the other members): same leader,
	// nothing lost.
	c.zk.Servers[0].Stop()
	observeUntil := time.Now().Add(4 * time.Second)
	for time.Now().Before(observeUntil) {
		if i := c.leader(); i != leader {
			t.Fatalf("with one ZooKeeper member down, the leader changed from %d to %d", leader, i)
		}
		time.Sleep(100 * time.Millisecond) // sampling a steady state over a window
	}
	f.checkIntact(t)

	// Two down: no quorum. The leader must step down; tasks keep running.
	lost := time.Now()
	c.zk.Servers[1].Stop()
	waitFor(t, 30*time.Second, "the leader to step down", func() bool { return c.leader() < 0 })
	t.Logf("quorum lost: leader stepped down after %v", time.Since(lost).Round(time.Millisecond))
	for _, addr := range c.masterAddrs {
		if status, _, err := operator(addr, call(masterpb.Call_GET_HEALTH)); err != nil || status != http.StatusServiceUnavailable {
			t.Errorf("without a quorum, master %s answers %d (%v), want 503", addr, status, err)
		}
	}
	if now := sandboxTasks(c.root, "sleep"); !slices.Equal(now, pids) {
		t.Fatalf("tasks changed while ZooKeeper had no quorum: %d before, %d now", len(pids), len(now))
	}

	// Both back: a leader is elected and everything reconciles.
	back := time.Now()
	for _, s := range c.zk.Servers[:2] {
		if err := s.Launch(); err != nil {
			t.Fatal(err)
		}
	}
	if err := zktest.WaitServing(c.zk.Servers...); err != nil {
		t.Fatal(err)
	}
	c.settled(f, 2, tasks, 90*time.Second)
	t.Logf("quorum back: cluster reconciled after %v", time.Since(back).Round(time.Millisecond))
	f.checkIntact(t)
	if now := sandboxTasks(c.root, "sleep"); !slices.Equal(now, pids) {
		t.Fatalf("task processes changed across the quorum loss: %v, now %v", pids, now)
	}
}

package service

import (
	"slices"
	"testing"
	"time"

	"github.com/corral-sched/corral/frameworks/sdk/sdktest"
	"github.com/corral-sched/corral/master"
	"github.com/corral-sched/corral/proto/mesospb"
)

// Instances whose ACCEPT is slow to reach the master are not reconciled
// while it is on its way: the master, which does not know them yet, would
// answer TASK_GONE, and the framework would replace instances that were
// about to start.
func TestInstancesAreNotReconciledWhileTheirLaunchIsOnItsWay(t *testing.T) {
	c := startCluster(t, 1, nil)
	// Held for several reconcile intervals.
	proxy := sdktest.NewSlowAccepts(t, c.MasterURL, 1500*time.Millisecond)
	h := newTunedHarness(t, c, func(cfg *Config) { cfg.Master, cfg.ReconcileInterval = proxy.Addr, 300*time.Millisecond })
	h.do("POST", "/v2/apps", map[string]any{"id": "/slow", "cmd": "sleep 300", "cpus": 0.1, "mem": 16, "instances": 3}, 201)
	waitFor(t, 30*time.Second, "three instances running", func() bool {
		n, _ := h.running("/slow")
		return n == 3
	})
	if early := proxy.ReconciledInFlight(); len(early) > 0 {
		t.Fatalf("reconciled while their ACCEPT was on its way: %v", early)
	}
	if tasks := h.tasks("/slow"); len(tasks) != 3 {
		t.Fatalf("the app has %d tasks, want its 3 first ones: %+v", len(tasks), tasks)
	}
}

// A launch the master never took (its ACCEPT lost, as when the master
// fails over before handling it) is found gone by reconciliation within
// seconds, not at the next periodic reconciliation an hour away, and the
// instance is launched again.
func TestALostLaunchIsReconciledAndLaunchedAgain(t *testing.T) {
	// The lost ACCEPT's offer stays with the master until it times out.
	c := startCluster(t, 1, func(mc *master.Config) { mc.OfferTimeout = time.Second })
	proxy := sdktest.NewLostAccepts(t, c.MasterURL, 1)
	h := newTunedHarness(t, c, func(cfg *Config) { cfg.Master, cfg.ReconcileInterval = proxy.Addr, time.Hour })
	h.do("POST", "/v2/apps", map[string]any{"id": "/lost", "cmd": "sleep 300", "cpus": 0.1, "mem": 16, "instances": 3}, 201)
	waitFor(t, 30*time.Second, "three instances running", func() bool {
		n, _ := h.running("/lost")
		return n == 3
	})
	lost := proxy.Lost()
	if len(lost) == 0 {
		t.Fatal("no launch was lost: the test tested nothing")
	}
	for _, task := range h.tasks("/lost") {
		if slices.Contains(lost, task.ID) {
			t.Fatalf("%s, whose launch was lost, is still one of the app's tasks", task.ID)
		}
	}
}

// After a master failover the master says nothing of tasks on agents that
// have not re-registered, and an agent that never comes back brings no
// news either: the framework asks again, backing off, until it has an
// answer for every instance, rather than wait for its next periodic
// reconciliation, an hour away.
func TestReconciliationAsksAgainUntilEveryInstanceIsAnswered(t *testing.T) {
	// The kit's own settings: a master registry that survives FailOver,
	// the master's clock in the test's hands, and the observer.
	c := sdktest.Start(t, sdktest.Options{Agents: 2})
	h := newTunedHarness(t, c, func(cfg *Config) { cfg.ReconcileInterval = time.Hour })
	h.do("POST", "/v2/apps", map[string]any{"id": "/two", "cmd": "sleep 300", "cpus": 0.1, "mem": 16, "instances": 2,
		"constraints": [][]string{{"hostname", "UNIQUE"}}}, 201)
	waitFor(t, 30*time.Second, "two instances running", func() bool {
		n, _ := h.running("/two")
		return n == 2
	})
	cut := c.Agents[1].ID()
	var onCut string
	for _, task := range h.tasks("/two") {
		if task.SlaveID == cut {
			onCut = task.ID
		}
	}
	if onCut == "" {
		t.Fatalf("no instance on agent %s: %+v", cut, h.tasks("/two"))
	}
	// Every update acknowledged: none is left for an agent to send again.
	waitFor(t, 30*time.Second, "every update acknowledged", func() bool { return len(c.Unacknowledged(h.f.FrameworkID())) == 0 })

	c.Partition(1)
	if err := c.FailOver(); err != nil {
		t.Fatal(err)
	}
	// The new master knows agent 1 from its registry only: it does not
	// answer for the instance there until the agent re-registers or its
	// time to do so runs out.
	waitFor(t, 30*time.Second, "the instance on the cut agent to await an answer", func() bool { return h.f.recon.Pending() == 1 })
	c.Advance(11 * time.Minute) // past the master's agent_reregister_timeout
	waitFor(t, 30*time.Second, "an answer for every instance", func() bool { return h.f.recon.Pending() == 0 })
	unreachable := false
	for _, st := range c.Updates(h.f.FrameworkID()) {
		unreachable = unreachable || st.GetTaskId().GetValue() == onCut &&
			st.GetState() == mesospb.TaskState_TASK_UNREACHABLE && st.GetReason() == mesospb.TaskStatus_REASON_RECONCILIATION
	}
	if !unreachable {
		t.Fatalf("no reconciliation answered TASK_UNREACHABLE for %s", onCut)
	}
}

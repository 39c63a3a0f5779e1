package service

import (
	"testing"
	"time"

	"github.com/corral-sched/corral/frameworks/sdk/sdktest"
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

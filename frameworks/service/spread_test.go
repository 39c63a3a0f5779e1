package service

import (
	"testing"
	"time"

	"github.com/corral-sched/corral/master"
)

// hostsOf counts an app's running instances per host.
func (h *harness) hostsOf(appID string) map[string]int {
	out := map[string]int{}
	for _, task := range h.tasks(appID) {
		if task.State == "TASK_RUNNING" && !task.Killing {
			out[task.Host]++
		}
	}
	return out
}

// An app without constraints spreads its instances over the agents,
// though one agent's offer could take them all; scaled past the number
// of agents it still runs every instance, sharing hosts evenly.
func TestInstancesSpreadOverAgentsByDefault(t *testing.T) {
	h := newHarness(t, nil)
	h.do("POST", "/v2/apps", map[string]any{"id": "/web/spread", "cmd": "sleep 300", "cpus": 0.1, "mem": 16, "instances": 3}, 201)
	waitFor(t, 20*time.Second, "three instances running and the deployment done", func() bool {
		n, _ := h.running("/web/spread")
		return n == 3 && len(h.deployments()) == 0 // else the scale below meets it (409)
	})
	if hosts := h.hostsOf("/web/spread"); len(hosts) != 3 {
		t.Fatalf("3 instances on hosts %v, want 3 distinct", hosts)
	}

	h.do("PUT", "/v2/apps/web/spread", map[string]any{"instances": 5}, 200)
	waitFor(t, 30*time.Second, "five instances running", func() bool {
		n, _ := h.running("/web/spread")
		return n == 5
	})
	hosts := h.hostsOf("/web/spread")
	for host, n := range hosts {
		if n > 2 {
			t.Fatalf("5 instances on hosts %v: %s runs %d, want at most 2 per host", hosts, host, n)
		}
	}
	if len(hosts) != 3 {
		t.Fatalf("5 instances on hosts %v, want all 3 used", hosts)
	}
}

// Instances a spread held back while the framework could not yet know
// every agent go out once it settles, on the offers it declined: the
// framework revives rather than wait for their filters to lapse. The
// master here runs no periodic round, which is what would otherwise
// bring declined offers back, so without the revive the rest of the app
// would wait an hour.
func TestHeldInstancesLaunchOnceTheSpreadSettles(t *testing.T) {
	c := startCluster(t, 3, func(c *master.Config) { c.AllocationInterval = time.Hour })
	h := newTunedHarness(t, c, func(c *Config) { c.SpreadSettle, c.SpreadWait = 300*time.Millisecond, time.Hour })
	h.do("POST", "/v2/apps", map[string]any{"id": "/web/settle", "cmd": "sleep 300", "cpus": 0.1, "mem": 16, "instances": 7}, 201)
	waitFor(t, 20*time.Second, "seven instances running", func() bool {
		n, _ := h.running("/web/settle")
		return n == 7
	})
	for host, n := range h.hostsOf("/web/settle") {
		if n > 3 {
			t.Fatalf("7 instances on hosts %v: %s runs %d, want at most 3 per host", h.hostsOf("/web/settle"), host, n)
		}
	}
}

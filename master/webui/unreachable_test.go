package webui_test

import (
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/corral-sched/corral/master"
)

// A task on an agent that stopped answering is listed as TASK_UNREACHABLE
// (its framework, not partition-aware, heard TASK_LOST), live and after a
// reload, which reads GET_STATE's unreachable_tasks.
func TestTasksPageShowsUnreachableTasks(t *testing.T) {
	u := startUIWith(t, "#/tasks", uiOptions{master: func(c *master.Config) {
		c.AgentPingTimeout, c.MaxAgentPingTimeouts = 100*time.Millisecond, 3
	}})
	f := startFramework(t, u.cluster, "web", "web")
	agentID := f.launch("stranded", "sleep 60")
	u.waitFor("stranded running", row("tasks-table", "task", "stranded", `[data-state="TASK_RUNNING"]`))
	stopped := false
	for i, a := range u.cluster.Agents {
		if a.ID() == agentID {
			u.cluster.StopAgent(i)
			stopped = true
			break
		}
	}
	if !stopped {
		t.Fatalf("no agent %s in the cluster", agentID)
	}
	u.waitFor("stranded unreachable", row("tasks-table", "task", "stranded", `[data-state="TASK_UNREACHABLE"]`))

	_ = eval[bool](u, `window.beforeReload = true`)
	if err := chromedp.Do(u.ctx, chromedp.Reload()); err != nil {
		t.Fatalf("reloading the page: %v", err)
	}
	u.waitFor("the reloaded page to be live", `window.beforeReload === undefined && document.getElementById('conn')?.dataset.state === 'live'`)
	u.waitFor("stranded still listed as unreachable", row("tasks-table", "task", "stranded", `[data-state="TASK_UNREACHABLE"]`))
	u.screenshot("tasks-unreachable")
}

package webui_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/corral-sched/corral/master"
)

// The completed page lists the finished tasks the master remembers,
// newest first, with the reason and message of each: those that end
// while it is open, and after a reload the master's bounded history.
func TestCompletedPageListsFinishedTasksWithWhyTheyEnded(t *testing.T) {
	const perFramework, keep = 6, 4
	u := startUIWith(t, "#/completed", uiOptions{master: func(c *master.Config) { c.MaxCompletedTasksPerFramework = keep }})
	for i, name := range []string{"alpha", "beta", "gamma"} {
		f := startFramework(t, u.cluster, name, name)
		f.id()
		for j := range perFramework {
			cmd := "true"
			if j%2 == 0 {
				cmd = fmt.Sprintf("echo failing; exit %d", 3+i)
			}
			id := fmt.Sprintf("%s-%d", name, j)
			f.launch(id, cmd)
			// One after the other, so that "newest" is well defined.
			u.waitFor(id+" to end", row("completed-table", "task", id, ""))
		}
	}
	u.waitFor("every task to be listed as it ends", `document.querySelectorAll('#completed-table tbody tr').length === 18`)
	failed := row("completed-table", "task", "beta-2", `[data-state="TASK_FAILED"]`)
	u.waitFor("a failed task with its message", failed+
		` && document.querySelector('#completed-table tr[data-task="beta-2"] .message').textContent.includes('status 4')`)
	// A framework torn down: its running task ends TASK_KILLED, and the
	// page says why.
	doomed := startFramework(t, u.cluster, "delta", "delta")
	doomed.id()
	doomed.launch("delta-0", "sleep 600")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := doomed.s.Teardown(ctx); err != nil {
		t.Fatal(err)
	}
	u.waitFor("the torn-down framework's task with its reason", row("completed-table", "task", "delta-0", `[data-state="TASK_KILLED"]`)+
		` && document.querySelector('#completed-table tr[data-task="delta-0"] .reason').textContent === 'framework removed'`)

	// A new subscription gets the master's history: the newest few of
	// each framework, newest first.
	if err := chromedp.Do(u.ctx, chromedp.Reload()); err != nil {
		t.Fatalf("reloading the page: %v", err)
	}
	u.waitFor("the operator stream to be live again", `document.getElementById('conn')?.dataset.state === 'live'`)
	u.waitFor("the master's bounded history", fmt.Sprintf(`document.querySelectorAll('#completed-table tbody tr').length === %d`, 3*keep+1))
	perFw := eval[map[string]float64](u, `(() => { const n = {}; for (const r of document.querySelectorAll('#completed-table tbody tr')) n[r.dataset.framework] = (n[r.dataset.framework] || 0) + 1; return n })()`)
	for fw, n := range perFw {
		if n != keep && n != 1 { // delta finished one task
			t.Errorf("framework %s has %v finished tasks listed, want the newest %d", fw, n, keep)
		}
	}
	if !eval[bool](u, `(() => { const ts = [...document.querySelectorAll('#completed-table tbody tr')].map((r) => Number(r.dataset.updated));
		return ts.every((t, i) => i === 0 || ts[i - 1] >= t) })()`) {
		t.Error("the completed tasks are not listed newest first")
	}
	for _, gone := range []string{"alpha-0", "alpha-1", "gamma-1"} {
		if eval[bool](u, fmt.Sprintf(`!!document.querySelector('#completed-table tr[data-task=%q]')`, gone)) {
			t.Errorf("%s is listed; it is older than the newest %d of its framework", gone, keep)
		}
	}
	u.screenshot("completed")
}

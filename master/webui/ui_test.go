package webui_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
)

// row is a predicate: the table row for a task (or agent, framework,
// role) that also matches extra, a CSS suffix.
func row(table, attr, value, extra string) string {
	return fmt.Sprintf(`document.querySelector(%q) !== null`, fmt.Sprintf(`#%s tr[data-%s=%q]%s`, table, attr, value, extra))
}

func TestOverviewShowsAgentsAndResources(t *testing.T) {
	u := startUI(t, "#/")
	u.waitFor("two agents", `document.querySelector('#stat-agents .stat-value').textContent === '2'`)
	for resource, total := range map[string]string{"cpus": "8", "mem": "8192", "disk": "20000"} {
		u.waitFor("the cluster's "+resource, fmt.Sprintf(
			`document.querySelector('#cluster-resources .bar[data-resource=%q]')?.dataset.total === %q`, resource, total))
	}
	if got := eval[string](u, `document.querySelector('#roles-table td[data-resource="mem"]').textContent`); got != "8 GB" {
		t.Errorf("total mem shows %q, want 8 GB", got)
	}
	u.waitFor("the master's info", `document.getElementById('master-info')?.textContent.includes(`+fmt.Sprintf("%q", u.cluster.Master.ID())+`)`)
}

func TestAgentsPageShowsEveryAgentWithUsageBars(t *testing.T) {
	u := startUI(t, "#/agents")
	f := startFramework(t, u.cluster, "web", "web")
	for _, a := range u.cluster.Agents {
		u.waitFor("agent "+a.ID()+" with three bars", fmt.Sprintf(
			`document.querySelectorAll('#agents-table tr[data-agent=%q] .bar').length === 3`, a.ID()))
	}
	agentID := f.launch("busy", "sleep 60")
	u.waitFor("the agent's cpus bar to show the task", fmt.Sprintf(
		`document.querySelector('#agents-table tr[data-agent=%q] .bar[data-resource="cpus"]').dataset.used === '0.5'`, agentID))
	u.screenshot("agents")

	u.visit("#/agents/" + agentID)
	u.waitFor("the agent's task", row("tasks-table", "task", "busy", `[data-state="TASK_RUNNING"]`))
	u.waitFor("the agent's attributes", `document.getElementById('agent-attributes').textContent.includes('host')`)
	u.waitFor("the agent's cpus", `document.querySelector('#agent-resources .bar[data-resource="cpus"]').dataset.used === '0.5'`)
	u.screenshot("agent")
}

func TestTasksPageFollowsTheStreamWithoutReload(t *testing.T) {
	u := startUI(t, "#/tasks")
	_ = eval[bool](u, `window.loadedOnce = true`)
	f := startFramework(t, u.cluster, "web", "web")
	f.id()
	killed := f.launch("to-kill", "sleep 60")
	f.launch("to-finish", "echo working; while [ ! -e stop ]; do sleep 0.05; done")
	u.waitFor("to-kill running", row("tasks-table", "task", "to-kill", `[data-state="TASK_RUNNING"]`))
	u.waitFor("to-finish running", row("tasks-table", "task", "to-finish", `[data-state="TASK_RUNNING"]`))

	f.kill("to-kill", killed)
	u.waitFor("to-kill killed", row("tasks-table", "task", "to-kill", `[data-state="TASK_KILLED"]`))
	touch(t, u.sandboxFile("to-finish", "stop"))
	u.waitFor("to-finish finished", row("tasks-table", "task", "to-finish", `[data-state="TASK_FINISHED"]`))

	// The filters narrow the table and are kept in the location.
	_ = eval[bool](u, `(() => { const s = document.getElementById('filter-state'); s.value = 'TASK_KILLED'; s.dispatchEvent(new Event('change')); return true })()`)
	u.waitFor("only the killed task", `document.querySelectorAll('#tasks-table tbody tr').length === 1 && `+row("tasks-table", "task", "to-kill", ""))
	if h := eval[string](u, `location.hash`); h != "#/tasks?state=TASK_KILLED" {
		t.Errorf("location after filtering: %q", h)
	}
	_ = eval[bool](u, `(() => { const s = document.getElementById('filter-state'); s.value = ''; s.dispatchEvent(new Event('change'));
		const q = document.getElementById('filter-search'); q.value = 'finish'; q.dispatchEvent(new Event('input')); return true })()`)
	u.waitFor("only the searched task", `document.querySelectorAll('#tasks-table tbody tr').length === 1 && `+row("tasks-table", "task", "to-finish", ""))
	_ = eval[bool](u, `(() => { const q = document.getElementById('filter-search'); q.value = ''; q.dispatchEvent(new Event('input')); return true })()`)
	if !eval[bool](u, `window.loadedOnce === true`) {
		t.Error("the page was reloaded; updates must arrive on the stream")
	}
	u.screenshot("tasks")
}

func TestFrameworkPageListsItsTasksAndWebUI(t *testing.T) {
	u := startUI(t, "#/frameworks")
	f := startFramework(t, u.cluster, "web", "web")
	id := f.id()
	f.launch("served", "sleep 60")
	u.waitFor("the framework with its web UI link", fmt.Sprintf(
		`document.querySelector('#frameworks-table tr[data-framework=%q] a.webui-link')?.href === 'http://web.example.test/ui'`, id))
	u.screenshot("frameworks")
	u.visit("#/frameworks/" + id)
	u.waitFor("the framework's task", row("tasks-table", "task", "served", `[data-state="TASK_RUNNING"]`))
	u.waitFor("its allocation in role web", `document.getElementById('framework-allocation')?.textContent.includes('web')`)
	u.waitFor("its offers section", `document.getElementById('framework-offers') !== null`)
	u.screenshot("framework")
}

func TestSandboxBrowserShowsStdoutAndTailsIt(t *testing.T) {
	u := startUI(t, "#/")
	f := startFramework(t, u.cluster, "web", "web")
	id := f.id()
	f.launch("talker", "echo hello-from-task; while [ ! -e go ]; do sleep 0.05; done; echo later-line; sleep 60")
	u.visit("#/tasks/" + id + "/talker")
	u.waitFor("the task page", `document.querySelector('#main a[href*="/browse?"]') !== null`)
	_ = eval[bool](u, `(document.querySelector('#main a[href*="/browse?"]').click(), true)`)
	u.waitFor("stdout and stderr in the listing",
		`[...document.querySelectorAll('#sandbox-listing tr[data-path]')].map(r => r.dataset.path.split('/').pop()).join() .includes('stderr,stdout')`)
	_ = eval[bool](u, `(document.querySelector('#sandbox-listing tr[data-path$="/stdout"] a').click(), true)`)
	u.waitFor("the task's output", `document.getElementById('file-content')?.textContent.includes('hello-from-task')`)
	if eval[bool](u, `document.getElementById('file-content').textContent.includes('later-line')`) {
		t.Fatal("later-line is shown before the task wrote it")
	}
	touch(t, u.sandboxFile("talker", "go"))
	u.waitFor("the tail to pick up the later line", `document.getElementById('file-content').textContent.includes('hello-from-task\nlater-line\n')`)
	u.screenshot("sandbox")
}

func TestAllocationChartHasASeriesPerRole(t *testing.T) {
	u := startUI(t, "#/")
	web := startFramework(t, u.cluster, "web", "web")
	analytics := startFramework(t, u.cluster, "analytics", "analytics")
	web.launch("web-1", "sleep 60")
	analytics.launch("analytics-1", "sleep 60")
	for _, role := range []string{"web", "analytics"} {
		u.waitFor("a series for "+role+" at 0.5 cpus", fmt.Sprintf(
			`document.querySelector('#allocation-chart path.series[data-role=%q] title')?.textContent === %q`, role, role+": 0.5"))
	}
	if n := eval[int](u, `document.querySelectorAll('#allocation-chart path.series').length`); n != 2 {
		t.Errorf("%d series, want one per role (2)", n)
	}
	_ = eval[bool](u, `(document.querySelector('.tab[data-resource="mem"]').click(), true)`)
	u.waitFor("the chart of mem", `document.getElementById('allocation-chart').dataset.resource === 'mem'`)
	_ = eval[bool](u, `(document.querySelector('.tab[data-resource="cpus"]').click(), true)`)
	u.waitFor("the chart of cpus", `document.getElementById('allocation-chart').dataset.resource === 'cpus'`)
	u.screenshot("overview")
}

func TestOffersRolesAndMaintenancePages(t *testing.T) {
	u := startUI(t, "#/offers")
	f := startHolder(t, u.cluster, "web", "web")
	f.id()
	for _, a := range u.cluster.Agents {
		u.waitFor("the held offer of agent "+a.ID(), fmt.Sprintf(
			`[...document.querySelectorAll('#offers-table tbody tr')].some(r => r.querySelector('a[href=%q]') && r.textContent.includes('cpus: 4'))`,
			"#/agents/"+a.ID()))
	}
	u.screenshot("offers")

	operator(t, u.cluster.MasterURL, `{"type":"UPDATE_QUOTA","update_quota":{"quota_configs":[{"role":"web","guarantees":{"cpus":{"value":1}},"limits":{"cpus":{"value":2}}}]}}`)
	operator(t, u.cluster.MasterURL, `{"type":"UPDATE_WEIGHTS","update_weights":{"weight_infos":[{"role":"web","weight":3}]}}`)
	u.visit("#/roles")
	u.waitFor("role web with its weight and quota", row("roles-quota-table", "role", "web", "")+` &&
		(t => t.includes('3') && t.includes('cpus: 1') && t.includes('cpus: 2'))(document.querySelector('#roles-quota-table tr[data-role="web"]').textContent)`)
	u.screenshot("roles")

	// The maintenance calls may not be implemented (501): the page says so
	// rather than failing.
	u.visit("#/maintenance")
	u.waitFor("the maintenance page", `document.getElementById('maintenance-unsupported') !== null || document.getElementById('maintenance-windows') !== null`)
	u.screenshot("maintenance")
}

func operator(t *testing.T, masterURL, body string) {
	t.Helper()
	resp, err := http.Post(masterURL+"/api/v1", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("operator call %s: %s", body, resp.Status)
	}
}

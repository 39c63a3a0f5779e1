package system

import (
	"io"
	"net/http"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/corral-sched/corral/frameworks/sdk"
	"github.com/corral-sched/corral/proto/masterpb"
	"github.com/corral-sched/corral/proto/mesospb"
)

// tasksOn splits what the master says of an agent's tasks into the
// running and the unreachable ones, from GET_TASKS or GET_STATE.
func tasksOn(t *testing.T, addr, agentID string, c masterpb.Call_Type) (running, unreachable []*mesospb.Task) {
	t.Helper()
	status, resp, err := operator(addr, call(c))
	if err != nil || status != http.StatusOK {
		t.Fatalf("%v: %d %v", c, status, err)
	}
	tasks := resp.GetGetTasks()
	if c == masterpb.Call_GET_STATE {
		tasks = resp.GetGetState().GetGetTasks()
	}
	for _, task := range tasks.GetTasks() {
		if task.GetAgentId().GetValue() == agentID {
			running = append(running, task)
		}
	}
	for _, task := range tasks.GetUnreachableTasks() {
		if task.GetAgentId().GetValue() == agentID {
			unreachable = append(unreachable, task)
		}
	}
	return running, unreachable
}

func ids(tasks []*mesospb.Task) []string {
	var out []string
	for _, t := range tasks {
		out = append(out, t.GetTaskId().GetValue())
	}
	slices.Sort(out)
	return out
}

// masterCounter reads one series of the master's /metrics.
func masterCounter(t *testing.T, addr, series string) float64 {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	page, _ := io.ReadAll(resp.Body)
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(series) + ` (\S+)$`).FindSubmatch(page)
	if m == nil {
		t.Fatalf("the master's /metrics has no %s", series)
	}
	v, err := strconv.ParseFloat(string(m[1]), 64)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// While an agent is partitioned (SIGSTOPped past its ping limit), the
// master lists its tasks as unreachable, with the time, in GET_TASKS,
// GET_STATE and `corral tasks`, and counts its own TASK_UNREACHABLE
// updates; once the agent is back they are running tasks again.
func TestUnreachableTasksAreListedWhileTheAgentIsPartitioned(t *testing.T) {
	const tasks = 14 // more than one agent holds (10 × 0.1 cpus each)
	c := startStandalone(t, 2, "--agent-ping-timeout", "200ms", "--max-agent-ping-timeouts", "5")
	f, _ := startFleet(t, tasks, sdk.Config{Master: c.addr, Framework: fleetInfo(3600)}, false)
	c.settled(f, 2, tasks)
	status, resp, err := operator(c.addr, call(masterpb.Call_GET_AGENTS))
	if err != nil || status != http.StatusOK {
		t.Fatalf("GET_AGENTS: %d %v", status, err)
	}
	var agentID string
	for _, a := range resp.GetGetAgents().GetAgents() {
		if a.GetAgentInfo().GetHostname() == "agent-0" {
			agentID = a.GetAgentInfo().GetId().GetValue()
		}
	}
	running, _ := tasksOn(t, c.addr, agentID, masterpb.Call_GET_TASKS)
	onAgent := ids(running)
	if agentID == "" || len(onAgent) == 0 {
		t.Fatalf("agent-0 (%q) runs no tasks", agentID)
	}
	const series = `corral_master_status_updates_total{source="SOURCE_MASTER",state="TASK_UNREACHABLE"}`
	counted := masterCounter(t, c.addr, series)

	stopped := time.Now()
	c.agents[0].signal(syscall.SIGSTOP)
	for _, id := range onAgent {
		f.waitStates(t, id, mesospb.TaskState_TASK_UNREACHABLE)
	}
	for _, which := range []masterpb.Call_Type{masterpb.Call_GET_TASKS, masterpb.Call_GET_STATE} {
		running, unreachable := tasksOn(t, c.addr, agentID, which)
		if len(running) != 0 || !slices.Equal(ids(unreachable), onAgent) {
			t.Fatalf("%v while agent-0 is partitioned: tasks %v, unreachable %v; want %v unreachable", which, ids(running), ids(unreachable), onAgent)
		}
		for _, task := range unreachable {
			st := task.GetStatuses()
			if task.GetState() != mesospb.TaskState_TASK_UNREACHABLE || len(st) == 0 || st[len(st)-1].GetUnreachableTime() == nil {
				t.Fatalf("%v: unreachable task %v lacks TASK_UNREACHABLE or its unreachable_time", which, task)
			}
			if at := time.Unix(0, st[len(st)-1].GetUnreachableTime().GetNanoseconds()); at.Before(stopped) {
				t.Fatalf("%v: task %s unreachable since %v, before the agent was stopped at %v", which, task.GetTaskId().GetValue(), at, stopped)
			}
		}
	}
	if got := masterCounter(t, c.addr, series) - counted; got != float64(len(onAgent)) {
		t.Fatalf("%s grew by %v, want %d", series, got, len(onAgent))
	}
	out, err := exec.Command(corralBin, "tasks", "--master", c.addr).CombinedOutput()
	if err != nil {
		t.Fatalf("corral tasks: %v\n%s", err, out)
	}
	for _, id := range onAgent {
		if !regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(id) + `\s.*\sTASK_UNREACHABLE\s`).Match(out) {
			t.Fatalf("corral tasks does not show %s as TASK_UNREACHABLE:\n%s", id, out)
		}
	}

	c.agents[0].signal(syscall.SIGCONT)
	waitFor(t, 60*time.Second, "agent-0's tasks to be running again", func() bool {
		running, unreachable := tasksOn(t, c.addr, agentID, masterpb.Call_GET_TASKS)
		if len(unreachable) != 0 || !slices.Equal(ids(running), onAgent) {
			return false
		}
		for _, task := range running {
			if task.GetState() != mesospb.TaskState_TASK_RUNNING {
				return false
			}
		}
		return true
	})
	for _, id := range onAgent {
		f.waitStates(t, id, mesospb.TaskState_TASK_UNREACHABLE, mesospb.TaskState_TASK_RUNNING)
	}
	f.checkIntact(t)
}

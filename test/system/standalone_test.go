package system

import (
	"fmt"
	"net/http"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/corral-sched/corral/frameworks/sdk"
	"github.com/corral-sched/corral/proto/masterpb"
	"github.com/corral-sched/corral/proto/mesospb"
)

// standalone is one master without ZooKeeper (its registry under
// --work-dir) and its agents.
type standalone struct {
	t      *testing.T
	root   string
	addr   string
	master *proc
	agents []*proc
}

func startStandalone(t *testing.T, agents int, masterFlags ...string) *standalone {
	t.Helper()
	c := &standalone{t: t, root: t.TempDir(), addr: freeAddr(t)}
	t.Cleanup(func() { killSandboxTasks(c.root) })
	args := append([]string{"master", "--listen", c.addr, "--work-dir", filepath.Join(c.root, "master"),
		"--allocation-interval", "100ms", "--log-level", "debug"}, masterFlags...)
	c.master = startProc(t, "master", args...)
	for i := range agents {
		c.agents = append(c.agents, startProc(t, fmt.Sprintf("agent-%d", i), "agent", "--listen", freeAddr(t),
			"--master", c.addr, "--work-dir", filepath.Join(c.root, fmt.Sprintf("agent-%d", i)),
			"--hostname", fmt.Sprintf("agent-%d", i), "--isolation", "posix", "--resources", "cpus:1;mem:512", "--log-level", "debug"))
	}
	return c
}

func (c *standalone) settled(f *fleet, agents, n int) {
	c.t.Helper()
	var last clusterView
	waitFor(c.t, 60*time.Second, fmt.Sprintf("%d agents, the framework and %d running tasks (last %+v)", agents, n, &last), func() bool {
		v, err := viewOf(c.addr, f.s.FrameworkID())
		last = v
		return err == nil && v.activeAgents == agents && v.connected && v.runningTasks == n && f.allRunning()
	})
}

func fleetInfo(failover float64) *mesospb.FrameworkInfo {
	return &mesospb.FrameworkInfo{User: proto.String("root"), Name: proto.String("fleet"),
		FailoverTimeout: proto.Float64(failover),
		Capabilities:    []*mesospb.FrameworkInfo_Capability{{Type: mesospb.FrameworkInfo_Capability_PARTITION_AWARE.Enum()}}}
}

// A standalone master killed and restarted finds its registry under
// --work-dir; agents and the framework come back to it and nothing runs
// twice or stops.
func TestStandaloneMasterRestartKeepsTheCluster(t *testing.T) {
	const tasks = 10
	c := startStandalone(t, 2)
	ids := sdk.FileIDStore{Path: filepath.Join(t.TempDir(), "framework-id")}
	f, _ := startFleet(t, tasks, sdk.Config{Master: c.addr, IDStore: ids, Framework: fleetInfo(3600)}, false)
	c.settled(f, 2, tasks)
	pids := taskProcesses(t, c.root, "sleep", tasks)
	framework := f.s.FrameworkID()

	c.master.restart()
	c.settled(f, 2, tasks)
	f.checkIntact(t)
	if f.s.FrameworkID() != framework {
		t.Fatalf("framework ID became %s, want %s", f.s.FrameworkID(), framework)
	}
	if now := sandboxTasks(c.root, "sleep"); !slices.Equal(now, pids) {
		t.Fatalf("task processes changed across the master restart: %v, now %v", pids, now)
	}
}

// A framework that comes back within its failover timeout keeps its ID and
// tasks; one that stays away longer loses them.
func TestFrameworkFailoverTimeout(t *testing.T) {
	const tasks = 4
	c := startStandalone(t, 1)
	ids := sdk.FileIDStore{Path: filepath.Join(t.TempDir(), "framework-id")}
	cfg := sdk.Config{Master: c.addr, IDStore: ids, Framework: fleetInfo(3)}
	first, stop := startFleet(t, tasks, cfg, false)
	c.settled(first, 1, tasks)
	pids := taskProcesses(t, c.root, "sleep", tasks)
	framework := first.s.FrameworkID()
	stop()

	second, stop := startFleet(t, tasks, cfg, true)
	c.settled(second, 1, tasks)
	if second.s.FrameworkID() != framework {
		t.Fatalf("the framework came back as %s, want %s", second.s.FrameworkID(), framework)
	}
	second.checkIntact(t)
	if now := sandboxTasks(c.root, "sleep"); !slices.Equal(now, pids) {
		t.Fatalf("task processes changed across the framework failover: %v, now %v", pids, now)
	}

	stop()
	gone := time.Now()
	waitFor(t, 30*time.Second, "the tasks to be killed after the failover timeout", func() bool {
		return len(sandboxTasks(c.root, "sleep")) == 0
	})
	t.Logf("tasks killed %v after the framework left (failover_timeout 3s)", time.Since(gone).Round(time.Millisecond))
	status, resp, err := operator(c.addr, call(masterpb.Call_GET_FRAMEWORKS))
	if err != nil || status != http.StatusOK {
		t.Fatalf("GET_FRAMEWORKS: %d %v", status, err)
	}
	for _, fw := range resp.GetGetFrameworks().GetFrameworks() {
		if fw.GetFrameworkInfo().GetId().GetValue() == framework {
			t.Fatalf("framework %s is still listed after its failover timeout", framework)
		}
	}
}

// An agent stopped past its ping limit is unreachable; resumed, it comes
// back with its tasks; marked gone, it is shut down for good.
func TestAgentUnreachableThenBackThenGone(t *testing.T) {
	const tasks = 14 // more than one agent holds
	c := startStandalone(t, 2, "--agent-ping-timeout", "200ms", "--max-agent-ping-timeouts", "5")
	f, _ := startFleet(t, tasks, sdk.Config{Master: c.addr, Framework: fleetInfo(3600)}, false)
	c.settled(f, 2, tasks)

	// The tasks of agent-0, by the master's account and on the machine.
	status, resp, err := operator(c.addr, call(masterpb.Call_GET_STATE))
	if err != nil || status != http.StatusOK {
		t.Fatalf("GET_STATE: %d %v", status, err)
	}
	var agentID string
	for _, a := range resp.GetGetState().GetGetAgents().GetAgents() {
		if a.GetAgentInfo().GetHostname() == "agent-0" {
			agentID = a.GetAgentInfo().GetId().GetValue()
		}
	}
	var onAgent []string
	for _, task := range resp.GetGetState().GetGetTasks().GetTasks() {
		if task.GetAgentId().GetValue() == agentID {
			onAgent = append(onAgent, task.GetTaskId().GetValue())
		}
	}
	if agentID == "" || len(onAgent) == 0 {
		t.Fatalf("agent-0 (%q) runs no tasks: %v", agentID, onAgent)
	}
	agentRoot := filepath.Join(c.root, "agent-0")
	pids := taskProcesses(t, agentRoot, "sleep", len(onAgent))
	if len(pids) != len(onAgent) {
		t.Fatalf("agent-0 runs %d task processes, the master says %d", len(pids), len(onAgent))
	}

	stopped := time.Now()
	c.agents[0].signal(syscall.SIGSTOP)
	for _, id := range onAgent {
		f.waitStates(t, id, mesospb.TaskState_TASK_UNREACHABLE)
	}
	t.Logf("tasks UNREACHABLE %v after SIGSTOP (ping limit 5 × 200ms)", time.Since(stopped).Round(time.Millisecond))
	c.agents[0].signal(syscall.SIGCONT)
	for _, id := range onAgent {
		f.waitStates(t, id, mesospb.TaskState_TASK_UNREACHABLE, mesospb.TaskState_TASK_RUNNING)
	}
	if now := sandboxTasks(agentRoot, "sleep"); !slices.Equal(now, pids) {
		t.Fatalf("agent-0's task processes changed while it was unreachable: %v, now %v", pids, now)
	}

	gone := &masterpb.Call{Type: masterpb.Call_MARK_AGENT_GONE.Enum(),
		MarkAgentGone: &masterpb.Call_MarkAgentGone{AgentId: &mesospb.AgentID{Value: proto.String(agentID)}}}
	if status, _, err := operator(c.addr, gone); err != nil || status != http.StatusOK {
		t.Fatalf("MARK_AGENT_GONE: %d %v", status, err)
	}
	for _, id := range onAgent {
		f.waitStates(t, id, mesospb.TaskState_TASK_RUNNING, mesospb.TaskState_TASK_GONE_BY_OPERATOR)
	}
	waitFor(t, 30*time.Second, "agent-0 to shut down", c.agents[0].exited)
	waitFor(t, 30*time.Second, "agent-0's tasks to end", func() bool { return len(sandboxTasks(agentRoot, "sleep")) == 0 })
	// agent-1's tasks were not touched.
	f.mu.Lock()
	defer f.mu.Unlock()
	for id, st := range f.states {
		if !slices.Contains(onAgent, id) && st != mesospb.TaskState_TASK_RUNNING {
			t.Errorf("task %s on agent-1 is %v, want TASK_RUNNING", id, st)
		}
	}
}

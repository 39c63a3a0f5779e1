package master

import (
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/corral-sched/corral/codec"
	"github.com/corral-sched/corral/proto/agentpb"
	"github.com/corral-sched/corral/proto/masterpb"
	"github.com/corral-sched/corral/proto/mesospb"
	"github.com/corral-sched/corral/proto/schedulerpb"
)

// stepClock is a master's clock that the test moves on: scripted agents
// do not answer pings, so they turn silent for too long only when the
// test skips past the limit, and not again once they are back.
type stepClock struct{ offset atomic.Int64 }

func (c *stepClock) now() time.Time       { return time.Now().Add(time.Duration(c.offset.Load())) }
func (c *stepClock) skip(d time.Duration) { c.offset.Add(int64(d)) }

// partitionMaster runs a master whose agents are unreachable after an
// hour of silence on clock.
func partitionMaster(t *testing.T, mutate func(*Config)) (*httptest.Server, *stepClock) {
	t.Helper()
	clock := &stepClock{}
	srv := startMaster(t, func(c *Config) {
		c.Now, c.AgentPingTimeout, c.MaxAgentPingTimeouts = clock.now, 20*time.Millisecond, 180000
		if mutate != nil {
			mutate(c)
		}
	})
	return srv, clock
}

// partition cuts an agent off: its stream ends and it stays silent past
// its limit.
func partition(agent *fakeAgent, clock *stepClock) {
	agent.stream.close()
	clock.skip(2 * time.Hour)
}

// launchTwo launches t1 and t2 through fw on agent and reports them
// running.
func launchTwo(t *testing.T, fw *fakeScheduler, agent *fakeAgent) {
	t.Helper()
	o := fw.next(schedulerpb.Event_OFFERS).GetOffers().GetOffers()[0]
	fw.call(launchCall(o, commandTask("t1", o, "cpus:1;mem:64"), commandTask("t2", o, "cpus:1;mem:64")), http.StatusAccepted)
	for range 2 {
		task := agent.next(agentpb.Event_LAUNCH).GetLaunch().GetTask()
		agent.update(fw.id, &mesospb.TaskStatus{TaskId: task.GetTaskId(), State: mesospb.TaskState_TASK_RUNNING.Enum()})
		fw.next(schedulerpb.Event_UPDATE)
	}
}

func getTasks(t *testing.T, base string) *masterpb.Response_GetTasks {
	t.Helper()
	return operator(t, base, codec.JSON, &masterpb.Call{Type: masterpb.Call_GET_TASKS.Enum()}, http.StatusOK).GetGetTasks()
}

func taskIDs(tasks []*mesospb.Task) []string {
	var out []string
	for _, t := range tasks {
		out = append(out, t.GetTaskId().GetValue())
	}
	slices.Sort(out)
	return out
}

// nextUpdates reads n updates and returns the last state of each task.
func (s *fakeScheduler) nextUpdates(n int) map[string]*mesospb.TaskStatus {
	s.t.Helper()
	out := make(map[string]*mesospb.TaskStatus)
	for range n {
		st := s.next(schedulerpb.Event_UPDATE).GetUpdate().GetStatus()
		out[st.GetTaskId().GetValue()] = st
	}
	return out
}

func TestUnreachableTasksAreListedUntilTheAgentReturns(t *testing.T) {
	srv, clock := partitionMaster(t, nil)
	agent := registerAgent(t, srv.URL, "cpus:2;mem:512")
	aware := subscribe(t, srv.URL, codec.Protobuf, fwInfo(partitionAware))
	launchTwo(t, aware, agent)
	before := clock.now()
	partition(agent, clock)
	for id, st := range aware.nextUpdates(2) {
		if st.GetState() != mesospb.TaskState_TASK_UNREACHABLE {
			t.Fatalf("%s: update %v, want TASK_UNREACHABLE", id, st)
		}
	}

	for _, tasks := range []*masterpb.Response_GetTasks{getTasks(t, srv.URL),
		operator(t, srv.URL, codec.Protobuf, &masterpb.Call{Type: masterpb.Call_GET_STATE.Enum()}, http.StatusOK).GetGetState().GetGetTasks()} {
		if len(tasks.GetTasks()) != 0 || !slices.Equal(taskIDs(tasks.GetUnreachableTasks()), []string{"t1", "t2"}) {
			t.Fatalf("tasks %v, unreachable %v; want t1 and t2 unreachable", taskIDs(tasks.GetTasks()), taskIDs(tasks.GetUnreachableTasks()))
		}
		for _, task := range tasks.GetUnreachableTasks() {
			st := task.GetStatuses()
			if task.GetState() != mesospb.TaskState_TASK_UNREACHABLE || len(st) != 1 || st[0].GetUnreachableTime() == nil ||
				time.Unix(0, st[0].GetUnreachableTime().GetNanoseconds()).Before(before) {
				t.Fatalf("unreachable task %v, want TASK_UNREACHABLE with its unreachable_time", task)
			}
		}
	}
	// JSON in Mesos' keys, as the web UI reads it.
	text := post(t, srv.URL+"/api/v1", codec.JSON, "", &masterpb.Call{Type: masterpb.Call_GET_TASKS.Enum()}, http.StatusOK)
	for _, key := range []string{`"unreachable_tasks":[`, `"unreachable_time":{"nanoseconds":`, `"state":"TASK_UNREACHABLE"`} {
		if !strings.Contains(text, key) {
			t.Errorf("GET_TASKS JSON lacks %s:\n%s", key, text)
		}
	}
	m := metricsOf(t, srv.URL)
	for _, want := range []string{`corral_master_status_updates_total{source="SOURCE_MASTER",state="TASK_UNREACHABLE"} 2`,
		`corral_master_tasks{state="TASK_UNREACHABLE"} 2`} {
		if !strings.Contains(m, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	// Reconciling a task without naming its agent answers from the record.
	aware.call(&schedulerpb.Call{Type: schedulerpb.Call_RECONCILE.Enum(), Reconcile: &schedulerpb.Call_Reconcile{
		Tasks: []*schedulerpb.Call_Reconcile_Task{{TaskId: &mesospb.TaskID{Value: proto.String("t1")}}}}}, http.StatusAccepted)
	if st := aware.next(schedulerpb.Event_UPDATE).GetUpdate().GetStatus(); st.GetState() != mesospb.TaskState_TASK_UNREACHABLE ||
		st.GetUnreachableTime() == nil || st.GetReason() != mesospb.TaskStatus_REASON_RECONCILIATION {
		t.Fatalf("reconciling t1: %v, want TASK_UNREACHABLE with its unreachable_time", st)
	}

	// The agent comes back with t1 only: t1 is a task again, t2 is gone.
	back := resubscribeAgent(t, srv.URL, agent.id, "cpus:2;mem:512", []*mesospb.Task{{
		Name: proto.String("t1"), TaskId: &mesospb.TaskID{Value: proto.String("t1")}, FrameworkId: &mesospb.FrameworkID{Value: proto.String(aware.id)},
		AgentId: &mesospb.AgentID{Value: proto.String(agent.id)}, State: mesospb.TaskState_TASK_RUNNING.Enum(),
	}})
	if ev := back.nextAny(); ev.GetType() != agentpb.Event_SUBSCRIBED {
		t.Fatalf("returning agent got %v, want SUBSCRIBED", ev.GetType())
	}
	updates := aware.nextUpdates(2)
	if updates["t1"].GetState() != mesospb.TaskState_TASK_RUNNING || updates["t2"].GetState() != mesospb.TaskState_TASK_GONE {
		t.Fatalf("after the agent came back: t1 %v, t2 %v; want TASK_RUNNING and TASK_GONE", updates["t1"], updates["t2"])
	}
	tasks := getTasks(t, srv.URL)
	if !slices.Equal(taskIDs(tasks.GetTasks()), []string{"t1"}) || len(tasks.GetUnreachableTasks()) != 0 {
		t.Fatalf("after the agent came back: tasks %v, unreachable %v; want t1 running and none unreachable",
			taskIDs(tasks.GetTasks()), taskIDs(tasks.GetUnreachableTasks()))
	}
}

func TestUnreachableTasksEndWhenTheAgentIsGone(t *testing.T) {
	srv, clock := partitionMaster(t, nil)
	agent := registerAgent(t, srv.URL, "cpus:2;mem:512")
	aware := subscribe(t, srv.URL, codec.Protobuf, fwInfo(partitionAware))
	unaware := subscribe(t, srv.URL, codec.Protobuf, fwInfo(nil))
	runningTask(t, aware, agent)
	runningTask(t, unaware, agent)
	partition(agent, clock)
	if st := unaware.next(schedulerpb.Event_UPDATE).GetUpdate().GetStatus(); st.GetState() != mesospb.TaskState_TASK_LOST {
		t.Fatalf("a framework that is not partition-aware heard %v, want TASK_LOST", st)
	}
	aware.next(schedulerpb.Event_UPDATE)
	// Operators see both unreachable; each keeps what its framework heard.
	tasks := getTasks(t, srv.URL).GetUnreachableTasks()
	if len(tasks) != 2 {
		t.Fatalf("unreachable tasks %v, want both frameworks' t1", tasks)
	}
	for _, task := range tasks {
		want := mesospb.TaskState_TASK_UNREACHABLE
		if task.GetFrameworkId().GetValue() == unaware.id {
			want = mesospb.TaskState_TASK_LOST
		}
		if task.GetState() != mesospb.TaskState_TASK_UNREACHABLE || task.GetStatusUpdateState() != want {
			t.Errorf("unreachable task %v, want state TASK_UNREACHABLE and status %v", task, want)
		}
	}

	operator(t, srv.URL, codec.JSON, markGone(agent.id), http.StatusOK)
	if st := aware.next(schedulerpb.Event_UPDATE).GetUpdate().GetStatus(); st.GetState() != mesospb.TaskState_TASK_GONE_BY_OPERATOR ||
		st.GetReason() != mesospb.TaskStatus_REASON_AGENT_REMOVED_BY_OPERATOR {
		t.Fatalf("after MARK_AGENT_GONE: %v, want TASK_GONE_BY_OPERATOR", st)
	}
	if st := unaware.next(schedulerpb.Event_UPDATE).GetUpdate().GetStatus(); st.GetState() != mesospb.TaskState_TASK_LOST {
		t.Fatalf("after MARK_AGENT_GONE the unaware framework heard %v, want TASK_LOST", st)
	}
	if left := getTasks(t, srv.URL); len(left.GetUnreachableTasks())+len(left.GetTasks()) != 0 {
		t.Fatalf("tasks of a gone agent are still listed: %v", left)
	}
	m := metricsOf(t, srv.URL)
	for _, want := range []string{`corral_master_status_updates_total{source="SOURCE_MASTER",state="TASK_GONE_BY_OPERATOR"} 1`,
		`corral_master_status_updates_total{source="SOURCE_MASTER",state="TASK_LOST"} 2`} {
		if !strings.Contains(m, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

func TestUnreachableTasksAreBoundedPerFramework(t *testing.T) {
	srv, clock := partitionMaster(t, func(c *Config) { c.MaxUnreachableTasksPerFramework = 2 })
	first := registerAgent(t, srv.URL, "cpus:2;mem:512")
	aware := subscribe(t, srv.URL, codec.Protobuf, fwInfo(partitionAware))
	runningTask(t, aware, first) // t1
	partition(first, clock)
	aware.next(schedulerpb.Event_UPDATE)

	second := registerAgent(t, srv.URL, "cpus:2;mem:512")
	o := aware.next(schedulerpb.Event_OFFERS).GetOffers().GetOffers()[0]
	if o.GetAgentId().GetValue() != second.id {
		t.Fatalf("offer from %s, want the second agent %s", o.GetAgentId().GetValue(), second.id)
	}
	aware.call(launchCall(o, commandTask("t2", o, "cpus:1;mem:64"), commandTask("t3", o, "cpus:1;mem:64")), http.StatusAccepted)
	for range 2 {
		task := second.next(agentpb.Event_LAUNCH).GetLaunch().GetTask()
		second.update(aware.id, &mesospb.TaskStatus{TaskId: task.GetTaskId(), State: mesospb.TaskState_TASK_RUNNING.Enum()})
		aware.next(schedulerpb.Event_UPDATE)
	}
	partition(second, clock)
	aware.nextUpdates(2)
	if got := taskIDs(getTasks(t, srv.URL).GetUnreachableTasks()); !slices.Equal(got, []string{"t2", "t3"}) {
		t.Fatalf("with a bound of 2 the master keeps %v unreachable, want t2 and t3 (t1 is the oldest)", got)
	}
}

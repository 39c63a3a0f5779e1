package master

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/corral-sched/corral/codec"
	"github.com/corral-sched/corral/proto/agentpb"
	"github.com/corral-sched/corral/proto/masterpb"
	"github.com/corral-sched/corral/proto/mesospb"
	"github.com/corral-sched/corral/proto/schedulerpb"
	"github.com/corral-sched/corral/store"
)

// operator posts an operator call and decodes the response, if any.
func operator(t *testing.T, base string, c codec.Codec, call *masterpb.Call, wantStatus int) *masterpb.Response {
	t.Helper()
	text := post(t, base+"/api/v1", c, "", call, wantStatus)
	if wantStatus != http.StatusOK || text == "" {
		return nil
	}
	resp := &masterpb.Response{}
	if err := c.Unmarshal([]byte(text), resp); err != nil {
		t.Fatalf("decoding %v response: %v", call.GetType(), err)
	}
	return resp
}

func partitionAware(info *mesospb.FrameworkInfo) {
	info.Capabilities = append(info.Capabilities, &mesospb.FrameworkInfo_Capability{
		Type: mesospb.FrameworkInfo_Capability_PARTITION_AWARE.Enum(),
	})
}

// runningTask launches t1 through fw on agent and reports it running.
func runningTask(t *testing.T, fw *fakeScheduler, agent *fakeAgent) *mesospb.TaskInfo {
	t.Helper()
	o := fw.next(schedulerpb.Event_OFFERS).GetOffers().GetOffers()[0]
	fw.call(launchCall(o, commandTask("t1", o, "cpus:1;mem:64")), http.StatusAccepted)
	task := agent.next(agentpb.Event_LAUNCH).GetLaunch().GetTask()
	agent.update(fw.id, &mesospb.TaskStatus{TaskId: task.GetTaskId(), State: mesospb.TaskState_TASK_RUNNING.Enum()})
	if st := fw.next(schedulerpb.Event_UPDATE).GetUpdate().GetStatus(); st.GetState() != mesospb.TaskState_TASK_RUNNING {
		t.Fatalf("update = %v, want TASK_RUNNING", st)
	}
	return task
}

func markGone(id string) *masterpb.Call {
	return &masterpb.Call{Type: masterpb.Call_MARK_AGENT_GONE.Enum(),
		MarkAgentGone: &masterpb.Call_MarkAgentGone{AgentId: &mesospb.AgentID{Value: proto.String(id)}}}
}

func TestOperatorReadsTheState(t *testing.T) {
	srv := startMaster(t, nil)
	agent := registerAgent(t, srv.URL, "cpus:2;mem:512")
	fw := subscribe(t, srv.URL, codec.Protobuf, fwInfo(nil))
	runningTask(t, fw, agent)

	for _, c := range []codec.Codec{codec.JSON, codec.Protobuf} {
		st := operator(t, srv.URL, c, &masterpb.Call{Type: masterpb.Call_GET_STATE.Enum()}, http.StatusOK).GetGetState()
		agents, fws, tasks := st.GetGetAgents().GetAgents(), st.GetGetFrameworks().GetFrameworks(), st.GetGetTasks().GetTasks()
		if len(agents) != 1 || agents[0].GetAgentInfo().GetId().GetValue() != agent.id || !agents[0].GetActive() {
			t.Fatalf("%s: agents = %v, want the one active agent", c.MediaType(), agents)
		}
		if len(fws) != 1 || fws[0].GetFrameworkInfo().GetId().GetValue() != fw.id || !fws[0].GetConnected() {
			t.Fatalf("%s: frameworks = %v, want the subscribed framework", c.MediaType(), fws)
		}
		if len(tasks) != 1 || tasks[0].GetState() != mesospb.TaskState_TASK_RUNNING || tasks[0].GetAgentId().GetValue() != agent.id {
			t.Fatalf("%s: tasks = %v, want t1 running", c.MediaType(), tasks)
		}
	}
	// The JSON keys are Mesos'.
	text := post(t, srv.URL+"/api/v1", codec.JSON, "", &masterpb.Call{Type: masterpb.Call_GET_TASKS.Enum()}, http.StatusOK)
	for _, key := range []string{`"type":"GET_TASKS"`, `"get_tasks":{`, `"task_id":{"value":"t1"}`, `"state":"TASK_RUNNING"`} {
		if !strings.Contains(text, key) {
			t.Errorf("GET_TASKS JSON lacks %s:\n%s", key, text)
		}
	}
	if got := operator(t, srv.URL, codec.JSON, &masterpb.Call{Type: masterpb.Call_GET_MASTER.Enum()}, http.StatusOK).
		GetGetMaster().GetMasterInfo().GetAddress().GetPort(); got == 0 {
		t.Error("GET_MASTER has no address")
	}
	if !operator(t, srv.URL, codec.JSON, &masterpb.Call{Type: masterpb.Call_GET_HEALTH.Enum()}, http.StatusOK).GetGetHealth().GetHealthy() {
		t.Error("GET_HEALTH says unhealthy")
	}
	roles := operator(t, srv.URL, codec.JSON, &masterpb.Call{Type: masterpb.Call_GET_ROLES.Enum()}, http.StatusOK).GetGetRoles().GetRoles()
	if len(roles) != 1 || roles[0].GetName() != "*" || len(roles[0].GetFrameworks()) != 1 {
		t.Errorf("GET_ROLES = %v, want role * with one framework", roles)
	}
	found := false
	for _, m := range operator(t, srv.URL, codec.Protobuf, &masterpb.Call{Type: masterpb.Call_GET_METRICS.Enum()}, http.StatusOK).GetGetMetrics().GetMetrics() {
		if m.GetName() == "corral_master_agents/state=active" {
			found = m.GetValue() == 1
		}
	}
	if !found {
		t.Error("GET_METRICS lacks corral_master_agents/state=active = 1")
	}
}

func TestOperatorRefusesBadCalls(t *testing.T) {
	srv := startMaster(t, nil)
	do := func(method, contentType, body string) (int, string) {
		req, _ := http.NewRequest(method, srv.URL+"/api/v1", strings.NewReader(body))
		if contentType != "" {
			req.Header.Set("Content-Type", contentType)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(bytes.TrimSpace(b))
	}
	for _, tc := range []struct {
		name, method, contentType, body string
		status                          int
		msg                             string
	}{
		{"GET", http.MethodGet, "", "", http.StatusMethodNotAllowed, "POST"},
		{"no content type", http.MethodPost, "", "{}", http.StatusBadRequest, "Content-Type"},
		{"XML", http.MethodPost, "application/xml", "<a/>", http.StatusUnsupportedMediaType, "application/json"},
		{"not JSON", http.MethodPost, codec.JSONMediaType, "{", http.StatusBadRequest, "Failed to parse"},
		{"no type", http.MethodPost, codec.JSONMediaType, "{}", http.StatusBadRequest, "'type'"},
		{"gone without agent", http.MethodPost, codec.JSONMediaType, `{"type":"MARK_AGENT_GONE"}`, http.StatusBadRequest, "agent_id"},
		{"gone unknown agent", http.MethodPost, codec.JSONMediaType,
			`{"type":"MARK_AGENT_GONE","mark_agent_gone":{"agent_id":{"value":"nope"}}}`, http.StatusNotFound, "nope"},
		{"teardown unknown", http.MethodPost, codec.JSONMediaType,
			`{"type":"TEARDOWN","teardown":{"framework_id":{"value":"nope"}}}`, http.StatusBadRequest, "nope"},
		{"not implemented", http.MethodPost, codec.JSONMediaType, `{"type":"LIST_FILES"}`, http.StatusNotImplemented, "LIST_FILES"},
	} {
		status, msg := do(tc.method, tc.contentType, tc.body)
		if status != tc.status || !strings.Contains(msg, tc.msg) {
			t.Errorf("%s: got %d %q, want %d mentioning %q", tc.name, status, msg, tc.status, tc.msg)
		}
	}
}

func TestMarkAgentGone(t *testing.T) {
	srv := startMaster(t, nil)
	agent := registerAgent(t, srv.URL, "cpus:2;mem:512")
	aware := subscribe(t, srv.URL, codec.Protobuf, fwInfo(partitionAware))
	runningTask(t, aware, agent)

	operator(t, srv.URL, codec.JSON, markGone(agent.id), http.StatusOK)
	st := aware.next(schedulerpb.Event_UPDATE).GetUpdate().GetStatus()
	if st.GetState() != mesospb.TaskState_TASK_GONE_BY_OPERATOR || st.GetReason() != mesospb.TaskStatus_REASON_AGENT_REMOVED_BY_OPERATOR {
		t.Fatalf("update = %v, want TASK_GONE_BY_OPERATOR / REASON_AGENT_REMOVED_BY_OPERATOR", st)
	}
	if msg := agent.next(agentpb.Event_SHUTDOWN).GetShutdown().GetMessage(); !strings.Contains(msg, "gone") {
		t.Fatalf("shutdown message %q does not say why", msg)
	}
	// Marking it again is harmless; it is no longer listed.
	operator(t, srv.URL, codec.JSON, markGone(agent.id), http.StatusOK)
	if agents := operator(t, srv.URL, codec.JSON, &masterpb.Call{Type: masterpb.Call_GET_AGENTS.Enum()}, http.StatusOK).GetGetAgents(); len(agents.GetAgents())+len(agents.GetRecoveredAgents()) != 0 {
		t.Fatalf("GET_AGENTS still lists the gone agent: %v", agents)
	}
	// Coming back under the same ID gets it shut down, not admitted.
	back := resubscribeAgent(t, srv.URL, agent.id, "cpus:2;mem:512", nil)
	if ev := back.nextAny(); ev.GetType() != agentpb.Event_SHUTDOWN {
		t.Fatalf("a gone agent re-registering got %v, want SHUTDOWN", ev.GetType())
	}
}

func TestUnreachableAgentComesBackWithItsTasks(t *testing.T) {
	srv := startMaster(t, func(c *Config) { c.AgentPingTimeout, c.MaxAgentPingTimeouts = 20*time.Millisecond, 10 })
	agent := registerAgent(t, srv.URL, "cpus:2;mem:512")
	aware := subscribe(t, srv.URL, codec.Protobuf, fwInfo(partitionAware))
	task := runningTask(t, aware, agent)
	agent.stream.close()
	if st := aware.next(schedulerpb.Event_UPDATE).GetUpdate().GetStatus(); st.GetState() != mesospb.TaskState_TASK_UNREACHABLE || st.GetUnreachableTime() == nil {
		t.Fatalf("update = %v, want TASK_UNREACHABLE with unreachable_time", st)
	}
	running := &mesospb.Task{
		Name: task.Name, TaskId: task.TaskId, FrameworkId: &mesospb.FrameworkID{Value: proto.String(aware.id)},
		AgentId: &mesospb.AgentID{Value: proto.String(agent.id)}, State: mesospb.TaskState_TASK_RUNNING.Enum(), Resources: task.Resources,
	}
	back := resubscribeAgent(t, srv.URL, agent.id, "cpus:2;mem:512", []*mesospb.Task{running})
	if ev := back.nextAny(); ev.GetType() != agentpb.Event_SUBSCRIBED {
		t.Fatalf("returning agent got %v, want SUBSCRIBED", ev.GetType())
	}
	if st := aware.next(schedulerpb.Event_UPDATE).GetUpdate().GetStatus(); st.GetState() != mesospb.TaskState_TASK_RUNNING || st.GetTaskId().GetValue() != "t1" {
		t.Fatalf("update = %v, want t1 TASK_RUNNING again", st)
	}
}

func TestGoneAndUnreachableAgentsSurviveTheMaster(t *testing.T) {
	st, err := store.OpenLocal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	first, stop := startWithStore(t, st, nil)
	gone := registerAgent(t, first.URL, "cpus:1;mem:64")
	lost := registerAgent(t, first.URL, "cpus:2;mem:64")
	operator(t, first.URL, codec.JSON, markGone(gone.id), http.StatusOK)
	stop()

	second, stop := startWithStore(t, st, func(c *Config) { c.AgentReregisterTimeout = 50 * time.Millisecond })
	if ev := resubscribeAgent(t, second.URL, gone.id, "cpus:1;mem:64", nil).nextAny(); ev.GetType() != agentpb.Event_SHUTDOWN {
		t.Fatalf("gone agent re-registering with the next master got %v, want SHUTDOWN", ev.GetType())
	}
	waitFor(t, func() bool {
		return strings.Contains(metricsOf(t, second.URL), `corral_master_agents{state="unreachable"} 1`)
	},
		"the agent that did not come back is unreachable")
	stop()

	third, _ := startWithStore(t, st, nil)
	m := metricsOf(t, third.URL)
	for _, want := range []string{`corral_master_agents{state="unreachable"} 1`, `corral_master_agents{state="gone"} 1`} {
		if !strings.Contains(m, want) {
			t.Fatalf("third master's metrics lack %s:\n%s", want, m)
		}
	}
	if ev := resubscribeAgent(t, third.URL, lost.id, "cpus:2;mem:64", nil).nextAny(); ev.GetType() != agentpb.Event_SUBSCRIBED {
		t.Fatalf("unreachable agent coming back got %v, want SUBSCRIBED", ev.GetType())
	}
}

func TestAPIAnswers503WhileRecovering(t *testing.T) {
	m, err := New(Config{Addr: "127.0.0.1:5050"})
	if err != nil {
		t.Fatal(err)
	}
	h := m.Handler()
	for _, path := range []string{"/api/v1", "/api/v1/scheduler", "/api/v1/agent"} {
		req, _ := http.NewRequest(http.MethodPost, path, strings.NewReader("{}"))
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Retry-After") == "" {
			t.Errorf("%s before recovery: %d (Retry-After %q), want 503 with Retry-After", path, rec.Code, rec.Header().Get("Retry-After"))
		}
	}
}

// resubscribeAgent subscribes a scripted agent under a known ID, reporting
// tasks; the caller reads the first event.
func resubscribeAgent(t *testing.T, base, id, res string, tasks []*mesospb.Task) *fakeAgent {
	t.Helper()
	a := registerAgentWith(t, base, res, func(sub *agentpb.Call_Subscribe) {
		sub.AgentInfo.Id = &mesospb.AgentID{Value: proto.String(id)}
		sub.Tasks = tasks
	})
	a.id = id
	return a
}

// nextAny returns the next event that is not a ping.
func (a *fakeAgent) nextAny() *agentpb.Event {
	a.t.Helper()
	for {
		rec, ok := a.stream.next()
		if !ok {
			a.t.Fatal("agent stream ended")
		}
		ev := &agentpb.Event{}
		if err := proto.Unmarshal(rec, ev); err != nil {
			a.t.Fatal(err)
		}
		if ev.GetType() != agentpb.Event_PING {
			return ev
		}
	}
}

func waitFor(t *testing.T, cond func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(10 * time.Millisecond) // polling a condition with a deadline
	}
}

func TestOperatorEventStream(t *testing.T) {
	srv := startMaster(t, nil)
	body, _ := codec.JSON.Marshal(&masterpb.Call{Type: masterpb.Call_SUBSCRIBE.Enum()})
	stream := openStream(t, srv.URL+"/api/v1", codec.JSON.MediaType(), body, codec.JSON.MediaType())
	next := func() *masterpb.Event {
		t.Helper()
		for {
			rec, ok := stream.next()
			if !ok {
				t.Fatal("operator stream ended")
			}
			ev := &masterpb.Event{}
			if err := codec.JSON.Unmarshal(rec, ev); err != nil {
				t.Fatal(err)
			}
			if ev.GetType() != masterpb.Event_HEARTBEAT {
				return ev
			}
		}
	}
	if ev := next(); ev.GetType() != masterpb.Event_SUBSCRIBED || ev.GetSubscribed().GetGetState() == nil {
		t.Fatalf("first event %v, want SUBSCRIBED with the state", ev)
	}
	agent := registerAgent(t, srv.URL, "cpus:2;mem:512")
	if ev := next(); ev.GetType() != masterpb.Event_AGENT_ADDED || ev.GetAgentAdded().GetAgent().GetAgentInfo().GetId().GetValue() != agent.id {
		t.Fatalf("event %v, want AGENT_ADDED for %s", ev, agent.id)
	}
	fw := subscribe(t, srv.URL, codec.Protobuf, fwInfo(nil))
	if ev := next(); ev.GetType() != masterpb.Event_FRAMEWORK_ADDED || ev.GetFrameworkAdded().GetFramework().GetFrameworkInfo().GetId().GetValue() != fw.id {
		t.Fatalf("event %v, want FRAMEWORK_ADDED", ev)
	}
	o := fw.next(schedulerpb.Event_OFFERS).GetOffers().GetOffers()[0]
	fw.call(launchCall(o, commandTask("t1", o, "cpus:1;mem:64")), http.StatusAccepted)
	if ev := next(); ev.GetType() != masterpb.Event_TASK_ADDED || ev.GetTaskAdded().GetTask().GetTaskId().GetValue() != "t1" {
		t.Fatalf("event %v, want TASK_ADDED t1", ev)
	}
	task := agent.next(agentpb.Event_LAUNCH).GetLaunch().GetTask()
	for _, state := range []mesospb.TaskState{mesospb.TaskState_TASK_RUNNING, mesospb.TaskState_TASK_FINISHED} {
		agent.update(fw.id, &mesospb.TaskStatus{TaskId: task.GetTaskId(), State: state.Enum()})
		if ev := next(); ev.GetType() != masterpb.Event_TASK_UPDATED || ev.GetTaskUpdated().GetState() != state {
			t.Fatalf("event %v, want TASK_UPDATED %v", ev, state)
		}
	}
	fw.call(&schedulerpb.Call{Type: schedulerpb.Call_TEARDOWN.Enum()}, http.StatusAccepted)
	if ev := next(); ev.GetType() != masterpb.Event_FRAMEWORK_REMOVED {
		t.Fatalf("event %v, want FRAMEWORK_REMOVED", ev)
	}
	operator(t, srv.URL, codec.JSON, markGone(agent.id), http.StatusOK)
	if ev := next(); ev.GetType() != masterpb.Event_AGENT_REMOVED || ev.GetAgentRemoved().GetAgentId().GetValue() != agent.id {
		t.Fatalf("event %v, want AGENT_REMOVED", ev)
	}
}

func TestGetFlagsAnswersWithTheMastersSettings(t *testing.T) {
	srv := startMaster(t, func(c *Config) { c.Flags = map[string]string{"offer-timeout": "30s", "listen": "127.0.0.1:5050"} })
	for _, c := range []codec.Codec{codec.JSON, codec.Protobuf} {
		flags := operator(t, srv.URL, c, &masterpb.Call{Type: masterpb.Call_GET_FLAGS.Enum()}, http.StatusOK).GetGetFlags().GetFlags()
		if len(flags) != 2 || flags[0].GetName() != "listen" || flags[1].GetName() != "offer-timeout" || flags[1].GetValue() != "30s" {
			t.Fatalf("GET_FLAGS (%s): %v", c.MediaType(), flags)
		}
	}
}

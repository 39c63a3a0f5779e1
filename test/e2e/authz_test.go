package e2e

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/corral-sched/corral/agent"
	"github.com/corral-sched/corral/auth"
	"github.com/corral-sched/corral/auth/acl"
	"github.com/corral-sched/corral/codec"
	"github.com/corral-sched/corral/frameworks/sdk"
	"github.com/corral-sched/corral/internal/testkit/testcluster"
	"github.com/corral-sched/corral/master"
	"github.com/corral-sched/corral/proto/masterpb"
	"github.com/corral-sched/corral/proto/mesospb"
	"github.com/corral-sched/corral/proto/schedulerpb"
	"github.com/corral-sched/corral/resources"
)

// The ACLs of the authorization tests: "ops" may do everything, "dev"
// only look at frameworks of user "www", frameworks fw-a and fw-b each
// register in their own role, and fw-b may run tasks only as "nobody".
const testACLs = `{
  "permissive": false,
  "register_frameworks": [
    {"principals": {"values": ["fw-a"]}, "roles": {"values": ["a"]}},
    {"principals": {"values": ["fw-b"]}, "roles": {"values": ["b"]}}
  ],
  "run_tasks": [
    {"principals": {"values": ["fw-a"]}, "users": {"type": "ANY"}},
    {"principals": {"values": ["fw-b"]}, "users": {"values": ["nobody"]}}
  ],
  "view_frameworks": [
    {"principals": {"values": ["ops"]}, "users": {"type": "ANY"}},
    {"principals": {"values": ["dev"]}, "users": {"values": ["www"]}}
  ],
  "view_tasks": [
    {"principals": {"values": ["ops"]}, "users": {"type": "ANY"}},
    {"principals": {"values": ["dev"]}, "users": {"values": ["www"]}}
  ],
  "view_executors": [{"principals": {"values": ["ops"]}, "users": {"type": "ANY"}}],
  "view_roles": [{"principals": {"values": ["ops"]}, "roles": {"type": "ANY"}}],
  "view_flags": [{"principals": {"values": ["ops"]}, "flags": {"type": "ANY"}}],
  "get_quotas": [{"principals": {"values": ["ops"]}, "roles": {"type": "ANY"}}],
  "update_quotas": [{"principals": {"values": ["ops"]}, "roles": {"type": "ANY"}}],
  "update_weights": [{"principals": {"values": ["ops"]}, "roles": {"type": "ANY"}}],
  "reserve_resources": [{"principals": {"values": ["ops"]}, "roles": {"type": "ANY"}}],
  "unreserve_resources": [{"principals": {"values": ["ops"]}, "reserver_principals": {"type": "ANY"}}],
  "create_volumes": [{"principals": {"values": ["ops"]}, "roles": {"type": "ANY"}}],
  "destroy_volumes": [{"principals": {"values": ["ops"]}, "creator_principals": {"type": "ANY"}}],
  "teardown_frameworks": [{"principals": {"values": ["ops"]}, "framework_principals": {"type": "ANY"}}],
  "mark_agents_gone": [{"principals": {"values": ["ops"]}, "agents": {"type": "ANY"}}],
  "get_maintenance_schedules": [{"principals": {"values": ["ops"]}, "machines": {"type": "ANY"}}],
  "get_maintenance_statuses": [{"principals": {"values": ["ops"]}, "machines": {"type": "ANY"}}],
  "update_maintenance_schedules": [{"principals": {"values": ["ops"]}, "machines": {"type": "ANY"}}],
  "start_maintenances": [{"principals": {"values": ["ops"]}, "machines": {"type": "ANY"}}],
  "stop_maintenances": [{"principals": {"values": ["ops"]}, "machines": {"type": "ANY"}}],
  "register_agents": [{"principals": {"values": ["agent"]}, "agents": {"type": "ANY"}}],
  "get_endpoints": [{"principals": {"type": "ANY"}, "paths": {"type": "ANY"}}]
}`

var testCredentials = auth.Credentials{"fw-a": "sa", "fw-b": "sb", "agent": "sg", "ops": "so", "dev": "sd"}

func startAuthzCluster(t *testing.T, mutate func(*master.Config)) *testcluster.Cluster {
	t.Helper()
	acls, err := acl.Parse([]byte(testACLs))
	if err != nil {
		t.Fatal(err)
	}
	return testcluster.Start(t, testcluster.Options{Agents: 1,
		Master: func(mc *master.Config) {
			mc.Credentials, mc.ACLs = testCredentials, acls
			mc.AuthenticateFrameworks, mc.AuthenticateAgents, mc.AuthenticateHTTP = true, true, true
			if mutate != nil {
				mutate(mc)
			}
		},
		Agent: func(_ int, ac *agent.Config) { ac.Principal, ac.Secret = "agent", "sg" },
	})
}

// roleFramework subscribes principal in role as user.
func roleFramework(t *testing.T, masterAddr, principal, role, user string) *authFramework {
	t.Helper()
	return runAuthFramework(t, masterAddr, principal, testCredentials[principal], &mesospb.FrameworkInfo{
		User: proto.String(user), Name: proto.String(principal), Roles: []string{role},
		Capabilities: []*mesospb.FrameworkInfo_Capability{{Type: mesospb.FrameworkInfo_Capability_MULTI_ROLE.Enum()}}})
}

func operatorJSON(t *testing.T, c *masterpb.Call) []byte {
	t.Helper()
	b, err := codec.JSON.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// operatorAs makes an operator call as principal and decodes a 200.
func operatorAs(t *testing.T, url, principal string, c *masterpb.Call) (int, string, *masterpb.Response) {
	t.Helper()
	code, body := send(t, "POST", url+"/api/v1", principal, testCredentials[principal], codec.JSONMediaType, operatorJSON(t, c))
	if code != http.StatusOK || body == "" {
		return code, body, nil
	}
	resp := &masterpb.Response{}
	if err := codec.JSON.Unmarshal([]byte(body), resp); err != nil {
		t.Fatalf("%v: decoding %q: %v", c.GetType(), body, err)
	}
	return code, body, resp
}

func TestAuthorizationOperatorMatrix(t *testing.T) {
	c := startAuthzCluster(t, nil)
	agentID := c.Agents[0].ID()
	host := "localhost"
	if _, _, r := operatorAs(t, c.MasterURL, "ops", &masterpb.Call{Type: masterpb.Call_GET_AGENTS.Enum()}); r != nil {
		host = r.GetGetAgents().GetAgents()[0].GetAgentInfo().GetHostname()
	}
	fa := roleFramework(t, c.MasterAddr, "fw-a", "a", "root")
	waitFor(t, 20*time.Second, "fw-a to subscribe", func() bool { return fa.s.FrameworkID() != "" })

	reserved := func(role string) []*mesospb.Resource {
		r, err := resources.Parse("cpus:0.5", "*")
		if err != nil {
			t.Fatal(err)
		}
		r[0].Reservations = []*mesospb.Resource_ReservationInfo{{Type: mesospb.Resource_ReservationInfo_DYNAMIC.Enum(), Role: proto.String(role), Principal: proto.String("ops")}}
		return r
	}
	volume := func() []*mesospb.Resource {
		r, _ := resources.Parse("disk:8", "*")
		r[0].Reservations = []*mesospb.Resource_ReservationInfo{{Type: mesospb.Resource_ReservationInfo_DYNAMIC.Enum(), Role: proto.String("a"), Principal: proto.String("ops")}}
		r[0].Disk = &mesospb.Resource_DiskInfo{Persistence: &mesospb.Resource_DiskInfo_Persistence{Id: proto.String("authz-vol"), Principal: proto.String("ops")},
			Volume: &mesospb.Volume{ContainerPath: proto.String("data"), Mode: mesospb.Volume_RW.Enum()}}
		return r
	}
	agent := &mesospb.AgentID{Value: proto.String(agentID)}
	machine := []*mesospb.MachineID{{Hostname: proto.String(host)}}
	window := &masterpb.Schedule{Windows: []*masterpb.Window{{MachineIds: machine,
		Unavailability: &mesospb.Unavailability{Start: &mesospb.TimeInfo{Nanoseconds: proto.Int64(time.Now().Add(time.Hour).UnixNano())}}}}}
	diskR, _ := resources.Parse("disk:8", "*")
	diskR[0].Reservations = volume()[0].Reservations
	// Mutating calls, in an order in which each works for ops.
	mutating := []*masterpb.Call{
		{Type: masterpb.Call_UPDATE_WEIGHTS.Enum(), UpdateWeights: &masterpb.Call_UpdateWeights{WeightInfos: []*mesospb.WeightInfo{{Role: proto.String("a"), Weight: proto.Float64(2)}}}},
		{Type: masterpb.Call_UPDATE_QUOTA.Enum(), UpdateQuota: &masterpb.Call_UpdateQuota{QuotaConfigs: []*masterpb.QuotaConfig{{Role: proto.String("a"),
			Guarantees: map[string]*mesospb.Value_Scalar{"cpus": {Value: proto.Float64(0.1)}}}}}},
		{Type: masterpb.Call_REMOVE_QUOTA.Enum(), RemoveQuota: &masterpb.Call_RemoveQuota{Role: proto.String("a")}},
		{Type: masterpb.Call_RESERVE_RESOURCES.Enum(), ReserveResources: &masterpb.Call_ReserveResources{AgentId: agent, Resources: reserved("a")}},
		{Type: masterpb.Call_UNRESERVE_RESOURCES.Enum(), UnreserveResources: &masterpb.Call_UnreserveResources{AgentId: agent, Resources: reserved("a")}},
		{Type: masterpb.Call_RESERVE_RESOURCES.Enum(), ReserveResources: &masterpb.Call_ReserveResources{AgentId: agent, Resources: diskR}},
		{Type: masterpb.Call_CREATE_VOLUMES.Enum(), CreateVolumes: &masterpb.Call_CreateVolumes{AgentId: agent, Volumes: volume()}},
		{Type: masterpb.Call_DESTROY_VOLUMES.Enum(), DestroyVolumes: &masterpb.Call_DestroyVolumes{AgentId: agent, Volumes: volume()}},
		{Type: masterpb.Call_UPDATE_MAINTENANCE_SCHEDULE.Enum(), UpdateMaintenanceSchedule: &masterpb.Call_UpdateMaintenanceSchedule{Schedule: window}},
		{Type: masterpb.Call_START_MAINTENANCE.Enum(), StartMaintenance: &masterpb.Call_StartMaintenance{Machines: machine}},
		{Type: masterpb.Call_STOP_MAINTENANCE.Enum(), StopMaintenance: &masterpb.Call_StopMaintenance{Machines: machine}},
		{Type: masterpb.Call_GET_FLAGS.Enum()},
		{Type: masterpb.Call_TEARDOWN.Enum(), Teardown: &masterpb.Call_Teardown{FrameworkId: &mesospb.FrameworkID{Value: proto.String(fa.s.FrameworkID())}}},
		{Type: masterpb.Call_MARK_AGENT_GONE.Enum(), MarkAgentGone: &masterpb.Call_MarkAgentGone{AgentId: &mesospb.AgentID{Value: proto.String("no-such-agent")}}},
	}
	for _, call := range mutating {
		name := call.GetType().String()
		if code, body := send(t, "POST", c.MasterURL+"/api/v1", "", "", codec.JSONMediaType, operatorJSON(t, call)); code != 401 {
			t.Errorf("%s without credentials: %d %q, want 401", name, code, body)
		}
		if code, body, _ := operatorAs(t, c.MasterURL, "dev", call); code != 403 || !strings.Contains(body, `"dev" is not authorized`) {
			t.Errorf("%s as dev: %d %q, want 403 naming the principal", name, code, body)
		}
		want := http.StatusOK
		if call.GetType() == masterpb.Call_MARK_AGENT_GONE {
			want = http.StatusNotFound // authorized, then the agent is unknown
		}
		if code, body, _ := operatorAs(t, c.MasterURL, "ops", call); code != want {
			t.Errorf("%s as ops: %d %q, want %d", name, code, body, want)
		}
	}
	// Reads: everyone authenticated gets 200; what they see depends on
	// their view ACLs.
	fb := roleFramework(t, c.MasterAddr, "fw-b", "b", "root")
	waitFor(t, 20*time.Second, "fw-b to subscribe", func() bool { return fb.s.FrameworkID() != "" })
	get := func(principal string, typ masterpb.Call_Type) *masterpb.Response {
		t.Helper()
		code, body, r := operatorAs(t, c.MasterURL, principal, &masterpb.Call{Type: typ.Enum()})
		if code != 200 || r == nil {
			t.Fatalf("%v as %s: %d %q", typ, principal, code, body)
		}
		return r
	}
	if n := len(get("ops", masterpb.Call_GET_FRAMEWORKS).GetGetFrameworks().GetFrameworks()); n != 1 {
		t.Errorf("ops sees %d frameworks, want 1 (fw-b)", n)
	}
	if n := len(get("dev", masterpb.Call_GET_FRAMEWORKS).GetGetFrameworks().GetFrameworks()); n != 0 {
		t.Errorf("dev sees %d frameworks of user root, want 0", n)
	}
	if n := len(get("dev", masterpb.Call_GET_STATE).GetGetState().GetGetFrameworks().GetFrameworks()); n != 0 {
		t.Errorf("dev sees %d frameworks in GET_STATE, want 0", n)
	}
	if n := len(get("ops", masterpb.Call_GET_ROLES).GetGetRoles().GetRoles()); n == 0 {
		t.Error("ops sees no roles")
	}
	if n := len(get("dev", masterpb.Call_GET_ROLES).GetGetRoles().GetRoles()); n != 0 {
		t.Errorf("dev sees %d roles, want 0", n)
	}
	if n := len(get("dev", masterpb.Call_GET_WEIGHTS).GetGetWeights().GetWeightInfos()); n != 0 {
		t.Errorf("dev sees %d weights, want 0", n)
	}
	if n := len(get("ops", masterpb.Call_GET_WEIGHTS).GetGetWeights().GetWeightInfos()); n == 0 {
		t.Error("ops sees no weights after setting one")
	}
	for _, typ := range []masterpb.Call_Type{masterpb.Call_GET_HEALTH, masterpb.Call_GET_VERSION, masterpb.Call_GET_METRICS,
		masterpb.Call_GET_AGENTS, masterpb.Call_GET_EXECUTORS, masterpb.Call_GET_TASKS, masterpb.Call_GET_MASTER, masterpb.Call_GET_QUOTA,
		masterpb.Call_GET_MAINTENANCE_SCHEDULE, masterpb.Call_GET_MAINTENANCE_STATUS} {
		get("dev", typ)
		get("ops", typ)
		if code, _ := send(t, "POST", c.MasterURL+"/api/v1", "", "", codec.JSONMediaType, operatorJSON(t, &masterpb.Call{Type: typ.Enum()})); code != 401 {
			t.Errorf("%v without credentials: %d, want 401", typ, code)
		}
	}
}

func TestAuthorizationFrameworks(t *testing.T) {
	c := startAuthzCluster(t, nil)
	// register_frameworks: fw-b may not register in role a.
	sub := func(principal, role string) []byte {
		b, _ := codec.JSON.Marshal(&schedulerpb.Call{Type: schedulerpb.Call_SUBSCRIBE.Enum(), Subscribe: &schedulerpb.Call_Subscribe{
			FrameworkInfo: &mesospb.FrameworkInfo{User: proto.String("root"), Name: proto.String("x"), Principal: proto.String(principal), Roles: []string{role},
				Capabilities: []*mesospb.FrameworkInfo_Capability{{Type: mesospb.FrameworkInfo_Capability_MULTI_ROLE.Enum()}}}}})
		return b
	}
	if code, body := send(t, "POST", c.MasterURL+"/api/v1/scheduler", "fw-b", "sb", codec.JSONMediaType, sub("fw-b", "a")); code != 403 || !strings.Contains(body, `role "a"`) {
		t.Fatalf("fw-b registering in role a: %d %q, want 403", code, body)
	}

	// run_tasks: fw-b may run tasks only as nobody.
	fb := roleFramework(t, c.MasterAddr, "fw-b", "b", "root")
	o := nextOffer(t, fb.offers)
	res, _ := sdk.NewSpace(o).Take(0.1, 16, 0, 0)
	// A long filter: fw-b gives the agent up to fw-a afterwards.
	if err := fb.s.Launch(context.Background(), o, 3600, sdk.CommandTask("b-root", "b-root", o, "sleep 300", res)); err != nil {
		t.Fatal(err)
	}
	st := nextUpdate(t, fb.updates, "b-root")
	if st.GetState() != mesospb.TaskState_TASK_ERROR || st.GetReason() != mesospb.TaskStatus_REASON_TASK_UNAUTHORIZED {
		t.Fatalf("fw-b's task as root: %v %v %q, want TASK_ERROR REASON_TASK_UNAUTHORIZED", st.GetState(), st.GetReason(), st.GetMessage())
	}

	// fw-a runs a task; fw-b cannot accept fw-a's offer, reconcile or see
	// fw-a's task, nor act with fw-a's framework ID.
	fa := roleFramework(t, c.MasterAddr, "fw-a", "a", "root")
	oa := nextOffer(t, fa.offers)
	resA, _ := sdk.NewSpace(oa).Take(0.1, 16, 0, 0)
	if err := fb.s.Launch(context.Background(), oa, 0, sdk.CommandTask("stolen", "stolen", oa, "sleep 300", resA)); err != nil {
		t.Fatal(err)
	}
	if st := nextUpdate(t, fb.updates, "stolen"); st.GetState() == mesospb.TaskState_TASK_RUNNING || st.GetState() == mesospb.TaskState_TASK_STAGING {
		t.Fatalf("fw-b launched on fw-a's offer: %v", st.GetState())
	}
	// fw-a's offer is untouched by fw-b's attempt.
	if err := fa.s.Launch(context.Background(), oa, 0, sdk.CommandTask("a-task", "a-task", oa, "sleep 300", resA)); err != nil {
		t.Fatal(err)
	}
	if st := waitState(t, fa.updates, "a-task", mesospb.TaskState_TASK_RUNNING); st == nil {
		t.Fatal("fw-a's task did not run on its own offer")
	}
	if err := fb.s.Reconcile(context.Background(), &schedulerpb.Call_Reconcile_Task{TaskId: &mesospb.TaskID{Value: proto.String("a-task")}}); err != nil {
		t.Fatal(err)
	}
	if st := nextUpdate(t, fb.updates, "a-task"); st.GetState() == mesospb.TaskState_TASK_RUNNING {
		t.Fatal("fw-b's reconciliation revealed fw-a's running task")
	}
	if err := fb.s.Reconcile(context.Background()); err != nil { // implicit: everything fw-b has
		t.Fatal(err)
	}
	ack, _ := codec.JSON.Marshal(&schedulerpb.Call{Type: schedulerpb.Call_ACKNOWLEDGE.Enum(), FrameworkId: &mesospb.FrameworkID{Value: proto.String(fa.s.FrameworkID())},
		Acknowledge: &schedulerpb.Call_Acknowledge{AgentId: oa.GetAgentId(), TaskId: &mesospb.TaskID{Value: proto.String("a-task")}, Uuid: []byte("0123456789abcdef")}})
	if code, body := send(t, "POST", c.MasterURL+"/api/v1/scheduler", "fw-b", "sb", codec.JSONMediaType, ack); code != 403 {
		t.Fatalf("fw-b acknowledging with fw-a's ID: %d %q, want 403", code, body)
	}
	// Nothing fw-b did reached fw-a's task.
	deadline := time.After(500 * time.Millisecond)
	for {
		select {
		case st := <-fb.updates:
			if st.GetTaskId().GetValue() == "a-task" && st.GetState() == mesospb.TaskState_TASK_RUNNING {
				t.Fatal("fw-b's implicit reconciliation included fw-a's task")
			}
			continue
		case st := <-fa.updates:
			if st.GetTaskId().GetValue() == "a-task" && st.GetState() != mesospb.TaskState_TASK_RUNNING {
				t.Fatalf("fw-a's task became %v", st.GetState())
			}
			continue
		case <-deadline:
		}
		break
	}
}

func TestRateLimits(t *testing.T) {
	rl, err := master.ParseRateLimits([]byte(`{"limits": [{"principal": "dev", "qps": 5}, {"principal": "ops"}], "aggregate_default_qps": 1000}`))
	if err != nil {
		t.Fatal(err)
	}
	acls, err := acl.Parse([]byte(`{"view_flags": [{"principals": {"type": "ANY"}, "flags": {"type": "ANY"}}]}`))
	if err != nil {
		t.Fatal(err)
	}
	c := testcluster.Start(t, testcluster.Options{Agents: 1, Master: func(mc *master.Config) {
		mc.Credentials, mc.AuthenticateHTTP, mc.ACLs, mc.RateLimits = testCredentials, true, acls, rl
	}})
	health := operatorJSON(t, &masterpb.Call{Type: masterpb.Call_GET_HEALTH.Enum()})
	// dev floods from several goroutines while ops keeps calling.
	var limited, ok429 atomic.Int64
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				req, _ := http.NewRequest("POST", c.MasterURL+"/api/v1", strings.NewReader(string(health)))
				req.Header.Set("Content-Type", codec.JSONMediaType)
				req.SetBasicAuth("dev", "sd")
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					continue
				}
				if resp.StatusCode == http.StatusTooManyRequests {
					limited.Add(1)
					if resp.Header.Get("Retry-After") != "" {
						ok429.Add(1)
					}
				}
				resp.Body.Close()
			}
		}()
	}
	served := 0
	for i := 0; i < 50; i++ {
		if code, body := send(t, "POST", c.MasterURL+"/api/v1", "ops", "so", codec.JSONMediaType, health); code != 200 {
			t.Fatalf("ops during dev's flood: %d %q", code, body)
		}
		served++
	}
	waitFor(t, 10*time.Second, "dev to be limited", func() bool { return limited.Load() > 20 })
	close(stop)
	wg.Wait()
	if ok429.Load() != limited.Load() {
		t.Errorf("%d of %d 429s carried Retry-After", ok429.Load(), limited.Load())
	}
	code, body := send(t, "POST", c.MasterURL+"/api/v1", "dev", "sd", codec.JSONMediaType, health)
	for code == http.StatusTooManyRequests {
		if !strings.Contains(body, `principal "dev"`) {
			t.Fatalf("429 body %q does not name the principal", body)
		}
		waitFor(t, 5*time.Second, "dev's bucket to refill", func() bool {
			code, body = send(t, "POST", c.MasterURL+"/api/v1", "dev", "sd", codec.JSONMediaType, health)
			return code != http.StatusTooManyRequests
		})
	}
	if code != 200 {
		t.Fatalf("dev after the flood: %d %q", code, body)
	}
	t.Logf("ops served %d calls during the flood; dev limited %d times", served, limited.Load())
}

func nextOffer(t *testing.T, ch chan *mesospb.Offer) *mesospb.Offer {
	t.Helper()
	select {
	case o := <-ch:
		return o
	case <-time.After(30 * time.Second):
		t.Fatal("no offer within 30s")
		return nil
	}
}

// nextUpdate waits for the next update of task id.
func nextUpdate(t *testing.T, ch chan *mesospb.TaskStatus, id string) *mesospb.TaskStatus {
	t.Helper()
	deadline := time.After(30 * time.Second)
	for {
		select {
		case st := <-ch:
			if st.GetTaskId().GetValue() == id {
				return st
			}
		case <-deadline:
			t.Fatalf("no update for %s within 30s", id)
			return nil
		}
	}
}

func waitState(t *testing.T, ch chan *mesospb.TaskStatus, id string, want mesospb.TaskState) *mesospb.TaskStatus {
	t.Helper()
	for {
		st := nextUpdate(t, ch, id)
		if st.GetState() == want {
			return st
		}
		if mesospb.IsTerminal(st.GetState()) {
			t.Fatalf("task %s ended %v (%q) before %v", id, st.GetState(), st.GetMessage(), want)
		}
	}
}

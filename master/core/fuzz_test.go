package core

import (
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/corral-sched/corral/codec"
	"github.com/corral-sched/corral/proto/masterpb"
	"github.com/corral-sched/corral/proto/mesospb"
	"github.com/corral-sched/corral/proto/schedulerpb"
	"github.com/corral-sched/corral/resources"
)

// The scheduler and operator endpoints decode whatever a client sends and
// validate it before the loop sees it. These targets feed both codecs the
// same bytes and run every check that needs no master state, as
// serveScheduler and serveOperator do; nothing may panic.

func fuzzResources(spec string) []*mesospb.Resource {
	r, err := resources.Parse(spec, "*")
	if err != nil {
		panic(err)
	}
	return r
}

// seedSchedulerCalls are valid calls of every type a framework sends.
func seedSchedulerCalls() []*schedulerpb.Call {
	fw := &mesospb.FrameworkID{Value: proto.String("fw-1")}
	agent := &mesospb.AgentID{Value: proto.String("agent-1")}
	offer := &mesospb.OfferID{Value: proto.String("offer-1")}
	task := &mesospb.TaskInfo{
		Name: proto.String("web-0"), TaskId: &mesospb.TaskID{Value: proto.String("web-0")}, AgentId: agent,
		Command:   &mesospb.CommandInfo{Value: proto.String("sleep 1")},
		Resources: fuzzResources("cpus:0.1;mem:32;ports:[31000-31001]"),
	}
	group := &mesospb.Offer_Operation{Type: mesospb.Offer_Operation_LAUNCH_GROUP.Enum(), LaunchGroup: &mesospb.Offer_Operation_LaunchGroup{
		Executor: &mesospb.ExecutorInfo{Type: mesospb.ExecutorInfo_DEFAULT.Enum(), ExecutorId: &mesospb.ExecutorID{Value: proto.String("ex")},
			Resources: fuzzResources("cpus:0.1;mem:32")},
		TaskGroup: &mesospb.TaskGroupInfo{Tasks: []*mesospb.TaskInfo{{Name: proto.String("g"), TaskId: &mesospb.TaskID{Value: proto.String("g")},
			AgentId: agent, Resources: fuzzResources("cpus:0.1;mem:16")}}},
	}}
	reserve := &mesospb.Offer_Operation{Type: mesospb.Offer_Operation_RESERVE.Enum(), Reserve: &mesospb.Offer_Operation_Reserve{
		Resources: fuzzResources("cpus(web):1;mem(web):64")}}
	info := &mesospb.FrameworkInfo{User: proto.String("root"), Name: proto.String("web"), Roles: []string{"web", "web/a"},
		FailoverTimeout: proto.Float64(60), Capabilities: []*mesospb.FrameworkInfo_Capability{
			{Type: mesospb.FrameworkInfo_Capability_MULTI_ROLE.Enum()}, {Type: mesospb.FrameworkInfo_Capability_PARTITION_AWARE.Enum()}}}
	withID := proto.CloneOf(info)
	withID.Id = fw
	call := func(t schedulerpb.Call_Type, fill func(*schedulerpb.Call)) *schedulerpb.Call {
		c := &schedulerpb.Call{Type: t.Enum(), FrameworkId: fw}
		fill(c)
		return c
	}
	return []*schedulerpb.Call{
		{Type: schedulerpb.Call_SUBSCRIBE.Enum(), Subscribe: &schedulerpb.Call_Subscribe{FrameworkInfo: info, SuppressedRoles: []string{"web/a"}}},
		call(schedulerpb.Call_SUBSCRIBE, func(c *schedulerpb.Call) { c.Subscribe = &schedulerpb.Call_Subscribe{FrameworkInfo: withID} }),
		call(schedulerpb.Call_ACCEPT, func(c *schedulerpb.Call) {
			c.Accept = &schedulerpb.Call_Accept{OfferIds: []*mesospb.OfferID{offer}, Operations: []*mesospb.Offer_Operation{
				{Type: mesospb.Offer_Operation_LAUNCH.Enum(), Launch: &mesospb.Offer_Operation_Launch{TaskInfos: []*mesospb.TaskInfo{task}}},
				group, reserve}, Filters: &mesospb.Filters{RefuseSeconds: proto.Float64(5)}}
		}),
		call(schedulerpb.Call_DECLINE, func(c *schedulerpb.Call) {
			c.Decline = &schedulerpb.Call_Decline{OfferIds: []*mesospb.OfferID{offer}, Filters: &mesospb.Filters{RefuseSeconds: proto.Float64(1e9)}}
		}),
		call(schedulerpb.Call_REVIVE, func(c *schedulerpb.Call) { c.Revive = &schedulerpb.Call_Revive{Roles: []string{"web"}} }),
		call(schedulerpb.Call_SUPPRESS, func(c *schedulerpb.Call) { c.Suppress = &schedulerpb.Call_Suppress{Roles: []string{"web"}} }),
		call(schedulerpb.Call_KILL, func(c *schedulerpb.Call) { c.Kill = &schedulerpb.Call_Kill{TaskId: task.TaskId, AgentId: agent} }),
		call(schedulerpb.Call_SHUTDOWN, func(c *schedulerpb.Call) {
			c.Shutdown = &schedulerpb.Call_Shutdown{ExecutorId: &mesospb.ExecutorID{Value: proto.String("ex")}, AgentId: agent}
		}),
		call(schedulerpb.Call_ACKNOWLEDGE, func(c *schedulerpb.Call) {
			c.Acknowledge = &schedulerpb.Call_Acknowledge{TaskId: task.TaskId, AgentId: agent, Uuid: make([]byte, 16)}
		}),
		call(schedulerpb.Call_RECONCILE, func(c *schedulerpb.Call) {
			c.Reconcile = &schedulerpb.Call_Reconcile{Tasks: []*schedulerpb.Call_Reconcile_Task{{TaskId: task.TaskId, AgentId: agent}}}
		}),
		call(schedulerpb.Call_MESSAGE, func(c *schedulerpb.Call) {
			c.Message = &schedulerpb.Call_Message{AgentId: agent, ExecutorId: &mesospb.ExecutorID{Value: proto.String("ex")}, Data: []byte("hi")}
		}),
		call(schedulerpb.Call_UPDATE_FRAMEWORK, func(c *schedulerpb.Call) {
			c.UpdateFramework = &schedulerpb.Call_UpdateFramework{FrameworkInfo: withID, SuppressedRoles: []string{"web"}}
		}),
		call(schedulerpb.Call_TEARDOWN, func(*schedulerpb.Call) {}),
	}
}

func addSeeds(f *testing.F, msgs ...proto.Message) {
	for _, m := range msgs {
		for _, c := range []codec.Codec{codec.Protobuf, codec.JSON} {
			b, err := c.Marshal(m)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(b)
		}
	}
}

func FuzzSchedulerCall(f *testing.F) {
	calls := seedSchedulerCalls()
	for _, c := range calls {
		addSeeds(f, c)
	}
	f.Add([]byte(`{"type":"SUBSCRIBE","subscribe":{"framework_info":{"user":"u","name":"n","failover_timeout":"NaN"}}}`))
	f.Add([]byte(`{"type":"ACCEPT","framework_id":{"value":"f"},"accept":{"operations":[{"type":"LAUNCH","launch":{"task_infos":[{"name":"x","task_id":{"value":".."}}]}}]}}`))
	f.Add([]byte(`{"type":"SUBSCRIBE","framework_id":{"value":"../../x"},"subscribe":{"framework_info":{"user":"u","name":"n","id":{"value":"../../x"}}}}`))
	running := &task{state: mesospb.TaskState_TASK_RUNNING}
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, c := range []codec.Codec{codec.Protobuf, codec.JSON} {
			call := &schedulerpb.Call{}
			if c.Unmarshal(b, call) != nil {
				continue
			}
			msg := validateCall(call)
			if msg != "" {
				continue
			}
			if call.GetType() != schedulerpb.Call_SUBSCRIBE && call.GetFrameworkId().GetValue() == "" {
				t.Fatalf("%v without a framework ID passed validation", call.GetType())
			}
			switch call.GetType() {
			case schedulerpb.Call_SUBSCRIBE:
				if id := call.GetSubscribe().GetFrameworkInfo().GetId().GetValue(); id != "" && !safePathName(id) {
					t.Fatalf("framework ID %q, which agents put in paths, passed validation", id)
				}
				checkFrameworkInfo(t, call.GetSubscribe().GetFrameworkInfo(), call.GetSubscribe().GetSuppressedRoles())
			case schedulerpb.Call_UPDATE_FRAMEWORK:
				checkFrameworkInfo(t, call.GetUpdateFramework().GetFrameworkInfo(), call.GetUpdateFramework().GetSuppressedRoles())
			case schedulerpb.Call_ACCEPT:
				fw := &framework{id: call.GetFrameworkId().GetValue(), tasks: map[string]*task{"web-0": running}}
				for _, op := range call.GetAccept().GetOperations() {
					checkOperation(t, fw, op)
				}
				_ = refuseDuration(call.GetAccept().GetFilters())
			case schedulerpb.Call_DECLINE:
				if d := refuseDuration(call.GetDecline().GetFilters()); d < 0 {
					t.Fatalf("refuse_seconds %v gave a negative filter %v", call.GetDecline().GetFilters().GetRefuseSeconds(), d)
				}
			}
		}
	})
}

// checkFrameworkInfo runs what subscribe and updateFramework check.
func checkFrameworkInfo(t *testing.T, info *mesospb.FrameworkInfo, suppressed []string) {
	roles, err := validateFrameworkInfo(info, suppressed)
	if err != nil {
		return
	}
	if len(roles) == 0 && !capabilitiesOf(info).multiRole {
		t.Fatalf("a single-role framework got no role: %v", info)
	}
	for _, r := range roles {
		if r != "*" && resources.ValidateRole(r) != nil {
			t.Fatalf("accepted role %q", r)
		}
	}
}

// safePathName reports whether id can be one component of a path.
func safePathName(id string) bool {
	return id != "" && id != "." && id != ".." && !strings.ContainsAny(id, "/\\\x00")
}

// checkOperation runs the checks launch and launchGroup make before they
// touch the state, and the resource arithmetic that follows.
func checkOperation(t *testing.T, fw *framework, op *mesospb.Offer_Operation) {
	offered := normalizeResources(fuzzResources("cpus:4;mem:4096;disk:1000;ports:[31000-32000]"), "web")
	var tasks []*mesospb.TaskInfo
	switch op.GetType() {
	case mesospb.Offer_Operation_LAUNCH:
		tasks = op.GetLaunch().GetTaskInfos()
	case mesospb.Offer_Operation_LAUNCH_GROUP:
		_ = validateID("Executor ID", op.GetLaunchGroup().GetExecutor().GetExecutorId().GetValue())
		for _, ti := range op.GetLaunchGroup().GetTaskGroup().GetTasks() {
			check := proto.CloneOf(ti)
			if check.Command == nil {
				check.Command = &mesospb.CommandInfo{}
			}
			tasks = append(tasks, check)
		}
	default:
		for _, res := range [][]*mesospb.Resource{op.GetReserve().GetResources(), op.GetUnreserve().GetResources(),
			op.GetCreate().GetVolumes(), op.GetDestroy().GetVolumes()} {
			if resources.Resources(res).Validate() == nil {
				_ = offered.Contains(normalizeResources(res, "web"))
			}
		}
		return
	}
	for _, ti := range tasks {
		if msg := validateTask(ti, "agent-1", fw); msg != "" {
			continue
		}
		id := ti.GetTaskId().GetValue()
		if !safePathName(id) {
			t.Fatalf("task ID %q, which the agent puts in a path, passed validation", id)
		}
		if id == "web-0" {
			t.Fatal("a task with the ID of a running task passed validation")
		}
		need := normalizeResources(ti.GetResources(), "web").Add(normalizeResources(ti.GetExecutor().GetResources(), "web"))
		if offered.Contains(need) {
			_ = offered.Subtract(need)
		}
	}
}

// seedOperatorCalls are valid calls of the types whose fields the
// operator API reads.
func seedOperatorCalls() []*masterpb.Call {
	agent := &mesospb.AgentID{Value: proto.String("agent-1")}
	machine := &mesospb.MachineID{Hostname: proto.String("h1"), Ip: proto.String("127.0.0.1")}
	call := func(t masterpb.Call_Type, fill func(*masterpb.Call)) *masterpb.Call {
		c := &masterpb.Call{Type: t.Enum()}
		fill(c)
		return c
	}
	none := func(*masterpb.Call) {}
	return []*masterpb.Call{
		call(masterpb.Call_GET_HEALTH, none),
		call(masterpb.Call_GET_STATE, none),
		call(masterpb.Call_SUBSCRIBE, none),
		call(masterpb.Call_UPDATE_WEIGHTS, func(c *masterpb.Call) {
			c.UpdateWeights = &masterpb.Call_UpdateWeights{WeightInfos: []*mesospb.WeightInfo{{Role: proto.String("web"), Weight: proto.Float64(2)}}}
		}),
		call(masterpb.Call_SET_QUOTA, func(c *masterpb.Call) {
			c.SetQuota = &masterpb.Call_SetQuota{QuotaRequest: &masterpb.QuotaRequest{Role: proto.String("web"), Guarantee: fuzzResources("cpus:1;mem:128")}}
		}),
		call(masterpb.Call_UPDATE_QUOTA, func(c *masterpb.Call) {
			c.UpdateQuota = &masterpb.Call_UpdateQuota{QuotaConfigs: []*masterpb.QuotaConfig{{Role: proto.String("web"),
				Guarantees: map[string]*mesospb.Value_Scalar{"cpus": {Value: proto.Float64(1)}},
				Limits:     map[string]*mesospb.Value_Scalar{"mem": {Value: proto.Float64(512)}}}}}
		}),
		call(masterpb.Call_REMOVE_QUOTA, func(c *masterpb.Call) { c.RemoveQuota = &masterpb.Call_RemoveQuota{Role: proto.String("web")} }),
		call(masterpb.Call_RESERVE_RESOURCES, func(c *masterpb.Call) {
			c.ReserveResources = &masterpb.Call_ReserveResources{AgentId: agent, Resources: fuzzResources("cpus(web):1")}
		}),
		call(masterpb.Call_CREATE_VOLUMES, func(c *masterpb.Call) {
			c.CreateVolumes = &masterpb.Call_CreateVolumes{AgentId: agent, Volumes: fuzzResources("disk(web):10")}
		}),
		call(masterpb.Call_UPDATE_MAINTENANCE_SCHEDULE, func(c *masterpb.Call) {
			c.UpdateMaintenanceSchedule = &masterpb.Call_UpdateMaintenanceSchedule{Schedule: &masterpb.Schedule{Windows: []*masterpb.Window{{
				MachineIds:     []*mesospb.MachineID{machine},
				Unavailability: &mesospb.Unavailability{Start: &mesospb.TimeInfo{Nanoseconds: proto.Int64(1)}}}}}}
		}),
		call(masterpb.Call_START_MAINTENANCE, func(c *masterpb.Call) {
			c.StartMaintenance = &masterpb.Call_StartMaintenance{Machines: []*mesospb.MachineID{machine}}
		}),
		call(masterpb.Call_MARK_AGENT_GONE, func(c *masterpb.Call) { c.MarkAgentGone = &masterpb.Call_MarkAgentGone{AgentId: agent} }),
		call(masterpb.Call_TEARDOWN, func(c *masterpb.Call) {
			c.Teardown = &masterpb.Call_Teardown{FrameworkId: &mesospb.FrameworkID{Value: proto.String("fw-1")}}
		}),
	}
}

func FuzzOperatorCall(f *testing.F) {
	for _, c := range seedOperatorCalls() {
		addSeeds(f, c)
	}
	f.Add([]byte(`{"type":"UPDATE_QUOTA","update_quota":{"quota_configs":[{"role":"web","guarantees":{"cpus":null}}]}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, c := range []codec.Codec{codec.Protobuf, codec.JSON} {
			call := &masterpb.Call{}
			if c.Unmarshal(b, call) != nil {
				continue
			}
			if ValidateOperatorCall(call) != "" {
				continue
			}
			if call.Type == nil || call.GetType() == masterpb.Call_UNKNOWN {
				t.Fatalf("a call of type %v passed validation", call.GetType())
			}
			for _, cfg := range call.GetUpdateQuota().GetQuotaConfigs() {
				_, _ = quotaValues("guarantees", cfg.GetRole(), cfg.GetGuarantees())
				_, _ = quotaValues("limits", cfg.GetRole(), cfg.GetLimits())
			}
			for _, w := range call.GetUpdateMaintenanceSchedule().GetSchedule().GetWindows() {
				for _, m := range w.GetMachineIds() {
					_ = validateMachine(m)
				}
			}
			for _, m := range append(call.GetStartMaintenance().GetMachines(), call.GetStopMaintenance().GetMachines()...) {
				_ = validateMachine(m)
			}
			for _, res := range [][]*mesospb.Resource{call.GetSetQuota().GetQuotaRequest().GetGuarantee(),
				call.GetReserveResources().GetResources(), call.GetUnreserveResources().GetResources(),
				call.GetCreateVolumes().GetVolumes(), call.GetDestroyVolumes().GetVolumes()} {
				if resources.Resources(res).Validate() == nil {
					_ = normalizeResources(res, "web")
				}
			}
		}
	})
}

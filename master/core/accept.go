package core

import (
	"fmt"

	"google.golang.org/protobuf/proto"

	"github.com/corral-sched/corral/auth/acl"
	"github.com/corral-sched/corral/proto/agentpb"
	"github.com/corral-sched/corral/proto/mesospb"
	"github.com/corral-sched/corral/proto/schedulerpb"
	"github.com/corral-sched/corral/resources"
)

// accept handles ACCEPT: it checks the offers, applies the operations in
// order against what they hold, and gives back (with a filter) whatever was
// not used. Problems with a task become status updates, never HTTP errors:
// the call itself was well formed.
func (m *Core) accept(s *state, f *framework, acc *schedulerpb.Call_Accept) {
	offers, invalid := m.claimOffers(s, f, acc.GetOfferIds())
	if invalid != "" {
		for _, o := range offers {
			m.removeOffer(s, o, false) // void the whole call, as Mesos does
		}
		m.dropTasks(f, acc.GetOperations(), invalid)
		return
	}
	if len(offers) == 0 {
		m.dropTasks(f, acc.GetOperations(), "No offers in ACCEPT")
		return
	}
	a := s.agents[offers[0].agentID]
	role := offers[0].role
	var remaining resources.Resources
	for _, o := range offers {
		remaining = remaining.Add(o.resources)
		m.removeOffer(s, o, false)
	}
	if a.conn == nil {
		m.dropTasks(f, acc.GetOperations(), "Agent is disconnected")
		return
	}
	for _, op := range acc.GetOperations() {
		switch op.GetType() {
		case mesospb.Offer_Operation_LAUNCH:
			for _, ti := range op.GetLaunch().GetTaskInfos() {
				remaining = m.launch(s, f, a, role, ti, remaining)
			}
		case mesospb.Offer_Operation_LAUNCH_GROUP:
			remaining = m.launchGroup(s, f, a, role, op.GetLaunchGroup(), remaining)
		case mesospb.Offer_Operation_RESERVE, mesospb.Offer_Operation_UNRESERVE,
			mesospb.Offer_Operation_CREATE, mesospb.Offer_Operation_DESTROY:
			remaining = m.offerOperation(s, f, a, role, op, remaining)
		default:
			m.unsupportedOperation(f, a, op)
		}
	}
	if !remaining.Empty() {
		m.addFilter(f, a.id, remaining, acc.GetFilters())
	}
	s.allocationPending = true
}

// claimOffers looks up the offers of an ACCEPT. It returns the valid ones
// and, if any offer is unusable, why.
func (m *Core) claimOffers(s *state, f *framework, ids []*mesospb.OfferID) ([]*offer, string) {
	var offers []*offer
	seen := make(map[string]bool, len(ids))
	invalid := ""
	for _, id := range ids {
		v := id.GetValue()
		o := s.offers[v]
		switch {
		case seen[v]:
			invalid = fmt.Sprintf("Offer %s appears more than once in ACCEPT", v)
		case o == nil:
			invalid = fmt.Sprintf("Offer %s is no longer valid", v)
		case o.frameworkID != f.id:
			invalid = fmt.Sprintf("Offer %s is not an offer to framework %s", v, f.id)
		case len(offers) > 0 && o.agentID != offers[0].agentID:
			invalid = fmt.Sprintf("Offers %s and %s are for different agents", offers[0].id, v)
			offers = append(offers, o)
		case len(offers) > 0 && o.role != offers[0].role:
			invalid = fmt.Sprintf("Offers %s and %s are for different roles", offers[0].id, v)
			offers = append(offers, o)
		default:
			offers = append(offers, o)
		}
		seen[v] = true
	}
	return offers, invalid
}

// dropTasks answers every task of a failed ACCEPT with TASK_LOST (or
// TASK_DROPPED for partition-aware frameworks), reason REASON_INVALID_OFFERS.
func (m *Core) dropTasks(f *framework, ops []*mesospb.Offer_Operation, why string) {
	state := lostState(f, mesospb.TaskState_TASK_DROPPED)
	for _, op := range ops {
		var tasks []*mesospb.TaskInfo
		switch op.GetType() {
		case mesospb.Offer_Operation_LAUNCH:
			tasks = op.GetLaunch().GetTaskInfos()
		case mesospb.Offer_Operation_LAUNCH_GROUP:
			tasks = op.GetLaunchGroup().GetTaskGroup().GetTasks()
		}
		for _, t := range tasks {
			m.masterUpdate(f, t.GetTaskId(), t.GetAgentId().GetValue(), state, mesospb.TaskStatus_REASON_INVALID_OFFERS, why)
		}
	}
}

// launch starts one task if it is valid and fits in remaining, and returns
// what is left.
func (m *Core) launch(s *state, f *framework, a *agentState, role string, ti *mesospb.TaskInfo, remaining resources.Resources) resources.Resources {
	fail := func(msg string) resources.Resources {
		m.masterUpdate(f, ti.GetTaskId(), a.id, mesospb.TaskState_TASK_ERROR, mesospb.TaskStatus_REASON_TASK_INVALID, msg)
		return remaining
	}
	if msg := validateTask(ti, a.id, f); msg != "" {
		return fail(msg)
	}
	if user := taskUser(ti, f); !m.cfg.ACLs.Allowed(f.info.GetPrincipal(), acl.RunTasks, user) {
		m.masterUpdate(f, ti.GetTaskId(), a.id, mesospb.TaskState_TASK_ERROR, mesospb.TaskStatus_REASON_TASK_UNAUTHORIZED,
			fmt.Sprintf("Principal %q is not authorized to run tasks as user %q", f.info.GetPrincipal(), user))
		return remaining
	}
	taskRes := normalizeResources(ti.GetResources(), role)
	need := taskRes
	// A custom executor's resources are charged with its first task only.
	var newExec *executor
	execKey := taskKey{f.id, ti.GetExecutor().GetExecutorId().GetValue()}
	if ex := ti.GetExecutor(); ex != nil {
		if running := a.executors[execKey]; running != nil {
			if running.info.GetCommand().GetValue() != ex.GetCommand().GetValue() || running.role != role {
				return fail(fmt.Sprintf("Executor %s is already running on this agent with a different ExecutorInfo (or role)", execKey.task))
			}
		} else {
			execRes := normalizeResources(ex.GetResources(), role)
			need = need.Add(execRes)
			newExec = &executor{role: role, resources: execRes}
		}
	}
	for _, r := range need {
		if got := r.GetAllocationInfo().GetRole(); got != role {
			return fail(fmt.Sprintf("Task resources are allocated to role %q but the offers are for role %q", got, role))
		}
	}
	if !remaining.Contains(need) {
		return fail(fmt.Sprintf("Task uses more resources (%s) than available (%s)", need, remaining))
	}
	info := proto.CloneOf(ti)
	info.Resources = taskRes
	if info.Executor != nil {
		info.Executor.Resources = normalizeResources(ti.GetExecutor().GetResources(), role)
		if info.Executor.FrameworkId == nil {
			info.Executor.FrameworkId = f.info.GetId()
		}
	}
	if newExec != nil {
		newExec.info = info.Executor
		m.addExecutor(s, a, execKey, newExec)
	}
	t := &task{
		info:        info,
		frameworkID: f.id,
		agentID:     a.id,
		role:        role,
		resources:   taskRes,
		state:       mesospb.TaskState_TASK_STAGING,
	}
	if old := f.tasks[ti.GetTaskId().GetValue()]; old != nil {
		m.forgetTask(s, old) // a finished task whose ID is reused
	}
	f.tasks[ti.GetTaskId().GetValue()] = t
	a.tasks[taskKey{f.id, ti.GetTaskId().GetValue()}] = t
	m.publishTaskAdded(s, t)
	s.hold(a, f, role, taskRes)
	m.metrics.launches.Inc()
	m.sendToAgent(a, &agentpb.Event{
		Type:   agentpb.Event_LAUNCH.Enum(),
		Launch: &agentpb.Event_Launch{FrameworkInfo: f.info, Task: info},
	})
	return remaining.Subtract(need)
}

// launchGroup starts a task group under the DEFAULT executor: every task
// or none. The executor's resources are held until the group's last task
// ends.
func (m *Core) launchGroup(s *state, f *framework, a *agentState, role string, lg *mesospb.Offer_Operation_LaunchGroup, remaining resources.Resources) resources.Resources {
	tasks := lg.GetTaskGroup().GetTasks()
	fail := func(msg string) resources.Resources {
		for _, ti := range tasks {
			m.masterUpdate(f, ti.GetTaskId(), a.id, mesospb.TaskState_TASK_ERROR, mesospb.TaskStatus_REASON_TASK_GROUP_INVALID, msg)
		}
		return remaining
	}
	ex := lg.GetExecutor()
	switch {
	case len(tasks) == 0:
		return remaining
	case ex == nil:
		return fail("LAUNCH_GROUP needs an executor")
	case ex.GetType() != mesospb.ExecutorInfo_DEFAULT:
		return fail("Only the DEFAULT executor runs task groups on this master")
	case ex.GetFrameworkId().GetValue() != "" && ex.GetFrameworkId().GetValue() != f.id:
		return fail("The executor's framework_id is not this framework's")
	}
	if err := validateID("Executor ID", ex.GetExecutorId().GetValue()); err != nil {
		return fail(err.Error())
	}
	if msg := validateContainer("Executor", ex.GetContainer()); msg != "" {
		return fail(msg)
	}
	if msg := validateGroupNetworks(ex, tasks); msg != "" {
		return fail(msg)
	}
	seen := map[string]bool{}
	need := normalizeResources(ex.GetResources(), role)
	for _, ti := range tasks {
		if ti.Executor != nil {
			return fail("Tasks of a group must not name an executor: the group's executor runs them")
		}
		check := proto.CloneOf(ti)
		if check.Command == nil {
			check.Command = &mesospb.CommandInfo{}
		}
		if msg := validateTask(check, a.id, f); msg != "" {
			return fail(fmt.Sprintf("Task %s: %s", ti.GetTaskId().GetValue(), msg))
		}
		if seen[ti.GetTaskId().GetValue()] {
			return fail("Task ID " + ti.GetTaskId().GetValue() + " appears twice in the group")
		}
		if user := taskUser(check, f); !m.cfg.ACLs.Allowed(f.info.GetPrincipal(), acl.RunTasks, user) {
			for _, ti := range tasks {
				m.masterUpdate(f, ti.GetTaskId(), a.id, mesospb.TaskState_TASK_ERROR, mesospb.TaskStatus_REASON_TASK_GROUP_UNAUTHORIZED,
					fmt.Sprintf("Principal %q is not authorized to run tasks as user %q", f.info.GetPrincipal(), user))
			}
			return remaining
		}
		seen[ti.GetTaskId().GetValue()] = true
		need = need.Add(normalizeResources(ti.GetResources(), role))
	}
	if !remaining.Contains(need) {
		return fail(fmt.Sprintf("The task group uses more resources (%s) than available (%s)", need, remaining))
	}
	executor := proto.CloneOf(ex)
	executor.FrameworkId = f.info.GetId()
	executor.Resources = normalizeResources(ex.GetResources(), role)
	group := &taskGroup{executorResources: resources.Resources(executor.Resources), role: role, live: len(tasks)}
	s.hold(a, f, role, group.executorResources)
	var infos []*mesospb.TaskInfo
	for _, ti := range tasks {
		info := proto.CloneOf(ti)
		info.Resources = normalizeResources(ti.GetResources(), role)
		info.AgentId = &mesospb.AgentID{Value: proto.String(a.id)}
		t := &task{info: info, frameworkID: f.id, agentID: a.id, role: role, resources: resources.Resources(info.Resources),
			state: mesospb.TaskState_TASK_STAGING, group: group, executor: executor}
		if old := f.tasks[ti.GetTaskId().GetValue()]; old != nil {
			m.forgetTask(s, old)
		}
		f.tasks[ti.GetTaskId().GetValue()] = t
		a.tasks[taskKey{f.id, ti.GetTaskId().GetValue()}] = t
		s.hold(a, f, role, t.resources)
		m.metrics.launches.Inc()
		m.publishTaskAdded(s, t)
		infos = append(infos, info)
	}
	m.sendToAgent(a, &agentpb.Event{
		Type: agentpb.Event_LAUNCH.Enum(),
		Launch: &agentpb.Event_Launch{FrameworkInfo: f.info, Executor: executor,
			TaskGroup: &mesospb.TaskGroupInfo{Tasks: infos}},
	})
	return remaining.Subtract(need)
}

// unsupportedOperation answers offer operations corral does not implement
// (GROW_VOLUME, SHRINK_VOLUME, CREATE_DISK, DESTROY_DISK). Operations with
// an ID get an operation status; others are only logged, as there is
// nobody to tell.
func (m *Core) unsupportedOperation(f *framework, a *agentState, op *mesospb.Offer_Operation) {
	m.log.Info("offer operation not supported yet", "framework", f.id, "type", op.GetType().String())
	m.operationStatus(f, a, op, mesospb.OperationState_OPERATION_ERROR, fmt.Sprintf("Operation %v is not supported by this master", op.GetType()))
}

package core

import (
	"fmt"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/corral-sched/corral/proto/agentpb"
	"github.com/corral-sched/corral/proto/mesospb"
	"github.com/corral-sched/corral/proto/schedulerpb"
	"github.com/corral-sched/corral/resources"
)

func validateAgentSubscribe(sub *agentpb.Call_Subscribe) string {
	info := sub.GetAgentInfo()
	switch {
	case sub == nil || info == nil:
		return "Expecting 'subscribe.agent_info' to be present"
	case info.GetHostname() == "":
		return "Expecting 'agent_info.hostname' to be present"
	}
	if err := resources.Resources(info.GetResources()).Validate(); err != nil {
		return "Invalid agent resources: " + err.Error()
	}
	for _, t := range sub.GetTasks() {
		if t.GetTaskId().GetValue() == "" || t.GetFrameworkId().GetValue() == "" {
			return "Every reported task needs 'task_id' and 'framework_id'"
		}
	}
	return ""
}

// agentSubscribe queues an agent's admission, new or returning, and
// returns its ID. The admission completes once the registry holds it
// (flushAdmissions): the agent hears SUBSCRIBED only then.
func (m *Core) agentSubscribe(s *state, sub *agentpb.Call_Subscribe, conn *AgentConn) string {
	// The call was decoded for this request alone: its AgentInfo is ours
	// to keep.
	info := sub.GetAgentInfo()
	id := info.GetId().GetValue()
	if id == "" {
		s.nextAgent++
		id = fmt.Sprintf("%s-S%d", m.term, s.nextAgent)
		info.Id = &mesospb.AgentID{Value: proto.String(id)}
	}
	s.admissions = append(s.admissions, admission{id: id, sub: sub, conn: conn})
	return id
}

// admitAgent completes an admission whose registry write is durable: the
// agent joins the state, its tasks are reconciled, and it is told
// SUBSCRIBED.
func (m *Core) admitAgent(s *state, adm admission) {
	id, sub, conn := adm.id, adm.sub, adm.conn
	info := sub.GetAgentInfo()
	a := s.agents[id]
	now := m.cfg.Now()
	if a == nil {
		a = &agentState{id: id, tasks: make(map[taskKey]*task), offers: make(map[string]*offer), registeredAt: now}
		s.agents[id] = a
		m.log.Info("agent registered", "agent", id, "hostname", info.GetHostname(), "resources", resources.Resources(info.GetResources()).String())
	} else {
		if a.conn != nil {
			a.conn.out.Close("agent re-subscribed")
		}
		for _, o := range a.offers {
			m.removeOffer(s, o, true)
		}
		m.log.Info("agent re-registered", "agent", id, "hostname", info.GetHostname(), "was", a.health.String())
		if a.registeredAt.IsZero() {
			a.registeredAt = now
		}
		a.reregisteredAt = now
	}
	a.setConn(conn)
	a.info, a.health, a.lastSeen, a.reregisterBy = info, agentActive, m.cfg.AgentClock(), time.Time{}
	total, rejected := resources.ApplyCheckpointed(normalizeAll(info.GetResources()), normalizeAll(sub.GetCheckpointedResources()))
	if len(rejected) > 0 {
		m.log.Warn("agent checkpointed resources it does not have; ignoring them", "agent", id, "rejected", rejected.String())
	}
	s.setTotal(a, total)
	// SUBSCRIBED goes first: the agent takes the stream for its master's
	// only once it hears it, and reconciling its tasks may already say
	// more (shut down a framework removed while it was away).
	conn.out.Push(&agentpb.Event{
		Type: agentpb.Event_SUBSCRIBED.Enum(),
		Subscribed: &agentpb.Event_Subscribed{
			AgentId:             info.Id,
			PingIntervalSeconds: proto.Float64(m.cfg.AgentPingTimeout.Seconds()),
			// Never modified once the master is built: events may share it.
			MasterInfo:     m.info,
			BatchedUpdates: proto.Bool(true),
		},
	})
	m.publishAgentAdded(s, a)
	m.reconcileAgentTasks(s, a, sub)
	m.reregisterExecutors(s, a, sub.GetExecutors())
	s.allocationPending = true
}

// reconcileAgentTasks makes the master's view of an agent's tasks match the
// agent's report: the agent is the truth about what runs on it.
func (m *Core) reconcileAgentTasks(s *state, a *agentState, sub *agentpb.Call_Subscribe) {
	infos := make(map[string]*mesospb.FrameworkInfo)
	for _, fi := range sub.GetFrameworks() {
		infos[fi.GetId().GetValue()] = fi
	}
	reported := make(map[taskKey]bool)
	for _, rt := range sub.GetTasks() {
		k := taskKey{rt.GetFrameworkId().GetValue(), rt.GetTaskId().GetValue()}
		reported[k] = true
		if t := a.tasks[k]; t != nil {
			t.state = rt.GetState()
			if mesospb.IsTerminal(t.state) {
				m.releaseTask(s, t)
			}
			continue
		}
		m.adoptTask(s, a, rt, infos[k.framework])
	}
	for k, t := range a.tasks {
		if reported[k] {
			continue
		}
		// The agent does not have it: the launch never arrived, or the task
		// ended and its updates were all acknowledged.
		f := s.frameworks[t.frameworkID]
		if f != nil && !mesospb.IsTerminal(t.state) {
			st := m.masterUpdate(f, t.info.GetTaskId(), a.id, lostState(f, mesospb.TaskState_TASK_DROPPED),
				mesospb.TaskStatus_REASON_AGENT_REREGISTERED, "Task is not on the agent after it re-registered")
			t.state, t.status = st.GetState(), st
		}
		m.forgetTask(s, t)
	}
	m.reachableAgain(s, a, reported)
}

// adoptTask takes over a task the master did not know, reported by an agent
// (after a master restart, or an agent back from unreachable).
func (m *Core) adoptTask(s *state, a *agentState, rt *mesospb.Task, fi *mesospb.FrameworkInfo) {
	fwID := rt.GetFrameworkId().GetValue()
	if s.removed[fwID] {
		m.sendToAgent(a, &agentpb.Event{
			Type:              agentpb.Event_SHUTDOWN_FRAMEWORK.Enum(),
			ShutdownFramework: &agentpb.Event_ShutdownFramework{FrameworkId: rt.GetFrameworkId()},
		})
		return
	}
	f := s.frameworks[fwID]
	if f == nil {
		placeholder := fi == nil
		if placeholder {
			fi = &mesospb.FrameworkInfo{User: proto.String(""), Name: proto.String(""), Id: rt.GetFrameworkId()}
		}
		roles, _ := frameworkRoles(fi)
		// A framework known only from its tasks: it keeps them until it
		// subscribes again (no failover clock runs for it until then).
		f = &framework{
			id: fwID, info: proto.CloneOf(fi), roles: roles, caps: capabilitiesOf(fi), placeholder: placeholder,
			suppressed: make(map[string]bool), offers: make(map[string]*offer),
			tasks: make(map[string]*task), allocated: make(map[string]resources.Resources),
			disconnectedAt: m.cfg.Now(),
		}
		s.frameworks[fwID] = f
	}
	res := resources.Resources(rt.GetResources())
	role := ""
	if len(res) > 0 {
		role = res[0].GetAllocationInfo().GetRole()
	}
	if role == "" && len(f.roles) > 0 {
		role = f.roles[0]
	}
	res = normalizeResources(res, role)
	info := &mesospb.TaskInfo{
		Name: rt.Name, TaskId: rt.TaskId, AgentId: &mesospb.AgentID{Value: proto.String(a.id)},
		Resources: res, Labels: rt.Labels, Discovery: rt.Discovery, Container: rt.Container,
		HealthCheck: rt.HealthCheck, KillPolicy: rt.KillPolicy,
	}
	t := &task{info: info, frameworkID: fwID, agentID: a.id, role: role, resources: res, state: rt.GetState()}
	if n := len(rt.GetStatuses()); n > 0 {
		t.status = rt.GetStatuses()[n-1]
	}
	f.tasks[rt.GetTaskId().GetValue()] = t
	a.tasks[taskKey{fwID, rt.GetTaskId().GetValue()}] = t
	m.publishTaskAdded(s, t)
	if mesospb.IsTerminal(t.state) {
		t.released = true
		return
	}
	s.hold(a, f, role, res)
	if f.conn != nil {
		m.sendToFramework(f, updateEvent(m.reconciledStatus(t)))
	}
}

func (m *Core) handleAgentCall(s *state, call *agentpb.Call, streamID string) Result {
	a := s.agents[call.GetAgentId().GetValue()]
	switch {
	case a == nil:
		return badRequest("Agent %s is not registered", call.GetAgentId().GetValue())
	case a.conn == nil:
		return Result{Code: Forbidden, Msg: "Agent is not subscribed"}
	case streamID != a.conn.streamID:
		return badRequest("The stream ID %q does not match the agent's current subscription", streamID)
	}
	a.lastSeen = m.cfg.AgentClock()
	switch call.GetType() {
	case agentpb.Call_UPDATE:
		updates := call.GetUpdates()
		if call.Update != nil {
			updates = append([]*agentpb.Call_Update{call.GetUpdate()}, updates...)
		}
		if len(updates) == 0 {
			return badRequest("Expecting 'update' or 'updates'")
		}
		// All or nothing: a refused call was not applied in part.
		for _, u := range updates {
			if u.GetStatus().GetTaskId().GetValue() == "" || u.GetFrameworkId().GetValue() == "" {
				return badRequest("Expecting every update with 'framework_id' and 'status.task_id'")
			}
		}
		for _, u := range updates {
			m.statusUpdate(s, a, u)
		}
	case agentpb.Call_EXECUTOR_EXITED:
		ex := call.GetExecutorExited()
		if ex.GetFrameworkId().GetValue() == "" || ex.GetExecutorId().GetValue() == "" {
			return badRequest("Expecting 'executor_exited' with 'framework_id' and 'executor_id'")
		}
		m.removeExecutor(s, a, taskKey{ex.GetFrameworkId().GetValue(), ex.GetExecutorId().GetValue()})
	case agentpb.Call_PONG:
	case agentpb.Call_MESSAGE:
		msg := call.GetMessage()
		m.sendToFramework(s.frameworks[msg.GetFrameworkId().GetValue()], &schedulerpb.Event{
			Type: schedulerpb.Event_MESSAGE.Enum(),
			Message: &schedulerpb.Event_Message{
				AgentId: call.GetAgentId(), ExecutorId: msg.GetExecutorId(), Data: msg.GetData(),
			},
		})
	default:
		return Result{Code: NotImplemented, Msg: fmt.Sprintf("Agent call %v is not implemented", call.GetType())}
	}
	return accepted
}

func (m *Core) agentDisconnected(s *state, id string, conn *AgentConn, reason string) {
	s.dropAdmission(conn)
	a := s.agents[id]
	if a == nil || a.conn != conn {
		return
	}
	m.log.Warn("agent disconnected", "agent", id, "hostname", a.info.GetHostname(), "reason", reason)
	a.setConn(nil)
	if a.health == agentActive {
		a.health = agentDisconnected
	}
	s.touch(a)
	for _, o := range a.offers {
		m.removeOffer(s, o, true)
	}
}

// sendToAgent queues ev on the agent's stream if it has one.
func (m *Core) sendToAgent(a *agentState, ev *agentpb.Event) bool {
	if a == nil || a.conn == nil {
		return false
	}
	return a.conn.out.Push(ev)
}

// ShutdownEvent tells an agent to shut down, saying why.
func ShutdownEvent(msg string) *agentpb.Event {
	return &agentpb.Event{Type: agentpb.Event_SHUTDOWN.Enum(), Shutdown: &agentpb.Event_Shutdown{Message: proto.String(msg)}}
}

// normalizeAll puts resources from an agent into the master's shape:
// post-refinement reservations, no allocation_info.
func normalizeAll(in []*mesospb.Resource) resources.Resources {
	out := make(resources.Resources, 0, len(in))
	for _, x := range in {
		x = resources.Normalize(x)
		x.AllocationInfo = nil
		out = out.Add(resources.Resources{x})
	}
	return out
}

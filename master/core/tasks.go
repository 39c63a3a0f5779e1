package core

import (
	"time"

	"bytes"

	"google.golang.org/protobuf/proto"

	"github.com/corral-sched/corral/proto/agentpb"
	"github.com/corral-sched/corral/proto/mesospb"
	"github.com/corral-sched/corral/proto/schedulerpb"
	"github.com/corral-sched/corral/store"
)

// masterUpdate sends the framework a status update the master made up
// itself for a change it decided (invalid launches, lost agents), and
// counts it. Such updates carry no uuid, so the framework does not
// acknowledge them. It returns the update.
func (m *Core) masterUpdate(f *framework, taskID *mesospb.TaskID, agentID string, state mesospb.TaskState,
	reason mesospb.TaskStatus_Reason, msg string) *mesospb.TaskStatus {
	st := m.masterStatus(taskID, agentID, state, reason, msg)
	m.countUpdate(st, false)
	m.sendToFramework(f, updateEvent(st))
	return st
}

// masterAnswer sends a status the master made up to answer RECONCILE or
// KILL: news of how things stand, not of a change, so it is not counted.
func (m *Core) masterAnswer(f *framework, taskID *mesospb.TaskID, agentID string, state mesospb.TaskState,
	reason mesospb.TaskStatus_Reason, msg string) {
	m.sendToFramework(f, updateEvent(m.masterStatus(taskID, agentID, state, reason, msg)))
}

func (m *Core) masterStatus(taskID *mesospb.TaskID, agentID string, state mesospb.TaskState,
	reason mesospb.TaskStatus_Reason, msg string) *mesospb.TaskStatus {
	st := &mesospb.TaskStatus{
		TaskId:    proto.CloneOf(taskID),
		State:     state.Enum(),
		Source:    mesospb.TaskStatus_SOURCE_MASTER.Enum(),
		Reason:    reason.Enum(),
		Message:   optionalString(msg),
		Timestamp: proto.Float64(float64(m.cfg.Now().UnixNano()) / 1e9),
	}
	if agentID != "" {
		st.AgentId = &mesospb.AgentID{Value: proto.String(agentID)}
	}
	return st
}

// countUpdate counts a task status update by state and source, as Mesos
// counts task state changes: an agent's (fromAgent) as it arrives, and
// the master's own, without which losing an agent would count nothing.
// An agent cannot speak for the master: its updates count as
// SOURCE_AGENT unless they say SOURCE_EXECUTOR.
func (m *Core) countUpdate(st *mesospb.TaskStatus, fromAgent bool) {
	source := st.GetSource()
	if fromAgent && source != mesospb.TaskStatus_SOURCE_EXECUTOR {
		source = mesospb.TaskStatus_SOURCE_AGENT
	}
	m.metrics.statusUpdates.WithLabelValues(st.GetState().String(), source.String()).Inc()
}

func updateEvent(st *mesospb.TaskStatus) *schedulerpb.Event {
	return &schedulerpb.Event{
		Type:   schedulerpb.Event_UPDATE.Enum(),
		Update: &schedulerpb.Event_Update{Status: st},
	}
}

// lostState is TASK_LOST, or the more precise state a PARTITION_AWARE
// framework understands.
func lostState(f *framework, aware mesospb.TaskState) mesospb.TaskState {
	if f.caps.partitionAware {
		return aware
	}
	return mesospb.TaskState_TASK_LOST
}

// releaseTask gives a task's resources back to its agent and framework.
func (m *Core) releaseTask(s *state, t *task) {
	if t.released {
		return
	}
	t.released = true
	res := t.resources
	if g := t.group; g != nil {
		if g.live--; g.live == 0 {
			res = res.Add(g.executorResources) // the executor ends with its last task
		}
	}
	s.release(s.agents[t.agentID], s.frameworks[t.frameworkID], t.role, res)
	s.allocationPending = true
}

// forgetTask drops a task from the master's books; a finished one goes
// to its framework's history.
func (m *Core) forgetTask(s *state, t *task) {
	m.releaseTask(s, t)
	if f := s.frameworks[t.frameworkID]; f != nil && f.tasks[t.info.GetTaskId().GetValue()] == t {
		delete(f.tasks, t.info.GetTaskId().GetValue())
		m.completeTask(s, f, t)
	}
	if a := s.agents[t.agentID]; a != nil {
		k := taskKey{t.frameworkID, t.info.GetTaskId().GetValue()}
		if a.tasks[k] == t {
			delete(a.tasks, k)
		}
	}
}

func (m *Core) kill(s *state, f *framework, k *schedulerpb.Call_Kill) {
	t := f.tasks[k.GetTaskId().GetValue()]
	if t == nil || mesospb.IsTerminal(t.state) {
		// Mesos answers a kill of an unknown task by reconciling it.
		m.reconcile(s, f, []*schedulerpb.Call_Reconcile_Task{{TaskId: k.GetTaskId(), AgentId: k.GetAgentId()}})
		return
	}
	a := s.agents[t.agentID]
	if a == nil || a.conn == nil {
		// The agent will be told once it is back (it re-registers with its
		// tasks and the framework can kill again); say where things stand.
		m.masterAnswer(f, t.info.GetTaskId(), t.agentID, lostState(f, mesospb.TaskState_TASK_UNREACHABLE),
			mesospb.TaskStatus_REASON_AGENT_DISCONNECTED, "Agent is disconnected; the task cannot be killed now")
		return
	}
	policy := k.GetKillPolicy()
	if policy == nil {
		policy = t.info.GetKillPolicy()
	}
	m.sendToAgent(a, &agentpb.Event{
		Type: agentpb.Event_KILL.Enum(),
		Kill: &agentpb.Event_Kill{FrameworkId: f.info.GetId(), TaskId: t.info.GetTaskId(), KillPolicy: policy},
	})
}

func (m *Core) acknowledge(s *state, f *framework, ack *schedulerpb.Call_Acknowledge) {
	a := s.agents[ack.GetAgentId().GetValue()]
	if t := f.tasks[ack.GetTaskId().GetValue()]; t != nil && t.status != nil &&
		mesospb.IsTerminal(t.status.GetState()) && bytes.Equal(t.status.GetUuid(), ack.GetUuid()) {
		// The framework has seen the end of the task: Mesos forgets it then.
		m.forgetTask(s, t)
	}
	if a == nil || a.conn == nil {
		return // the agent re-sends the update once it is back
	}
	m.sendToAgent(a, &agentpb.Event{
		Type: agentpb.Event_ACKNOWLEDGE.Enum(),
		Acknowledge: &agentpb.Event_Acknowledge{
			FrameworkId: f.info.GetId(),
			TaskId:      ack.GetTaskId(),
			Uuid:        ack.GetUuid(),
		},
	})
}

// reconcile answers RECONCILE: with no tasks listed, the latest state of
// every task the master knows for the framework; otherwise one update per
// listed task, with a made-up state for tasks the master does not know.
func (m *Core) reconcile(s *state, f *framework, tasks []*schedulerpb.Call_Reconcile_Task) {
	reason := mesospb.TaskStatus_REASON_RECONCILIATION
	if len(tasks) == 0 {
		for _, t := range f.tasks {
			m.sendToFramework(f, updateEvent(m.reconciledStatus(t)))
		}
		return
	}
	for _, rt := range tasks {
		id := rt.GetTaskId().GetValue()
		if t := f.tasks[id]; t != nil {
			m.sendToFramework(f, updateEvent(m.reconciledStatus(t)))
			continue
		}
		if t := f.unreachable.get(id); t != nil {
			m.sendToFramework(f, updateEvent(m.unreachableStatus(t)))
			continue
		}
		agentID := rt.GetAgentId().GetValue()
		a := s.agents[agentID]
		switch {
		case agentID != "" && a != nil && a.health == agentDisconnected && !a.reregisterBy.IsZero():
			// An agent recovered from the registry that has not re-registered
			// yet: its tasks are not known yet. As in Mesos, no answer; the
			// agent either comes back with the task or becomes unreachable.
			continue
		case agentID != "" && s.gone[agentID]:
			// As in Mesos: an operator said the agent will never come back.
			m.masterAnswer(f, rt.GetTaskId(), agentID, lostState(f, mesospb.TaskState_TASK_GONE_BY_OPERATOR), reason, "Reconciliation: the task's agent was marked gone")
		case agentID != "" && a != nil && a.health == agentUnreachable:
			m.masterAnswer(f, rt.GetTaskId(), agentID, lostState(f, mesospb.TaskState_TASK_UNREACHABLE), reason, "Reconciliation: task is on an unreachable agent")
		case agentID != "" && a != nil:
			m.masterAnswer(f, rt.GetTaskId(), agentID, lostState(f, mesospb.TaskState_TASK_GONE), reason, "Reconciliation: task is unknown to the agent")
		default:
			m.masterAnswer(f, rt.GetTaskId(), agentID, lostState(f, mesospb.TaskState_TASK_UNKNOWN), reason, "Reconciliation: task is unknown")
		}
	}
}

// reconciledStatus is the task's latest state as the master knows it,
// stamped as a reconciliation answer and without a uuid.
func (m *Core) reconciledStatus(t *task) *mesospb.TaskStatus {
	st := &mesospb.TaskStatus{}
	if t.status != nil {
		st = proto.CloneOf(t.status)
	}
	st.TaskId = proto.CloneOf(t.info.GetTaskId())
	st.State = t.state.Enum()
	st.AgentId = &mesospb.AgentID{Value: proto.String(t.agentID)}
	st.Source = mesospb.TaskStatus_SOURCE_MASTER.Enum()
	st.Reason = mesospb.TaskStatus_REASON_RECONCILIATION.Enum()
	st.Uuid = nil
	st.Timestamp = proto.Float64(float64(m.cfg.Now().UnixNano()) / 1e9)
	return st
}

// statusUpdate handles an agent's UPDATE: it records the task's state,
// frees the resources of a finished task, and forwards the update. The
// agent retries until the framework's acknowledgement comes back.
func (m *Core) statusUpdate(s *state, a *agentState, u *agentpb.Call_Update) {
	fwID := u.GetFrameworkId().GetValue()
	st := proto.CloneOf(u.GetStatus())
	if st.AgentId == nil {
		st.AgentId = &mesospb.AgentID{Value: proto.String(a.id)}
	}
	f := s.frameworks[fwID]
	t := a.tasks[taskKey{fwID, st.GetTaskId().GetValue()}]
	if t != nil {
		t.status = st
		t.state = st.GetState()
		if u.LatestState != nil {
			t.state = u.GetLatestState()
		}
		if mesospb.IsTerminal(t.state) {
			m.releaseTask(s, t)
		}
		m.countUpdate(st, true)
		m.publishTaskUpdated(s, fwID, st, t.state)
	}
	if f == nil {
		// The framework is gone: nobody will acknowledge, so the master does
		// it on its behalf lest the agent retry forever.
		m.sendToAgent(a, &agentpb.Event{
			Type: agentpb.Event_ACKNOWLEDGE.Enum(),
			Acknowledge: &agentpb.Event_Acknowledge{
				FrameworkId: u.GetFrameworkId(), TaskId: st.GetTaskId(), Uuid: st.GetUuid(),
			},
		})
		return
	}
	if len(st.GetUuid()) == 0 {
		// An update that needs no acknowledgement cannot free the task's
		// record later, so forget a finished task now.
		if t != nil && mesospb.IsTerminal(t.state) {
			defer m.forgetTask(s, t)
		}
	}
	m.sendToFramework(f, updateEvent(st))
}

// unreachable is an agent to mark unreachable, and why.
type unreachable struct {
	agent *agentState
	why   string
}

// markAllUnreachable handles agents that have been silent too long: their
// offers are rescinded and their tasks reported lost (or unreachable to
// partition-aware frameworks); their resources are released. They may
// still come back and re-register. They are recorded with one registry
// write: when a partition cuts off thousands at once, a write (an fsync)
// each would hold up the loop long enough for the rest to miss their
// pings too.
func (m *Core) markAllUnreachable(s *state, lost []unreachable) {
	if len(lost) == 0 {
		return
	}
	at := []byte(m.cfg.Now().UTC().Format(time.RFC3339Nano))
	ops := make([]store.Op, len(lost))
	for i, u := range lost {
		ops[i] = store.Op{Key: registryUnreachable + "/" + u.agent.id, Value: at}
	}
	if err := m.registryApply(ops); err != nil {
		m.log.Error("could not record agents as unreachable", "agents", len(lost), "err", err)
	}
	for _, u := range lost {
		m.setUnreachable(s, u.agent, u.why)
	}
}

func (m *Core) setUnreachable(s *state, a *agentState, why string) {
	m.log.Warn("agent unreachable", "agent", a.id, "hostname", a.info.GetHostname(), "reason", why)
	if a.conn != nil {
		a.conn.out.Close(why)
		a.setConn(nil)
	}
	a.health = agentUnreachable
	s.touch(a)
	m.publishAgentRemoved(s, a.id)
	m.dropAgent(s, a, mesospb.TaskState_TASK_UNREACHABLE, mesospb.TaskStatus_REASON_AGENT_REMOVED,
		"Agent "+a.info.GetHostname()+" is unreachable: "+why)
}

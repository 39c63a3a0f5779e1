package core

import (
	"container/list"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/corral-sched/corral/proto/mesospb"
)

// A task whose agent became unreachable holds no resources and is no
// longer in its framework's tasks, but it may well still run: the master
// keeps a record of it, as Mesos does, so that operators see it
// (GET_TASKS' unreachable_tasks) until its agent comes back (the agent's
// report makes it a task again) or is gone (it ends as
// TASK_GONE_BY_OPERATOR). The records live in memory only: like Mesos, a
// new leader does not know them.

// unreachableTasks are one framework's records, oldest first; the zero
// value is empty and ready to use.
type unreachableTasks struct {
	byID  map[string]*list.Element // of *task
	order list.List
}

// add records t, replacing a record of the same task ID, and returns the
// oldest record if that makes more than limit.
func (u *unreachableTasks) add(t *task, limit int) (evicted *task) {
	if u.byID == nil {
		u.byID = make(map[string]*list.Element)
	}
	id := t.info.GetTaskId().GetValue()
	u.remove(id)
	u.byID[id] = u.order.PushBack(t)
	if u.order.Len() <= limit {
		return nil
	}
	oldest := u.order.Front().Value.(*task)
	u.remove(oldest.info.GetTaskId().GetValue())
	return oldest
}

func (u *unreachableTasks) get(id string) *task {
	if e := u.byID[id]; e != nil {
		return e.Value.(*task)
	}
	return nil
}

func (u *unreachableTasks) remove(id string) {
	if e := u.byID[id]; e != nil {
		u.order.Remove(e)
		delete(u.byID, id)
	}
}

func (u *unreachableTasks) len() int { return u.order.Len() }

// all lists the records oldest first.
func (u *unreachableTasks) all() []*task {
	out := make([]*task, 0, u.order.Len())
	for e := u.order.Front(); e != nil; e = e.Next() {
		out = append(out, e.Value.(*task))
	}
	return out
}

// keepUnreachable records t, just dropped from a's books, as unreachable
// since at; st is the update its framework was sent.
func (m *Core) keepUnreachable(s *state, f *framework, a *agentState, t *task, st *mesospb.TaskStatus, at time.Time) {
	// Operators see TASK_UNREACHABLE whatever the framework was told: a
	// framework that is not partition-aware hears TASK_LOST (it knows no
	// better), but the task may still run and come back.
	t.state, t.status, t.unreachableAt = mesospb.TaskState_TASK_UNREACHABLE, st, at
	if evicted := f.unreachable.add(t, m.cfg.MaxUnreachableTasksPerFramework); evicted != nil {
		if ea := s.agents[evicted.agentID]; ea != nil {
			delete(ea.unreachable, taskKey{evicted.frameworkID, evicted.info.GetTaskId().GetValue()})
		}
	}
	if a.unreachable == nil {
		a.unreachable = make(map[taskKey]*task)
	}
	a.unreachable[taskKey{f.id, t.info.GetTaskId().GetValue()}] = t
}

// takeUnreachable removes and returns the records of a's tasks that are
// still held by their frameworks (a framework removed meanwhile took its
// records with it).
func (m *Core) takeUnreachable(s *state, a *agentState) map[taskKey]*task {
	out := make(map[taskKey]*task, len(a.unreachable))
	for k, t := range a.unreachable {
		if f := s.frameworks[k.framework]; f != nil && f.unreachable.get(k.task) == t {
			f.unreachable.remove(k.task)
			out[k] = t
		}
	}
	a.unreachable = nil
	return out
}

// reachableAgain settles the records of an agent that came back: the
// tasks it reported are tasks again (adoptTask took them over); the ones
// it did not are gone, and their frameworks, which last heard
// TASK_UNREACHABLE (or TASK_LOST), are told so.
func (m *Core) reachableAgain(s *state, a *agentState, reported map[taskKey]bool) {
	for k, t := range m.takeUnreachable(s, a) {
		if reported[k] {
			continue
		}
		f := s.frameworks[k.framework]
		st := m.masterUpdate(f, t.info.GetTaskId(), a.id, lostState(f, mesospb.TaskState_TASK_GONE),
			mesospb.TaskStatus_REASON_AGENT_REREGISTERED, "Task was not on the agent when it came back from unreachable")
		m.publishTaskUpdated(s, k.framework, st, st.GetState())
	}
}

// goneUnreachable ends the records of an agent that will never come back,
// reporting their tasks in state (TASK_GONE_BY_OPERATOR, or TASK_LOST to
// frameworks that are not partition-aware).
func (m *Core) goneUnreachable(s *state, a *agentState, state mesospb.TaskState, reason mesospb.TaskStatus_Reason, msg string) {
	for k, t := range m.takeUnreachable(s, a) {
		f := s.frameworks[k.framework]
		st := m.masterUpdate(f, t.info.GetTaskId(), a.id, lostState(f, state), reason, msg)
		m.publishTaskUpdated(s, k.framework, st, st.GetState())
	}
}

// unreachableStatus answers reconciliation for a recorded task: what its
// framework was told when the agent went, with the unreachable time.
func (m *Core) unreachableStatus(t *task) *mesospb.TaskStatus {
	st := proto.CloneOf(t.status)
	st.Reason = mesospb.TaskStatus_REASON_RECONCILIATION.Enum()
	st.Uuid = nil
	st.Timestamp = proto.Float64(seconds(m.cfg.Now()))
	return st
}

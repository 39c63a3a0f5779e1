package core

import (
	"google.golang.org/protobuf/proto"

	"github.com/corral-sched/corral/proto/masterpb"
	"github.com/corral-sched/corral/proto/mesospb"
)

// Operators (the web UI, the CLI's watchers) SUBSCRIBE to the operator API
// and get the cluster's state, then every change as it happens: TASK_ADDED,
// TASK_UPDATED, AGENT_ADDED, AGENT_REMOVED, FRAMEWORK_ADDED,
// FRAMEWORK_UPDATED, FRAMEWORK_REMOVED (the transport adds HEARTBEAT).

// OperatorConn is one operator's event stream.
type OperatorConn struct {
	out    Stream
	viewer *viewer // what its principal may see
}

// SubscribeOperator adds an operator's stream and queues its SUBSCRIBED
// event: the state as principal may see it.
func (m *Core) SubscribeOperator(principal string, out Stream) *OperatorConn {
	s := m.st
	conn := &OperatorConn{out: out, viewer: m.viewer(principal)}
	s.operators[conn] = true
	snapshot := &masterpb.Response{Type: masterpb.Response_GET_STATE.Enum(), GetState: m.getState(s)}
	conn.viewer.filterView(s, snapshot)
	conn.out.Push(&masterpb.Event{Type: masterpb.Event_SUBSCRIBED.Enum(), Subscribed: &masterpb.Event_Subscribed{
		GetState: snapshot.GetGetState(), HeartbeatIntervalSeconds: proto.Float64(m.cfg.HeartbeatInterval.Seconds()),
	}})
	return conn
}

// UnsubscribeOperator forgets an operator's stream once it ended.
func (m *Core) UnsubscribeOperator(conn *OperatorConn) { delete(m.st.operators, conn) }

// publish sends ev to every operator subscribed.
func (m *Core) publish(s *state, ev *masterpb.Event) {
	for conn := range s.operators {
		if !conn.viewer.mayViewEvent(s, ev) {
			continue
		}
		if !conn.out.Push(ev) {
			delete(s.operators, conn) // its queue overflowed: it must resubscribe
		}
	}
}

func (m *Core) publishTaskAdded(s *state, t *task) {
	if len(s.operators) > 0 {
		m.publish(s, &masterpb.Event{Type: masterpb.Event_TASK_ADDED.Enum(), TaskAdded: &masterpb.Event_TaskAdded{Task: taskProto(t)}})
	}
}

func (m *Core) publishTaskUpdated(s *state, frameworkID string, st *mesospb.TaskStatus, latest mesospb.TaskState) {
	if len(s.operators) > 0 {
		m.publish(s, &masterpb.Event{Type: masterpb.Event_TASK_UPDATED.Enum(), TaskUpdated: &masterpb.Event_TaskUpdated{
			FrameworkId: &mesospb.FrameworkID{Value: proto.String(frameworkID)}, Status: st, State: latest.Enum()}})
	}
}

func (m *Core) publishAgentAdded(s *state, a *agentState) {
	if len(s.operators) > 0 {
		m.publish(s, &masterpb.Event{Type: masterpb.Event_AGENT_ADDED.Enum(), AgentAdded: &masterpb.Event_AgentAdded{Agent: m.agentProto(a)}})
	}
}

func (m *Core) publishAgentRemoved(s *state, id string) {
	if len(s.operators) > 0 {
		m.publish(s, &masterpb.Event{Type: masterpb.Event_AGENT_REMOVED.Enum(), AgentRemoved: &masterpb.Event_AgentRemoved{
			AgentId: &mesospb.AgentID{Value: proto.String(id)}}})
	}
}

func (m *Core) publishFramework(s *state, f *framework, added bool) {
	if len(s.operators) == 0 {
		return
	}
	if added {
		m.publish(s, &masterpb.Event{Type: masterpb.Event_FRAMEWORK_ADDED.Enum(),
			FrameworkAdded: &masterpb.Event_FrameworkAdded{Framework: m.frameworkProto(s, f)}})
		return
	}
	m.publish(s, &masterpb.Event{Type: masterpb.Event_FRAMEWORK_UPDATED.Enum(),
		FrameworkUpdated: &masterpb.Event_FrameworkUpdated{Framework: m.frameworkProto(s, f)}})
}

func (m *Core) publishFrameworkRemoved(s *state, f *framework) {
	if len(s.operators) > 0 {
		m.publish(s, &masterpb.Event{Type: masterpb.Event_FRAMEWORK_REMOVED.Enum(),
			FrameworkRemoved: &masterpb.Event_FrameworkRemoved{FrameworkInfo: proto.CloneOf(f.info)}})
	}
}

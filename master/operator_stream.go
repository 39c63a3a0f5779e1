package master

import (
	"net/http"

	"google.golang.org/protobuf/proto"

	"github.com/corral-sched/corral/codec"
	"github.com/corral-sched/corral/proto/masterpb"
	"github.com/corral-sched/corral/proto/mesospb"
)

// Operators (the web UI, the CLI's watchers) SUBSCRIBE to the operator API
// and get the cluster's state, then every change as it happens, on a
// RecordIO stream: TASK_ADDED, TASK_UPDATED, AGENT_ADDED, AGENT_REMOVED,
// FRAMEWORK_ADDED, FRAMEWORK_UPDATED, FRAMEWORK_REMOVED and HEARTBEAT.

type operatorConn struct {
	out    *outbox
	viewer *viewer // what its principal may see
}

func (m *Master) subscribeOperator(w http.ResponseWriter, r *http.Request, out codec.Codec, principal string) {
	conn := &operatorConn{out: newOutbox(), viewer: m.viewer(principal)}
	err := m.do(r.Context(), func(s *state) {
		s.operators[conn] = true
		snapshot := &masterpb.Response{Type: masterpb.Response_GET_STATE.Enum(), GetState: m.getState(s)}
		conn.viewer.filterView(s, snapshot)
		conn.out.push(&masterpb.Event{Type: masterpb.Event_SUBSCRIBED.Enum(), Subscribed: &masterpb.Event_Subscribed{
			GetState: snapshot.GetGetState(), HeartbeatIntervalSeconds: proto.Float64(m.cfg.HeartbeatInterval.Seconds()),
		}})
	})
	if err != nil {
		http.Error(w, "Master is unavailable: "+err.Error(), http.StatusServiceUnavailable)
		return
	}
	w.Header().Set("Content-Type", out.MediaType())
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	if f, ok := w.(http.Flusher); ok {
		f.Flush()
	}
	heartbeat := func() proto.Message { return &masterpb.Event{Type: masterpb.Event_HEARTBEAT.Enum()} }
	conn.out.pump(w, r, out, heartbeat, m.cfg.HeartbeatInterval)
	m.post(func(s *state) { delete(s.operators, conn) })
}

// publish sends ev to every operator subscribed.
func (m *Master) publish(s *state, ev *masterpb.Event) {
	for conn := range s.operators {
		if !conn.viewer.mayViewEvent(s, ev) {
			continue
		}
		if !conn.out.push(ev) {
			delete(s.operators, conn) // its queue overflowed: it must resubscribe
		}
	}
}

func (m *Master) publishTaskAdded(s *state, t *task) {
	if len(s.operators) > 0 {
		m.publish(s, &masterpb.Event{Type: masterpb.Event_TASK_ADDED.Enum(), TaskAdded: &masterpb.Event_TaskAdded{Task: taskProto(t)}})
	}
}

func (m *Master) publishTaskUpdated(s *state, frameworkID string, st *mesospb.TaskStatus, latest mesospb.TaskState) {
	if len(s.operators) > 0 {
		m.publish(s, &masterpb.Event{Type: masterpb.Event_TASK_UPDATED.Enum(), TaskUpdated: &masterpb.Event_TaskUpdated{
			FrameworkId: &mesospb.FrameworkID{Value: proto.String(frameworkID)}, Status: st, State: latest.Enum()}})
	}
}

func (m *Master) publishAgentAdded(s *state, a *agentState) {
	if len(s.operators) > 0 {
		m.publish(s, &masterpb.Event{Type: masterpb.Event_AGENT_ADDED.Enum(), AgentAdded: &masterpb.Event_AgentAdded{Agent: m.agentProto(a)}})
	}
}

func (m *Master) publishAgentRemoved(s *state, id string) {
	if len(s.operators) > 0 {
		m.publish(s, &masterpb.Event{Type: masterpb.Event_AGENT_REMOVED.Enum(), AgentRemoved: &masterpb.Event_AgentRemoved{
			AgentId: &mesospb.AgentID{Value: proto.String(id)}}})
	}
}

func (m *Master) publishFramework(s *state, f *framework, added bool) {
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

func (m *Master) publishFrameworkRemoved(s *state, f *framework) {
	if len(s.operators) > 0 {
		m.publish(s, &masterpb.Event{Type: masterpb.Event_FRAMEWORK_REMOVED.Enum(),
			FrameworkRemoved: &masterpb.Event_FrameworkRemoved{FrameworkInfo: proto.CloneOf(f.info)}})
	}
}

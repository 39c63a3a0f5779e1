package core

import (
	"slices"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/corral-sched/corral/proto/agentpb"
	"github.com/corral-sched/corral/proto/mesospb"
)

// An agent that comes back with tasks of a framework removed while it was
// away hears SUBSCRIBED first, then that the framework is to be shut
// down: an agent takes a stream for its master's only once SUBSCRIBED
// opens it, and one that heard anything else first would retry for ever,
// its tasks neither shut down nor reconciled.
func TestReturningAgentHearsSubscribedBeforeItsRemovedFrameworksShutdown(t *testing.T) {
	m, _ := newAdmissionMaster(t)
	s := m.st
	s.removed["fw-gone"] = true
	sub := subscribeCall(t, "h", "agent-1")
	sub.Tasks = []*mesospb.Task{{
		Name: proto.String("t1"), TaskId: &mesospb.TaskID{Value: proto.String("t1")},
		FrameworkId: &mesospb.FrameworkID{Value: proto.String("fw-gone")},
		AgentId:     &mesospb.AgentID{Value: proto.String("agent-1")}, State: mesospb.TaskState_TASK_RUNNING.Enum(),
	}}
	conn := &AgentConn{streamID: "1", out: newRecorder()}
	m.agentSubscribe(s, sub, conn)
	m.flushAdmissions(s)
	got, closed := events(conn)
	want := []agentpb.Event_Type{agentpb.Event_SUBSCRIBED, agentpb.Event_SHUTDOWN_FRAMEWORK}
	if !slices.Equal(got, want) || closed {
		t.Fatalf("the agent heard %v (closed %v), want %v", got, closed, want)
	}
}

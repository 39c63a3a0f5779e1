package master

import (
	"bytes"
	"net/http"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/corral-sched/corral/codec"
	"github.com/corral-sched/corral/internal/uuid"
	"github.com/corral-sched/corral/proto/agentpb"
	"github.com/corral-sched/corral/proto/mesospb"
	"github.com/corral-sched/corral/proto/schedulerpb"
)

// A master says in SUBSCRIBED that it takes several status updates per
// agent call; it passes them on in order and acknowledges each, and refuses
// a call with one bad update whole.
func TestStatusUpdatesInOneAgentCall(t *testing.T) {
	srv := startMaster(t, nil)
	a := registerAgentWith(t, srv.URL, "cpus:4;mem:1024", nil)
	sub := a.next(agentpb.Event_SUBSCRIBED).GetSubscribed()
	if !sub.GetBatchedUpdates() {
		t.Fatal("SUBSCRIBED does not offer batched updates")
	}
	a.id = sub.GetAgentId().GetValue()
	fw := subscribe(t, srv.URL, codec.Protobuf, fwInfo(nil))
	o := fw.next(schedulerpb.Event_OFFERS).GetOffers().GetOffers()[0]
	fw.call(launchCall(o, commandTask("t1", o, "cpus:1;mem:64"), commandTask("t2", o, "cpus:1;mem:64")), http.StatusAccepted)
	a.next(agentpb.Event_LAUNCH)
	a.next(agentpb.Event_LAUNCH)

	update := func(task string, state mesospb.TaskState) *agentpb.Call_Update {
		return &agentpb.Call_Update{FrameworkId: &mesospb.FrameworkID{Value: proto.String(fw.id)}, Status: &mesospb.TaskStatus{
			TaskId: &mesospb.TaskID{Value: proto.String(task)}, State: state.Enum(), Uuid: uuid.New().Bytes(),
			Source: mesospb.TaskStatus_SOURCE_EXECUTOR.Enum()}}
	}
	call := func(updates ...*agentpb.Call_Update) *agentpb.Call {
		return &agentpb.Call{Type: agentpb.Call_UPDATE.Enum(), AgentId: &mesospb.AgentID{Value: proto.String(a.id)}, Updates: updates}
	}

	bad := update("t2", mesospb.TaskState_TASK_RUNNING)
	bad.Status.TaskId = nil
	post(t, srv.URL+"/api/v1/agent", codec.Protobuf, a.stream.streamID, call(update("t1", mesospb.TaskState_TASK_RUNNING), bad), http.StatusBadRequest)

	batch := call(update("t1", mesospb.TaskState_TASK_RUNNING), update("t2", mesospb.TaskState_TASK_FAILED))
	post(t, srv.URL+"/api/v1/agent", codec.Protobuf, a.stream.streamID, batch, http.StatusAccepted)
	for i, want := range batch.GetUpdates() {
		// Nothing of the refused call reached the framework: the first
		// update it hears is the batch's first.
		got := fw.next(schedulerpb.Event_UPDATE).GetUpdate().GetStatus()
		if got.GetTaskId().GetValue() != want.GetStatus().GetTaskId().GetValue() || got.GetState() != want.GetStatus().GetState() {
			t.Fatalf("update %d: framework heard %s %v, want %s %v", i, got.GetTaskId().GetValue(), got.GetState(),
				want.GetStatus().GetTaskId().GetValue(), want.GetStatus().GetState())
		}
		fw.call(&schedulerpb.Call{Type: schedulerpb.Call_ACKNOWLEDGE.Enum(), Acknowledge: &schedulerpb.Call_Acknowledge{
			AgentId: o.GetAgentId(), TaskId: got.GetTaskId(), Uuid: got.GetUuid()}}, http.StatusAccepted)
		ack := a.next(agentpb.Event_ACKNOWLEDGE).GetAcknowledge()
		if ack.GetTaskId().GetValue() != got.GetTaskId().GetValue() || !bytes.Equal(ack.GetUuid(), got.GetUuid()) {
			t.Fatalf("update %d: the agent got the acknowledgement %v", i, ack)
		}
	}
}

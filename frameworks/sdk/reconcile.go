package sdk

import (
	"google.golang.org/protobuf/proto"

	"github.com/corral-sched/corral/proto/mesospb"
	"github.com/corral-sched/corral/proto/schedulerpb"
)

// ReconcileTask names a task for explicit reconciliation (Reconcile).
// agentID may be empty when the task's agent is not known yet (a launch
// with no answer); the master then looks the task up by ID alone.
func ReconcileTask(taskID, agentID string) *schedulerpb.Call_Reconcile_Task {
	t := &schedulerpb.Call_Reconcile_Task{TaskId: &mesospb.TaskID{Value: proto.String(taskID)}}
	if agentID != "" {
		t.AgentId = &mesospb.AgentID{Value: proto.String(agentID)}
	}
	return t
}

package agent

import (
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/corral-sched/corral/agent/statusupdate"
	"github.com/corral-sched/corral/internal/uuid"
	"github.com/corral-sched/corral/proto/agentpb"
	"github.com/corral-sched/corral/proto/executorpb"
	"github.com/corral-sched/corral/proto/mesospb"
)

// Status updates: each is checkpointed with its task, queued in the
// status update manager, sent to the master and re-sent until the
// framework's acknowledgement comes back (at least once, in order per
// task).

// acknowledge handles the master's forwarding of a framework's ack.
func (a *Agent) acknowledge(k statusupdate.Key, id []byte) {
	matched, terminal := a.updates.Ack(k, id)
	if !matched {
		a.log.Debug("acknowledgement does not match the pending update", "task", k.TaskID)
		return
	}
	if t := a.tasks[k]; t != nil && t.exec != nil {
		a.toExecutor(t.exec, &executorpb.Event{Type: executorpb.Event_ACKNOWLEDGED.Enum(),
			Acknowledged: &executorpb.Event_Acknowledged{TaskId: t.info.GetTaskId(), Uuid: id}})
	}
	if terminal {
		delete(a.tasks, k) // the sandbox stays for inspection, until GC
		a.dropCheckpoint(k)
	} else if t := a.tasks[k]; t != nil {
		// Until it is written, a crash would only resend the acknowledged
		// update: at-least-once either way.
		a.checkpointLater(t)
	}
	a.requestFlush()
}

// update records a new state for t and queues its status update. It
// returns the error of checkpointing it (already logged), which only a
// launch acts on.
func (a *Agent) update(t *taskRun, state mesospb.TaskState, reason *mesospb.TaskStatus_Reason, msg string) error {
	return a.updateWith(t, state, reason, msg, nil)
}

// updateWith is update with the limitation a terminal update carries.
func (a *Agent) updateWith(t *taskRun, state mesospb.TaskState, reason *mesospb.TaskStatus_Reason, msg string,
	limitation *mesospb.TaskResourceLimitation) error {
	t.state = state
	st := &mesospb.TaskStatus{
		TaskId:     t.info.GetTaskId(),
		State:      state.Enum(),
		Source:     mesospb.TaskStatus_SOURCE_EXECUTOR.Enum(),
		AgentId:    &mesospb.AgentID{Value: proto.String(a.ID())},
		ExecutorId: &mesospb.ExecutorID{Value: proto.String(t.executorID())},
		Timestamp:  proto.Float64(float64(time.Now().UnixNano()) / 1e9),
		Uuid:       uuid.New().Bytes(),
	}
	if reason != nil {
		st.Reason = reason.Enum()
	}
	if t.health.result != nil {
		st.Healthy = proto.Bool(*t.health.result)
	}
	st.Limitation = limitation
	if msg != "" {
		st.Message = proto.String(msg)
	}
	if t.proc != nil {
		st.ContainerStatus = &mesospb.ContainerStatus{
			ContainerId:  &mesospb.ContainerID{Value: proto.String(t.containerID)},
			ExecutorPid:  proto.Uint32(uint32(t.proc.Pid)),
			NetworkInfos: t.proc.NetworkInfos(),
		}
	}
	t.last = st
	first := a.updates.Add(t.key, st)
	err := a.checkpoint(t)
	if first {
		a.requestFlush()
	}
	return err
}

// maxHeldFlush bounds how many calls the loop handles while a due update
// waits for the inbox to drain; maxUpdatesPerCall, how many updates one
// call carries to a master that takes several.
const (
	maxHeldFlush      = 64
	maxUpdatesPerCall = 256
)

// requestFlush asks for flushUpdates once the loop has handled what is
// queued (see Agent.flushDue).
func (a *Agent) requestFlush() { a.flushDue = true }

// flushUpdates sends every update that is due and arms the retry timer.
// Due holds at most one update per task (the next unacknowledged), so a
// call carrying several never reorders a task's updates.
func (a *Agent) flushUpdates() {
	s := a.session
	if s == nil {
		return // everything is re-sent on the next subscription
	}
	now := time.Now()
	due := a.updates.Due(now)
	per := 1
	if s.batched {
		per = maxUpdatesPerCall
	}
	for len(due) > 0 {
		n := min(len(due), per)
		call := &agentpb.Call{Type: agentpb.Call_UPDATE.Enum()}
		for _, u := range due[:n] {
			up := &agentpb.Call_Update{
				FrameworkId: &mesospb.FrameworkID{Value: proto.String(u.Key.FrameworkID)},
				Status:      u.Status,
				LatestState: u.LatestState.Enum(),
			}
			if n == 1 {
				call.Update = up // as masters that take one update per call expect
			} else {
				call.Updates = append(call.Updates, up)
			}
		}
		a.send(s, call, nil)
		due = due[n:]
	}
	next, ok := a.updates.NextDue()
	if !ok {
		return
	}
	if a.retryTimer != nil {
		a.retryTimer.Stop()
	}
	a.retryTimer = time.AfterFunc(max(time.Until(next), 0), func() { a.post(a.flushUpdates) })
}

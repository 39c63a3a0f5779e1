package guide

import (
	"context"
	"fmt"
	"strings"

	"google.golang.org/protobuf/proto"

	"github.com/corral-sched/corral/proto/mesospb"
	"github.com/corral-sched/corral/proto/schedulerpb"
)

// subscribed runs after every subscription, the first and each one after
// a failover. The SDK reconciles every task the master knows; we also ask
// after the tasks we recorded but the master may never have seen (we
// crashed before launching them): it answers TASK_UNKNOWN for those.
func (f *Framework) subscribed(ctx context.Context) error {
	var tasks []*schedulerpb.Call_Reconcile_Task
	for _, j := range f.jobs {
		if j.Task != "" {
			tasks = append(tasks, &schedulerpb.Call_Reconcile_Task{TaskId: &mesospb.TaskID{Value: proto.String(j.Task)}})
		}
	}
	if len(tasks) > 0 {
		if err := f.sched.Reconcile(ctx, tasks...); err != nil {
			return err
		}
	}
	if len(f.waiting()) == 0 {
		return f.sched.Suppress(ctx) // every subscription starts revived
	}
	return nil
}

// update records a task's news. The SDK acknowledges the update when we
// return, and the agent then forgets it: what it means must be saved
// first. Updates come at least once, so the same news may come twice.
func (f *Framework) update(ctx context.Context, st *mesospb.TaskStatus) error {
	name, _, _ := strings.Cut(st.GetTaskId().GetValue(), ".")
	j := f.jobs[name]
	if j == nil || j.Task != st.GetTaskId().GetValue() {
		return nil // an earlier attempt's news, or not our task
	}
	j.State = st.GetState().String()
	switch st.GetState() {
	case mesospb.TaskState_TASK_STAGING, mesospb.TaskState_TASK_STARTING, mesospb.TaskState_TASK_RUNNING,
		mesospb.TaskState_TASK_KILLING, mesospb.TaskState_TASK_UNREACHABLE:
		// Still on its way, or may still be: an unreachable agent may
		// come back with the task running.
	case mesospb.TaskState_TASK_FINISHED:
	default: // failed, killed, lost, dropped, gone, unknown: try again
		j.Task = ""
	}
	if err := f.save(ctx); err != nil {
		return err
	}
	if done, _ := f.outcome(); done {
		return f.sched.Teardown(ctx) // the master forgets us; Run returns
	}
	if j.Task == "" && j.Attempts < maxAttempts {
		return f.sched.Revive(ctx) // we suppressed offers when idle
	}
	return nil
}

// outcome says whether every job is over: succeeded, or out of attempts.
func (f *Framework) outcome() (bool, error) {
	var failed []string
	for name, j := range f.jobs {
		switch {
		case j.State == "TASK_FINISHED":
		case j.Task == "" && j.Attempts >= maxAttempts:
			failed = append(failed, name)
		default:
			return false, nil
		}
	}
	if len(failed) > 0 {
		return true, fmt.Errorf("guide: jobs %v failed %d times", failed, maxAttempts)
	}
	return true, nil
}

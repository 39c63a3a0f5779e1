package executor_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"

	"github.com/corral-sched/corral/frameworks/sdk/executor"
	"github.com/corral-sched/corral/proto/executorpb"
	"github.com/corral-sched/corral/proto/mesospb"
)

// The body of a custom executor: the agent starts it (the framework names
// it in its tasks' ExecutorInfo), it subscribes, and runs each task it is
// given, reporting how each goes. examples/executor is a complete one.
// It needs an agent to talk to, so this example is not run here.
func ExampleExecutor_Run() {
	e, err := executor.FromEnv()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	err = e.Run(context.Background(), func(ctx context.Context, ev *executorpb.Event) error {
		if ev.GetType() != executorpb.Event_LAUNCH {
			return nil // SHUTDOWN ends Run after this
		}
		task := ev.GetLaunch().GetTask()
		if err := e.Update(ctx, task.GetTaskId(), mesospb.TaskState_TASK_RUNNING, ""); err != nil {
			return err
		}
		go func() {
			state, msg := mesospb.TaskState_TASK_FINISHED, ""
			if err := exec.Command("/bin/sh", "-c", string(task.GetData())).Run(); err != nil {
				state, msg = mesospb.TaskState_TASK_FAILED, err.Error()
			}
			// Sent again to a restarted agent until acknowledged.
			_ = e.Update(ctx, task.GetTaskId(), state, msg)
		}()
		return nil
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

// Mesos writes durations with its own units, in the environment it gives
// executors (MESOS_RECOVERY_TIMEOUT).
func ExampleParseMesosDuration() {
	for _, s := range []string{"15mins", "2.5secs", "1hrs", "3fortnights"} {
		d, err := executor.ParseMesosDuration(s)
		fmt.Println(d, err)
	}
	// Output:
	// 15m0s <nil>
	// 2.5s <nil>
	// 1h0m0s <nil>
	// 0s "3fortnights": unknown unit "fortnights"
}

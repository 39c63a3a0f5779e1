// Command executor is an example custom executor on corral's executor SDK:
// it runs each task's data as a shell command, reports RUNNING and then
// how the command ended, answers a framework message "ping" with "pong",
// kills tasks when asked and exits on SHUTDOWN.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"sync"
	"syscall"

	"github.com/corral-sched/corral/frameworks/sdk/executor"
	"github.com/corral-sched/corral/proto/executorpb"
	"github.com/corral-sched/corral/proto/mesospb"
)

func main() {
	e, err := executor.FromEnv()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	var mu sync.Mutex
	running := map[string]*exec.Cmd{}
	killed := map[string]bool{}
	ctx := context.Background()
	err = e.Run(ctx, func(ctx context.Context, ev *executorpb.Event) error {
		switch ev.GetType() {
		case executorpb.Event_LAUNCH:
			task := ev.GetLaunch().GetTask()
			cmd := exec.Command("/bin/sh", "-c", string(task.GetData()))
			cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
			cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
			if err := cmd.Start(); err != nil {
				return e.Update(ctx, task.GetTaskId(), mesospb.TaskState_TASK_FAILED, err.Error())
			}
			mu.Lock()
			running[task.GetTaskId().GetValue()] = cmd
			mu.Unlock()
			if err := e.Update(ctx, task.GetTaskId(), mesospb.TaskState_TASK_RUNNING, ""); err != nil {
				return err
			}
			go func() {
				err := cmd.Wait()
				mu.Lock()
				delete(running, task.GetTaskId().GetValue())
				wasKilled := killed[task.GetTaskId().GetValue()]
				mu.Unlock()
				state, msg := mesospb.TaskState_TASK_FINISHED, "done"
				switch {
				case wasKilled:
					state, msg = mesospb.TaskState_TASK_KILLED, "killed"
				case err != nil:
					state, msg = mesospb.TaskState_TASK_FAILED, err.Error()
				}
				if err := e.Update(ctx, task.GetTaskId(), state, msg); err != nil {
					log.Error("update", "err", err)
				}
			}()
		case executorpb.Event_KILL:
			id := ev.GetKill().GetTaskId().GetValue()
			mu.Lock()
			if cmd := running[id]; cmd != nil {
				killed[id] = true
				_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			}
			mu.Unlock()
		case executorpb.Event_MESSAGE:
			if string(ev.GetMessage().GetData()) == "ping" {
				return e.Message(ctx, []byte("pong"))
			}
		case executorpb.Event_SHUTDOWN:
			mu.Lock()
			for _, cmd := range running {
				_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			}
			mu.Unlock()
		}
		return nil
	})
	if err != nil {
		log.Error("executor ended", "err", err)
		os.Exit(1)
	}
}

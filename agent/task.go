package agent

import (
	"context"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/corral-sched/corral/agent/containerizer"
	"github.com/corral-sched/corral/agent/lifecycle"
	"github.com/corral-sched/corral/agent/statusupdate"
	"github.com/corral-sched/corral/proto/mesospb"
)

// taskRun is a task on this agent, from launch until its last status
// update is acknowledged. Where it is in its life is life's to say
// (agent/lifecycle); the rest is what the agent keeps about it.
type taskRun struct {
	key         statusupdate.Key
	framework   *mesospb.FrameworkInfo
	info        *mesospb.TaskInfo
	containerID string
	sandbox     string
	proc        *containerizer.Process
	life        lifecycle.Task
	// state is the latest state reported; last the latest status.
	state mesospb.TaskState
	last  *mesospb.TaskStatus
	// killPolicy is the kill's, when one was asked for during the launch.
	killPolicy *mesospb.KillPolicy
	// timeout ends the task at its max_completion_time.
	timeout *time.Timer
	health  healthState
	// cpFramework and cpTask are framework and info marshalled for the
	// checkpoint, once: neither changes, and the checkpoint is rewritten
	// on every update.
	cpFramework, cpTask []byte
	// group is the task group the task belongs to, if any; exec the
	// custom executor that runs it.
	group *taskGroupRun
	exec  *executorRun
	// startTime tells the task's process from a later one with its pid;
	// pidHint is the pid a checkpoint names, until the process is found.
	startTime uint64
	pidHint   int
}

// healthState is a task's health check: the latest result (nil before
// the first), failures in a row, whether a check ever passed, and how to
// stop checking.
type healthState struct {
	result   *bool
	failures int
	passed   bool
	stop     context.CancelFunc
}

// running reports whether t's container runs and is the agent's to
// measure and signal.
func (t *taskRun) running() bool { return t.proc != nil && !t.life.Ended() }

func keyOf(fw *mesospb.FrameworkID, task *mesospb.TaskID) statusupdate.Key {
	return statusupdate.Key{FrameworkID: fw.GetValue(), TaskID: task.GetValue()}
}

// executorID is the task's executor: its group's, or its own command
// executor (named after the task, as in Mesos).
func (t *taskRun) executorID() string {
	if t.exec != nil {
		return t.exec.key.executor
	}
	if t.group != nil {
		return t.group.executorID
	}
	return t.key.TaskID
}

// report describes the task for a re-subscription.
func (t *taskRun) report(agentID string) *mesospb.Task {
	rt := &mesospb.Task{
		Name:        t.info.Name,
		TaskId:      t.info.TaskId,
		FrameworkId: t.framework.GetId(),
		ExecutorId:  &mesospb.ExecutorID{Value: proto.String(t.executorID())},
		AgentId:     &mesospb.AgentID{Value: proto.String(agentID)},
		State:       t.state.Enum(),
		Resources:   t.info.GetResources(),
		Labels:      t.info.Labels,
		KillPolicy:  t.info.KillPolicy,
	}
	if t.last != nil {
		rt.Statuses = []*mesospb.TaskStatus{t.last}
	}
	return rt
}

package agent

import (
	"context"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/corral-sched/corral/agent/lifecycle"
	"github.com/corral-sched/corral/agent/statusupdate"
	"github.com/corral-sched/corral/proto/executorpb"
	"github.com/corral-sched/corral/proto/mesospb"
	"github.com/corral-sched/corral/resources"
)

// The agent drives each task's life (agent/lifecycle) with events from
// the launch, kills, health checks, the container's exit and its own
// restarts, and carries out what the lifecycle asks for here.

// apply carries out what t's lifecycle asked for after an event.
func (a *Agent) apply(t *taskRun, eff lifecycle.Effects) {
	if r := eff.Report; r != nil {
		var limitation *mesospb.TaskResourceLimitation
		if r.Limitation != "" {
			limitation = &mesospb.TaskResourceLimitation{Resources: resources.Resources(t.info.GetResources()).Filter(
				func(x *mesospb.Resource) bool { return x.GetName() == r.Limitation && !resources.IsVolume(x) })}
		}
		_ = a.updateWith(t, r.State, r.Reason, r.Message, limitation) // a checkpoint failure is logged; the update goes out
		if mesospb.IsTerminal(r.State) {
			a.ended(t)
		}
	}
	if eff.Kill {
		a.startKill(t)
	}
}

// ended runs once t's terminal status is decided: its checks and timer
// stop, its executor's container shrinks, its group learns of it.
func (a *Agent) ended(t *taskRun) {
	if t.timeout != nil {
		t.timeout.Stop()
	}
	if t.health.stop != nil {
		t.health.stop()
	}
	if t.exec != nil {
		a.resizeExecutor(t.exec)
	}
	a.groupTaskEnded(t, t.state)
}

// exited runs when a task's container has exited.
func (a *Agent) exited(t *taskRun) {
	eff, err := t.life.Exited(t.proc.Exit())
	if err != nil {
		a.log.Error("a task's exit came in a phase it cannot", "task", t.key.TaskID, "err", err)
		return
	}
	a.apply(t, eff)
}

// kill handles the master's KILL.
func (a *Agent) kill(k statusupdate.Key, policy *mesospb.KillPolicy) {
	t := a.tasks[k]
	if t == nil {
		// The agent never heard of it (the launch was lost): say so.
		t = &taskRun{
			key:       k,
			framework: &mesospb.FrameworkInfo{Id: &mesospb.FrameworkID{Value: proto.String(k.FrameworkID)}},
			info:      &mesospb.TaskInfo{TaskId: &mesospb.TaskID{Value: proto.String(k.TaskID)}},
		}
		a.tasks[k] = t
		a.apply(t, t.life.End(lifecycle.Report{State: mesospb.TaskState_TASK_LOST,
			Reason: mesospb.TaskStatus_REASON_TASK_UNKNOWN.Enum(), Message: "Task is unknown to the agent"}))
		return
	}
	a.killTask(t, lifecycle.Killed, "", policy)
	if g := t.group; g != nil { // killing a task of a group kills the group
		g.ending = true
		for _, other := range g.tasks {
			a.killTask(other, lifecycle.Killed, "", policy)
		}
	}
}

// killTask asks t to stop, for cause; policy (or the task's, or the
// agent's default grace) says how long it has after SIGTERM.
func (a *Agent) killTask(t *taskRun, cause lifecycle.Cause, msg string, policy *mesospb.KillPolicy) {
	if !t.life.KillAsked() {
		t.killPolicy = policy
	}
	a.apply(t, t.life.Kill(cause, msg))
}

// startKill stops t: its container gets SIGTERM, then SIGKILL after the
// grace period; a custom executor's task is its executor's to kill.
func (a *Agent) startKill(t *taskRun) {
	policy := t.killPolicy
	if e := t.exec; e != nil {
		if e.events == nil {
			// Not subscribed (an agent restart): nobody could carry it out.
			a.apply(t, t.life.End(lifecycle.Report{State: mesospb.TaskState_TASK_KILLED,
				Reason: mesospb.TaskStatus_REASON_TASK_KILLED_DURING_LAUNCH.Enum(), Message: "Killed before its executor subscribed"}))
			return
		}
		a.toExecutor(e, &executorpb.Event{Type: executorpb.Event_KILL.Enum(), Kill: &executorpb.Event_Kill{TaskId: t.info.GetTaskId(), KillPolicy: policy}})
		return
	}
	if t.proc == nil {
		return
	}
	grace := a.cfg.ExecutorShutdownGrace
	if policy == nil {
		policy = t.info.GetKillPolicy()
	}
	if p := policy.GetGracePeriod(); p != nil {
		grace = max(time.Duration(p.GetNanoseconds()), 0)
	}
	proc := t.proc
	go func() {
		if err := proc.Kill(context.Background(), grace); err != nil {
			a.log.Warn("killing a task", "task", t.key.TaskID, "err", err)
		}
	}()
}

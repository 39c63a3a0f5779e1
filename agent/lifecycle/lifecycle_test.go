package lifecycle

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"syscall"
	"testing"

	"github.com/corral-sched/corral/agent/containerizer"
	"github.com/corral-sched/corral/isolators"
	"github.com/corral-sched/corral/proto/mesospb"
)

// event is one thing that can happen to a task, for the tables below.
type event struct {
	name string
	do   func(t *Task) (Effects, error)
}

var (
	launched   = event{"launched", func(t *Task) (Effects, error) { return t.Launched(nil) }}
	launchFail = event{"launch failed", func(t *Task) (Effects, error) { return t.Launched(errors.New("no such image")) }}
	kill       = event{"kill", func(t *Task) (Effects, error) { return t.Kill(Killed, ""), nil }}
	unhealthy  = event{"health kill", func(t *Task) (Effects, error) {
		return t.Kill(Unhealthy, "Task killed after 3 consecutive failed health checks"), nil
	}}
	overtime = event{"max completion", func(t *Task) (Effects, error) { return t.Kill(Overtime, ""), nil }}
	exit0    = event{"exit 0", func(t *Task) (Effects, error) { return t.Exited(containerizer.Exit{}) }}
	exit3    = event{"exit 3", func(t *Task) (Effects, error) { return t.Exited(containerizer.Exit{Code: 3}) }}
	sigterm  = event{"SIGTERM", func(t *Task) (Effects, error) {
		return t.Exited(containerizer.Exit{Code: -1, Signal: syscall.SIGTERM})
	}}
	oom = event{"OOM", func(t *Task) (Effects, error) {
		return t.Exited(containerizer.Exit{Code: -1, Signal: syscall.SIGKILL, Limitation: &isolators.Limitation{Resource: "mem",
			Reason: mesospb.TaskStatus_REASON_CONTAINER_LIMITATION_MEMORY, Message: "Memory limit exceeded: the container was OOM-killed"}})
	}}
	lost = event{"lost", func(t *Task) (Effects, error) {
		return t.End(Report{State: mesospb.TaskState_TASK_LOST, Reason: mesospb.TaskStatus_REASON_EXECUTOR_TERMINATED.Enum()}), nil
	}}
	delivered   = event{"delivered", func(t *Task) (Effects, error) { return Effects{}, t.Delivered() }}
	fwdRunning  = event{"executor: running", func(t *Task) (Effects, error) { return t.Forward(mesospb.TaskState_TASK_RUNNING) }}
	fwdFinished = event{"executor: finished", func(t *Task) (Effects, error) { return t.Forward(mesospb.TaskState_TASK_FINISHED) }}
)

// Every transition of the table in the package doc, with what it makes
// the agent do.
func TestTransitions(t *testing.T) {
	state := func(s mesospb.TaskState) *mesospb.TaskState { return &s }
	for _, c := range []struct {
		name       string
		executor   bool
		events     []event
		phase      Phase
		report     *mesospb.TaskState         // the last event's report, if any
		reason     *mesospb.TaskStatus_Reason // the report's; nil for none
		kill       bool                       // the last event starts a kill
		forward    bool
		impossible bool // the last event cannot happen there
	}{
		{name: "launched: running", events: []event{launched}, phase: Running, report: state(mesospb.TaskState_TASK_RUNNING)},
		{name: "launch failed", events: []event{launchFail}, phase: Ended, report: state(mesospb.TaskState_TASK_FAILED),
			reason: mesospb.TaskStatus_REASON_CONTAINER_LAUNCH_FAILED.Enum()},
		{name: "kill while launching waits", events: []event{kill}, phase: Launching},
		{name: "then launched: running, then killed", events: []event{kill, launched}, phase: Killing,
			report: state(mesospb.TaskState_TASK_RUNNING), kill: true},
		{name: "kill while launching, launch failed", events: []event{kill, launchFail}, phase: Ended,
			report: state(mesospb.TaskState_TASK_FAILED), reason: mesospb.TaskStatus_REASON_CONTAINER_LAUNCH_FAILED.Enum()},
		{name: "kill while running", events: []event{launched, kill}, phase: Killing, kill: true},
		{name: "a second kill does nothing", events: []event{launched, kill, unhealthy}, phase: Killing},
		{name: "exit 0: finished", events: []event{launched, exit0}, phase: Ended, report: state(mesospb.TaskState_TASK_FINISHED)},
		{name: "exit 3: failed", events: []event{launched, exit3}, phase: Ended, report: state(mesospb.TaskState_TASK_FAILED)},
		{name: "killed: killed whatever the exit", events: []event{launched, kill, exit0}, phase: Ended, report: state(mesospb.TaskState_TASK_KILLED)},
		{name: "unhealthy: killed", events: []event{launched, unhealthy, sigterm}, phase: Ended, report: state(mesospb.TaskState_TASK_KILLED)},
		{name: "overtime: failed", events: []event{launched, overtime, sigterm}, phase: Ended, report: state(mesospb.TaskState_TASK_FAILED),
			reason: mesospb.TaskStatus_REASON_MAX_COMPLETION_TIME_REACHED.Enum()},
		{name: "OOM: a memory limitation", events: []event{launched, oom}, phase: Ended, report: state(mesospb.TaskState_TASK_FAILED),
			reason: mesospb.TaskStatus_REASON_CONTAINER_LIMITATION_MEMORY.Enum()},
		{name: "OOM while killed: the limitation wins", events: []event{launched, kill, oom}, phase: Ended,
			report: state(mesospb.TaskState_TASK_FAILED), reason: mesospb.TaskStatus_REASON_CONTAINER_LIMITATION_MEMORY.Enum()},
		{name: "lost", events: []event{launched, lost}, phase: Ended, report: state(mesospb.TaskState_TASK_LOST),
			reason: mesospb.TaskStatus_REASON_EXECUTOR_TERMINATED.Enum()},
		{name: "nothing after the end", events: []event{launched, exit0, kill}, phase: Ended},
		{name: "no second report", events: []event{launched, exit0, exit3}, phase: Ended},
		{name: "exit before launch is impossible", events: []event{exit0}, phase: Launching, impossible: true},
		{name: "launched twice is impossible", events: []event{launched, launched}, phase: Running, impossible: true},
		// Tasks of custom executors.
		{name: "executor: delivered", executor: true, events: []event{delivered}, phase: Running},
		{name: "executor: kill before delivery ends it", executor: true, events: []event{kill}, phase: Ended,
			report: state(mesospb.TaskState_TASK_KILLED), reason: mesospb.TaskStatus_REASON_TASK_KILLED_DURING_LAUNCH.Enum()},
		{name: "executor: kill after delivery is the executor's", executor: true, events: []event{delivered, kill}, phase: Killing, kill: true},
		{name: "executor: its statuses are passed on", executor: true, events: []event{delivered, fwdRunning}, phase: Running, forward: true},
		{name: "executor: a terminal one ends it", executor: true, events: []event{delivered, fwdFinished}, phase: Ended, forward: true},
		{name: "executor: gone while killing: killed", executor: true, events: []event{delivered, kill,
			{"executor gone", func(t *Task) (Effects, error) {
				return t.End(Report{State: mesospb.TaskState_TASK_FAILED, Reason: mesospb.TaskStatus_REASON_EXECUTOR_TERMINATED.Enum()}), nil
			}}}, phase: Ended, report: state(mesospb.TaskState_TASK_KILLED), reason: mesospb.TaskStatus_REASON_EXECUTOR_TERMINATED.Enum()},
		{name: "executor: no process of its own exits", executor: true, events: []event{delivered, exit0}, phase: Running, impossible: true},
		{name: "executor: never launched by the agent", executor: true, events: []event{launched}, phase: Launching, impossible: true},
		{name: "container: nothing to forward", events: []event{launched, fwdRunning}, phase: Running, impossible: true},
	} {
		t.Run(c.name, func(t *testing.T) {
			task := Task{}
			if c.executor {
				task = ForExecutor()
			}
			var eff Effects
			var err error
			for _, e := range c.events {
				eff, err = e.do(&task)
			}
			var imp ErrImpossible
			if got := errors.As(err, &imp); got != c.impossible {
				t.Fatalf("error %v, want impossible: %v", err, c.impossible)
			}
			if task.Phase() != c.phase {
				t.Fatalf("phase %v, want %v", task.Phase(), c.phase)
			}
			switch {
			case c.report == nil && eff.Report != nil:
				t.Fatalf("reported %+v, want no report", eff.Report)
			case c.report != nil && (eff.Report == nil || eff.Report.State != *c.report || !sameReason(eff.Report.Reason, c.reason)):
				t.Fatalf("reported %+v, want %v %v", eff.Report, *c.report, c.reason)
			}
			if eff.Kill != c.kill || eff.Forward != c.forward {
				t.Fatalf("effects %+v, want kill %v forward %v", eff, c.kill, c.forward)
			}
		})
	}
}

// No sequence of events, in any order, reaches an impossible state or
// reports a task terminal twice: whatever happens to a task (launches,
// kills, health failures, limits, exits, an agent restart), its end is
// reported exactly once if it ends, and never before it has a reason.
func TestNoSequenceReportsTwice(t *testing.T) {
	all := []event{launched, launchFail, kill, unhealthy, overtime, exit0, exit3, sigterm, oom, lost, delivered, fwdRunning, fwdFinished,
		{"agent restart", nil}}
	seed := rand.Uint64()
	rng := rand.New(rand.NewPCG(seed, 42))
	for run := range 20000 {
		executor := rng.IntN(2) == 0
		task := Task{}
		if executor {
			task = ForExecutor()
		}
		var trace []string
		terminal := 0
		for range 1 + rng.IntN(12) {
			e := all[rng.IntN(len(all))]
			trace = append(trace, e.name)
			before := task
			if e.do == nil {
				// The agent restarts: the task comes back from its checkpoint.
				task = Restore(task.Ended(), task.KillAsked(), executor)
				if before.Phase() == Launching && !task.Ended() {
					task.phase = Launching // a checkpoint before the launch finished; recovery re-decides it
				}
				continue
			}
			eff, err := e.do(&task)
			var imp ErrImpossible
			if errors.As(err, &imp) && task != before {
				t.Fatalf("seed %d run %d: an impossible event changed the task: %v", seed, run, trace)
			}
			if r := eff.Report; r != nil && mesospb.IsTerminal(r.State) || eff.Forward && task.Ended() && !before.Ended() {
				terminal++
			}
			if task.Phase() < before.Phase() && before.Phase() != Launching {
				t.Fatalf("seed %d run %d: went back from %v to %v: %v", seed, run, before.Phase(), task.Phase(), trace)
			}
			if before.Ended() && (eff != Effects{}) {
				t.Fatalf("seed %d run %d: an ended task did something (%+v): %v", seed, run, eff, trace)
			}
			if eff.Kill && task.Phase() != Killing {
				t.Fatalf("seed %d run %d: a kill started in phase %v: %v", seed, run, task.Phase(), trace)
			}
		}
		if terminal > 1 {
			t.Fatalf("seed %d run %d: reported terminal %d times: %v", seed, run, terminal, trace)
		}
		if task.Ended() != (terminal == 1) {
			t.Fatalf("seed %d run %d: ended %v but %d terminal reports: %v", seed, run, task.Ended(), terminal, fmt.Sprint(trace))
		}
	}
}

func sameReason(a, b *mesospb.TaskStatus_Reason) bool {
	return (a == nil) == (b == nil) && (a == nil || *a == *b)
}

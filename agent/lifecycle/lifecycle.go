// Package lifecycle is a task's life on an agent, as one state machine:
// the phases a task passes through, the events that move it, and what
// the agent must do at each step (report a status, start a kill). It does
// no I/O: the agent feeds it events from the launch, kills, health
// checks, limits, exits and its own restart, and carries out the Effects
// it returns.
//
//	Launching ──launched──▶ Running ──kill──▶ Killing
//	    │  ╲                   │                 │
//	    │   ╲ (kill: held      │ exited          │ exited
//	    │     until launched)  ▼                 ▼
//	    └──failed / ended──▶ Ended ◀─────────────┘
//
// Ended is final: whatever comes after it is ignored, so a task is
// reported terminal exactly once.
package lifecycle

import (
	"fmt"

	"github.com/corral-sched/corral/agent/containerizer"
	"github.com/corral-sched/corral/proto/mesospb"
)

// Phase is where a task is in its life on the agent.
type Phase int

// The phases, in the order a task passes them.
const (
	// Launching: the sandbox, the fetch and the container are being made
	// (for a task of a custom executor: until its executor runs it).
	Launching Phase = iota
	// Running: its container runs.
	Running
	// Killing: the agent is stopping it; the exit is what ends it.
	Killing
	// Ended: its terminal status is decided and reported.
	Ended
)

func (p Phase) String() string {
	switch p {
	case Launching:
		return "launching"
	case Running:
		return "running"
	case Killing:
		return "killing"
	case Ended:
		return "ended"
	}
	return fmt.Sprintf("phase(%d)", int(p))
}

// Cause is why the agent stops a task; it decides how its exit is
// reported.
type Cause int

// The causes of a kill.
const (
	// NoCause: nobody asked for a kill.
	NoCause Cause = iota
	// Killed: the framework (KILL, SHUTDOWN), its removal, a failing
	// task of its group, or the agent's shutdown: TASK_KILLED.
	Killed
	// Unhealthy: it failed its health check too often: TASK_KILLED,
	// saying so.
	Unhealthy
	// Overtime: it ran past its max_completion_time: TASK_FAILED,
	// REASON_MAX_COMPLETION_TIME_REACHED.
	Overtime
)

// Report is a status update the agent must send.
type Report struct {
	State mesospb.TaskState
	// Reason is nil for none (Mesos' reason 0 is a reason of its own).
	Reason  *mesospb.TaskStatus_Reason
	Message string
	// Limitation names the resource the container hit ("mem", "disk"),
	// if that is why the task ended.
	Limitation string
}

// Effects are what the agent must do after an event, in this order.
type Effects struct {
	// Report, if set, is the status update to send.
	Report *Report
	// Kill starts stopping the task's container (or asks its executor).
	Kill bool
	// Forward sends the status its executor reported as it is.
	Forward bool
}

// Task is one task's life. The zero value is a task the agent launches
// in a container of its own, being launched.
type Task struct {
	phase Phase
	// executor: a custom executor runs the task; the agent hands it over
	// (Delivered) and passes on what the executor reports (Forward).
	executor bool
	cause    Cause
	message  string // why the agent killed it, for Unhealthy
}

// ForExecutor is a task its custom executor runs, waiting to be handed
// to it.
func ForExecutor() Task { return Task{executor: true} }

// Restore is a task as a checkpoint left it: ended, or not, whether a
// kill was asked for, and whether an executor runs it.
func Restore(ended, killed, executor bool) Task {
	t := Task{phase: Running, executor: executor}
	if ended {
		t.phase = Ended
	}
	if killed {
		t.cause = Killed
	}
	return t
}

// Phase is where the task is.
func (t *Task) Phase() Phase { return t.phase }

// Ended reports whether the task's terminal status is decided.
func (t *Task) Ended() bool { return t.phase == Ended }

// KillAsked reports whether the agent was asked to stop the task.
func (t *Task) KillAsked() bool { return t.cause != NoCause }

// ErrImpossible is an event that cannot happen in the task's phase (a
// process exiting before it was launched): the task is left as it was.
type ErrImpossible struct {
	Phase Phase
	Event string
}

func (e ErrImpossible) Error() string {
	return fmt.Sprintf("lifecycle: %s while %s", e.Event, e.Phase)
}

// Launched is the end of a launch: the container runs (err nil), or it
// could not be made. A kill asked for during the launch is carried out
// now, after the task is reported running.
func (t *Task) Launched(err error) (Effects, error) {
	switch {
	case t.phase == Ended:
		return Effects{}, nil
	case t.phase != Launching || t.executor:
		return Effects{}, ErrImpossible{t.phase, "launched"}
	}
	if err != nil {
		t.phase = Ended
		return Effects{Report: &Report{State: mesospb.TaskState_TASK_FAILED,
			Reason: mesospb.TaskStatus_REASON_CONTAINER_LAUNCH_FAILED.Enum(), Message: err.Error()}}, nil
	}
	t.phase = Running
	running := &Report{State: mesospb.TaskState_TASK_RUNNING}
	if t.cause != NoCause {
		t.phase = Killing
		return Effects{Report: running, Kill: true}, nil
	}
	return Effects{Report: running}, nil
}

// Kill asks for the task to stop, for cause (message says why, for
// Unhealthy). The first cause is the one reported; a kill during the
// launch waits for it to finish, but a task its executor never got is
// killed at once.
func (t *Task) Kill(cause Cause, message string) Effects {
	if t.cause != NoCause || t.phase == Ended || cause == NoCause {
		return Effects{}
	}
	t.cause, t.message = cause, message
	switch {
	case t.phase == Running:
		t.phase = Killing
		return Effects{Kill: true}
	case t.executor: // Launching: still with the agent
		t.phase = Ended
		return Effects{Report: &Report{State: mesospb.TaskState_TASK_KILLED,
			Reason: mesospb.TaskStatus_REASON_TASK_KILLED_DURING_LAUNCH.Enum(), Message: "Killed before its executor subscribed"}}
	}
	return Effects{} // Launching: carried out by Launched
}

// Delivered is a task handed to its custom executor, which runs it from
// now on and reports its states.
func (t *Task) Delivered() error {
	switch {
	case t.phase == Ended:
		return nil
	case t.phase != Launching || !t.executor:
		return ErrImpossible{t.phase, "delivered"}
	}
	t.phase = Running
	return nil
}

// Exited is the end of the task's process, and decides how it is
// reported: the agent's cause for killing it first, then a limit the
// container hit, then how it exited.
func (t *Task) Exited(e containerizer.Exit) (Effects, error) {
	switch {
	case t.phase == Ended:
		return Effects{}, nil
	case t.phase == Launching || t.executor:
		return Effects{}, ErrImpossible{t.phase, "exited"}
	}
	t.phase = Ended
	r := &Report{State: mesospb.TaskState_TASK_FAILED, Message: e.String()}
	switch {
	case t.cause == Unhealthy:
		r.State, r.Message = mesospb.TaskState_TASK_KILLED, t.message+" ("+e.String()+")"
	case e.Limitation != nil:
		r.Reason, r.Limitation = e.Limitation.Reason.Enum(), e.Limitation.Resource
	case t.cause == Overtime:
		r.Reason, r.Message = mesospb.TaskStatus_REASON_MAX_COMPLETION_TIME_REACHED.Enum(), "Task ran past its max_completion_time: "+e.String()
	case t.cause == Killed:
		r.State = mesospb.TaskState_TASK_KILLED
	case e.Err == nil && e.Signal == 0 && e.Code == 0:
		r.State = mesospb.TaskState_TASK_FINISHED
	}
	return Effects{Report: r}, nil
}

// End ends the task with a status the agent decides: a launch it
// refused, an executor that went away, a task lost across an agent
// restart.
func (t *Task) End(r Report) Effects {
	if t.phase == Ended {
		return Effects{}
	}
	t.phase = Ended
	if t.cause == Killed && r.State == mesospb.TaskState_TASK_FAILED {
		r.State = mesospb.TaskState_TASK_KILLED // it was being killed anyway
	}
	return Effects{Report: &r}
}

// Forward is a status a task's executor reported: passed on as it is;
// a terminal one ends the task.
func (t *Task) Forward(state mesospb.TaskState) (Effects, error) {
	switch {
	case t.phase == Ended:
		return Effects{}, nil
	case !t.executor:
		return Effects{}, ErrImpossible{t.phase, "forward"}
	}
	if mesospb.IsTerminal(state) {
		t.phase = Ended
	}
	return Effects{Forward: true}, nil
}

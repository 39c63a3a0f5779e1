package sdk

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

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

// Reconciler carries out explicit reconciliation the way Mesos advises:
// ask about the tasks, then ask again, backing off, about those that have
// had no update since, until every one has. One RECONCILE is not enough.
// A master that has just failed over says nothing of tasks on agents that
// have not re-registered yet, and a call can be lost like any other. A
// launch the master never took would then wait for the framework's next
// periodic reconciliation, minutes away, to be found gone. Safe for
// concurrent use: the handler hears updates while a ticker asks.
type Reconciler struct {
	min, max time.Duration

	mu      sync.Mutex
	pending map[string]*schedulerpb.Call_Reconcile_Task
	next    time.Time
	wait    time.Duration
}

// Default waits between asks about the same unanswered tasks.
const (
	DefaultReconcileMin = time.Second
	DefaultReconcileMax = 30 * time.Second
)

// NewReconciler returns a reconciler that waits first minWait and then
// twice as long each time, up to maxWait; zero values take the defaults.
func NewReconciler(minWait, maxWait time.Duration) *Reconciler {
	if minWait <= 0 {
		minWait = DefaultReconcileMin
	}
	if maxWait < minWait {
		maxWait = max(DefaultReconcileMax, minWait)
	}
	return &Reconciler{min: minWait, max: maxWait, wait: minWait, pending: make(map[string]*schedulerpb.Call_Reconcile_Task)}
}

// Ask adds tasks to those awaiting an answer, due from at on (the
// framework's next Tick then sends them). New questions start the backoff
// over.
func (r *Reconciler) Ask(at time.Time, tasks ...*schedulerpb.Call_Reconcile_Task) {
	if len(tasks) == 0 {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, t := range tasks {
		r.pending[t.GetTaskId().GetValue()] = t
	}
	if r.next.IsZero() || at.Before(r.next) {
		r.next = at
	}
	r.wait = r.min
}

// Answered notes an update about a task: whatever its state, the master
// has said what it knows, and the task is asked about no more.
func (r *Reconciler) Answered(taskID string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.pending, taskID)
	if len(r.pending) == 0 {
		r.next, r.wait = time.Time{}, r.min
	}
}

// Pending is how many tasks await an answer.
func (r *Reconciler) Pending() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.pending)
}

// Due returns the tasks to ask about now, in task ID order, or none if it
// is not yet time; asking moves the next time on by the current wait and
// doubles it.
func (r *Reconciler) Due(now time.Time) []*schedulerpb.Call_Reconcile_Task {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.pending) == 0 || now.Before(r.next) {
		return nil
	}
	tasks := make([]*schedulerpb.Call_Reconcile_Task, 0, len(r.pending))
	for _, id := range slices.Sorted(maps.Keys(r.pending)) {
		tasks = append(tasks, r.pending[id])
	}
	r.next = now.Add(r.wait)
	r.wait = min(2*r.wait, r.max)
	return tasks
}

// Tick sends a RECONCILE for the tasks due now, if any. A call that fails
// is asked again after the wait, like one that had no answer.
func (r *Reconciler) Tick(ctx context.Context, s *Scheduler, now time.Time) error {
	tasks := r.Due(now)
	if len(tasks) == 0 {
		return nil
	}
	if err := s.Reconcile(ctx, tasks...); err != nil {
		return fmt.Errorf("sdk: reconciling %d tasks: %w", len(tasks), err)
	}
	return nil
}

// ReconcileLaunched names the tasks of a launch for reconciliation, e.g.
// after its ACCEPT failed and nobody can say whether the master took it.
func ReconcileLaunched(tasks ...*mesospb.TaskInfo) []*schedulerpb.Call_Reconcile_Task {
	out := make([]*schedulerpb.Call_Reconcile_Task, len(tasks))
	for i, ti := range tasks {
		out[i] = ReconcileTask(ti.GetTaskId().GetValue(), ti.GetAgentId().GetValue())
	}
	return out
}

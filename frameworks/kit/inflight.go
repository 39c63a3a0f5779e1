package kit

import (
	"sync"

	"github.com/corral-sched/corral/proto/mesospb"
)

// InFlight is the set of tasks whose launch is on its way to the master:
// recorded, and the ACCEPT that carries it not yet answered. A master
// answers an explicit reconciliation of a task it does not know with
// TASK_GONE, and a RECONCILE sent from another goroutine can overtake the
// ACCEPT (which waits on the launch's durable write first): the framework
// would take a task about to start for one that ended, and start another.
// A framework leaves these tasks out of its reconciliations until the
// ACCEPT has returned, by which time the master has handled it (it answers
// a call once its loop has). Safe for concurrent use.
type InFlight struct {
	mu  sync.Mutex
	ids map[string]int
}

// Add marks the tasks of a round's launches as on their way.
func (s *InFlight) Add(launches ...[]*mesospb.TaskInfo) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ids == nil {
		s.ids = make(map[string]int)
	}
	for _, tasks := range launches {
		for _, ti := range tasks {
			s.ids[ti.GetTaskId().GetValue()]++
		}
	}
}

// Done unmarks tasks Add marked, once their ACCEPT has returned (or was
// never sent).
func (s *InFlight) Done(launches ...[]*mesospb.TaskInfo) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, tasks := range launches {
		for _, ti := range tasks {
			id := ti.GetTaskId().GetValue()
			if s.ids[id]--; s.ids[id] <= 0 {
				delete(s.ids, id)
			}
		}
	}
}

// Has reports whether the task's launch is on its way.
func (s *InFlight) Has(taskID string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ids[taskID] > 0
}

// LaunchedTasks are the tasks the LAUNCH operations among ops start.
func LaunchedTasks(ops []*mesospb.Offer_Operation) []*mesospb.TaskInfo {
	var tasks []*mesospb.TaskInfo
	for _, op := range ops {
		tasks = append(tasks, op.GetLaunch().GetTaskInfos()...)
	}
	return tasks
}

package core

import (
	"cmp"
	"slices"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/corral-sched/corral/proto/masterpb"
	"github.com/corral-sched/corral/proto/mesospb"
	"github.com/corral-sched/corral/resources"
)

// The finished history, as Mesos keeps it: the leader remembers the last
// MaxCompletedTasksPerFramework finished tasks of each framework and the
// last MaxCompletedFrameworks removed frameworks with theirs, so that
// operators can see what ended and why (GET_TASKS' completed_tasks,
// GET_FRAMEWORKS' completed_frameworks, the web UI, `corral tasks --all`).
// It lives in the leader's memory only, as in Mesos: a new leader starts
// with an empty history. Both bounds are rings, so memory stays bounded
// however many tasks finish.

// finished is a task that ended, as the operator API shows it, with the
// order in which it was recorded.
type finished struct {
	seq  uint64
	task *mesospb.Task
}

// ring keeps the newest n items.
type ring[T any] struct {
	items []T
	next  int // where the next item goes once full
}

func (r *ring[T]) push(v T, n int) {
	if n <= 0 {
		return
	}
	if len(r.items) < n {
		r.items = append(r.items, v)
		return
	}
	r.items[r.next%len(r.items)] = v
	r.next = (r.next + 1) % len(r.items)
}

// newestFirst lists the items, the newest first.
func (r *ring[T]) newestFirst() []T {
	out := make([]T, 0, len(r.items))
	n := len(r.items)
	for i := range n {
		out = append(out, r.items[(r.next+n-1-i)%n])
	}
	return out
}

func (r *ring[T]) len() int { return len(r.items) }

// completedFramework is a removed framework and its finished tasks.
type completedFramework struct {
	proto *masterpb.Response_GetFrameworks_Framework
	tasks []finished // newest first
}

// completeTask records a task that has ended in its framework's history.
// Its last status says how it ended; bulky fields the history does not
// need (the status' data, the task's container and checks) are left out.
func (m *Core) completeTask(s *state, f *framework, t *task) {
	if f == nil || !mesospb.IsTerminal(t.state) {
		return
	}
	// A framework's tasks mostly look alike (instances of one app, runs of
	// one job): their IDs and resources are shared with the previous
	// entry where equal, which the history only ever reads.
	h := &f.history
	if h.frameworkID == nil {
		h.frameworkID = &mesospb.FrameworkID{Value: proto.String(t.frameworkID)}
	}
	if h.agentID.GetValue() != t.agentID {
		h.agentID = &mesospb.AgentID{Value: proto.String(t.agentID)}
	}
	if !sameResources(h.resources, t.resources) {
		h.resources = t.resources
	}
	out := &mesospb.Task{
		Name:        t.info.Name,
		TaskId:      t.info.GetTaskId(),
		FrameworkId: h.frameworkID,
		ExecutorId:  t.info.GetExecutor().GetExecutorId(),
		AgentId:     h.agentID,
		State:       t.state.Enum(),
		Resources:   h.resources,
		Labels:      t.info.GetLabels(),
	}
	if out.Name == nil {
		out.Name = proto.String("")
	}
	if t.executor != nil {
		out.ExecutorId = t.executor.GetExecutorId()
	}
	if st := t.status; st != nil {
		// The status is the one forwarded to the framework, which no one
		// changes any more; only one carrying data is copied, without it.
		if len(st.GetData()) > 0 {
			st = proto.CloneOf(st)
			st.Data = nil
		}
		out.Statuses = []*mesospb.TaskStatus{st}
		out.StatusUpdateState = st.State
	}
	s.finishedSeq++
	h.completed.push(finished{seq: s.finishedSeq, task: out}, m.cfg.MaxCompletedTasksPerFramework)
}

// sameResources reports whether two resource lists are the same, entry
// by entry: tasks of one app list theirs alike, and this is cheaper than
// resources' own Equal, which is order-blind.
func sameResources(a, b resources.Resources) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] && !proto.Equal(a[i], b[i]) {
			return false
		}
	}
	return true
}

// frameworkHistory is a framework's finished tasks, and the parts the
// newest one shares with the next.
type frameworkHistory struct {
	completed   ring[finished]
	frameworkID *mesospb.FrameworkID
	agentID     *mesospb.AgentID
	resources   resources.Resources
}

// completeFramework moves a removed framework into the history.
func (m *Core) completeFramework(s *state, f *framework) {
	fw := m.frameworkProto(s, f)
	fw.Active, fw.Connected, fw.Recovered = proto.Bool(false), proto.Bool(false), proto.Bool(false)
	fw.Offers, fw.OfferedResources, fw.AllocatedResources, fw.Unoffered = nil, nil, nil, nil
	fw.UnregisteredTime = timeInfo(m.cfg.Now())
	s.completedFrameworks.push(&completedFramework{proto: fw, tasks: f.history.completed.newestFirst()}, m.cfg.MaxCompletedFrameworks)
}

// completedTasks lists the finished tasks the master knows, the newest
// first: those still awaiting their acknowledgement, then the history of
// the frameworks that are here and of those removed.
func (m *Core) completedTasks(s *state) []*mesospb.Task {
	var out []*mesospb.Task
	for _, id := range sortedKeys(s.frameworks) {
		f := s.frameworks[id]
		for _, tid := range sortedKeys(f.tasks) {
			if t := f.tasks[tid]; mesospb.IsTerminal(t.state) {
				out = append(out, taskProto(t))
			}
		}
	}
	var hist []finished
	for _, f := range s.frameworks {
		hist = append(hist, f.history.completed.newestFirst()...)
	}
	for _, cf := range s.completedFrameworks.items {
		hist = append(hist, cf.tasks...)
	}
	slices.SortFunc(hist, func(a, b finished) int { return cmp.Compare(b.seq, a.seq) })
	for _, h := range hist {
		out = append(out, h.task)
	}
	return out
}

// completedFrameworkProtos lists the removed frameworks, the newest first.
func (s *state) completedFrameworkProtos() []*masterpb.Response_GetFrameworks_Framework {
	var out []*masterpb.Response_GetFrameworks_Framework
	for _, cf := range s.completedFrameworks.newestFirst() {
		out = append(out, cf.proto)
	}
	return out
}

// killedByRemoval is the status of a task that ends because its
// framework was removed: TASK_KILLED, as Mesos reports it.
func (m *Core) killedByRemoval(t *task, now time.Time) *mesospb.TaskStatus {
	return &mesospb.TaskStatus{
		TaskId:    t.info.GetTaskId(),
		State:     mesospb.TaskState_TASK_KILLED.Enum(),
		AgentId:   &mesospb.AgentID{Value: proto.String(t.agentID)},
		Source:    mesospb.TaskStatus_SOURCE_MASTER.Enum(),
		Reason:    mesospb.TaskStatus_REASON_FRAMEWORK_REMOVED.Enum(),
		Message:   proto.String("Framework was removed"),
		Timestamp: proto.Float64(seconds(now)),
	}
}

package core

import (
	"log/slog"
	"runtime"
	"strconv"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/corral-sched/corral/proto/mesospb"
	"github.com/corral-sched/corral/resources"
)

// The history is bounded in memory however many tasks finish: 100,000
// tasks of 100 frameworks pass through a master with Mesos' default
// bounds (1,000 tasks per framework, 50 removed frameworks).
func TestHistoryMemoryIsBounded(t *testing.T) {
	m, err := New(Config{Addr: "127.0.0.1:5050", Logger: slog.New(slog.DiscardHandler)}, Options{Post: (&testPost{}).post})
	if err != nil {
		t.Fatal(err)
	}
	s := m.st
	res, _ := resources.Parse("cpus:0.1;mem:32;disk:10;ports:[31000-31001]", "*")
	// Equal resources in lists of their own, as tasks of one app have.
	pool := make([]resources.Resources, 8)
	for i := range pool {
		pool[i] = res.Clone()
	}
	var before runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	const frameworks, tasksEach = 100, 1000
	for i := range frameworks {
		id := "fw-" + strconv.Itoa(i)
		f := &framework{id: id, info: &mesospb.FrameworkInfo{Id: &mesospb.FrameworkID{Value: proto.String(id)},
			Name: proto.String("history"), User: proto.String("root")}, tasks: map[string]*task{}}
		for j := range tasksEach {
			tid := id + "-task-" + strconv.Itoa(j)
			var data []byte
			if j%100 == 0 {
				data = make([]byte, 512) // left out of the history
			}
			t := &task{
				info: &mesospb.TaskInfo{Name: proto.String(tid), TaskId: &mesospb.TaskID{Value: proto.String(tid)},
					Command: &mesospb.CommandInfo{Value: proto.String("./serve --port $PORT0 --data /srv/data")}},
				frameworkID: id, agentID: "agent-" + strconv.Itoa(j%50), resources: pool[j%len(pool)], state: mesospb.TaskState_TASK_FAILED,
				status: &mesospb.TaskStatus{TaskId: &mesospb.TaskID{Value: proto.String(tid)}, State: mesospb.TaskState_TASK_FAILED.Enum(),
					Reason: mesospb.TaskStatus_REASON_COMMAND_EXECUTOR_FAILED.Enum(), Message: proto.String("Command exited with status 1"),
					Data: data, Timestamp: proto.Float64(1e9)},
			}
			m.completeTask(s, f, t)
		}
		if f.history.completed.len() != m.cfg.MaxCompletedTasksPerFramework {
			t.Fatalf("framework %s keeps %d finished tasks, want %d", id, f.history.completed.len(), m.cfg.MaxCompletedTasksPerFramework)
		}
		m.completeFramework(s, f)
	}
	kept := m.completedTasks(s)
	runtime.GC()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	if want := DefaultMaxCompletedFrameworks * DefaultMaxCompletedTasksPerFramework; len(kept) != want {
		t.Fatalf("%d finished tasks kept after %d, want %d", len(kept), frameworks*tasksEach, want)
	}
	if n := s.completedFrameworks.len(); n != DefaultMaxCompletedFrameworks {
		t.Fatalf("%d completed frameworks kept, want %d", n, DefaultMaxCompletedFrameworks)
	}
	grown := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	t.Logf("history after %d finished tasks: %d tasks kept, heap grew %.1f MiB", frameworks*tasksEach, len(kept), float64(grown)/(1<<20))
	if grown > 64<<20 {
		t.Errorf("the history holds %.1f MiB for %d tasks; it should stay well under 64 MiB", float64(grown)/(1<<20), len(kept))
	}
	runtime.KeepAlive(kept)
}

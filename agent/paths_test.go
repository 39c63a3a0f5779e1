package agent

import (
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/corral-sched/corral/agent/statusupdate"
	"github.com/corral-sched/corral/proto/agentpb"
	"github.com/corral-sched/corral/proto/mesospb"
	"github.com/corral-sched/corral/resources"
)

// IDs from the master become directories the agent creates and deletes as
// root; one that is not a plain path component must not take it outside
// its work dir, whatever the master let through.

func newPathsAgent(t *testing.T) (*Agent, string) {
	t.Helper()
	dir := t.TempDir()
	work := filepath.Join(dir, "work")
	a, err := New(Config{Master: "127.0.0.1:1", Addr: "127.0.0.1:5051", Hostname: "h", WorkDir: work,
		Resources: "cpus:1;mem:64", Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	id := "S1"
	a.id.Store(&id)
	return a, dir
}

func TestLaunchRefusesIDsThatAreNotPathComponents(t *testing.T) {
	for _, c := range []struct{ name, framework, task, executor string }{
		{"framework ID climbing out", "../../../../escape", "t1", ""},
		{"framework ID dot-dot", "..", "t1", ""},
		{"task ID with a slash", "F", "a/../../../../../escape", ""},
		{"executor ID dot-dot", "F", "t1", ".."},
	} {
		t.Run(c.name, func(t *testing.T) {
			a, dir := newPathsAgent(t)
			ti := &mesospb.TaskInfo{Name: proto.String("t"), TaskId: &mesospb.TaskID{Value: proto.String(c.task)},
				Command: &mesospb.CommandInfo{Value: proto.String("true")}}
			if c.executor != "" {
				ti.Command, ti.Executor = nil, &mesospb.ExecutorInfo{ExecutorId: &mesospb.ExecutorID{Value: proto.String(c.executor)},
					Command: &mesospb.CommandInfo{Value: proto.String("true")}}
			}
			a.launch(&agentpb.Event_Launch{FrameworkInfo: &mesospb.FrameworkInfo{Id: &mesospb.FrameworkID{Value: proto.String(c.framework)}}, Task: ti})
			tr := a.tasks[statusupdate.Key{FrameworkID: c.framework, TaskID: c.task}]
			if tr == nil || tr.state != mesospb.TaskState_TASK_FAILED || !strings.Contains(tr.last.GetMessage(), "invalid") {
				t.Fatalf("task %+v, want TASK_FAILED at once with a reason", tr)
			}
			if len(a.executors) != 0 {
				t.Fatalf("an executor was started: %v", a.executors)
			}
			if _, err := os.Stat(filepath.Join(dir, "escape")); err == nil {
				t.Fatal("a directory was made outside the work dir")
			}
		})
	}
}

func TestCheckpointedVolumesStayUnderTheVolumesDir(t *testing.T) {
	a, dir := newPathsAgent(t)
	volume := func(role, id string) *mesospb.Resource {
		r, err := resources.Parse("disk("+role+"):10", "*")
		if err != nil {
			t.Fatal(err)
		}
		r[0].Disk = &mesospb.Resource_DiskInfo{Persistence: &mesospb.Resource_DiskInfo_Persistence{Id: proto.String(id)},
			Volume: &mesospb.Volume{ContainerPath: proto.String("data"), Mode: mesospb.Volume_RW.Enum()}}
		return r[0]
	}
	victim := filepath.Join(dir, "work", "meta")
	if _, err := os.Stat(filepath.Join(victim, "resources.pb")); err == nil {
		t.Fatal("fixture: no checkpoint expected yet")
	}
	// A destroyed volume whose ID climbs to the agent's meta dir must not
	// delete it; a created one must not make directories outside.
	a.checkpointed = []*mesospb.Resource{volume("web", "../../../meta")}
	a.checkpointResources([]*mesospb.Resource{volume("web", "../../../../made"), volume("web", "ok")})
	if _, err := os.Stat(victim); err != nil {
		t.Fatalf("destroying a volume deleted the agent's meta dir: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "made")); err == nil {
		t.Fatal("creating a volume made a directory outside the work dir")
	}
	if _, err := os.Stat(filepath.Join(dir, "work", "volumes", "roles", "web", "ok")); err != nil {
		t.Fatalf("a valid volume was not created: %v", err)
	}
}

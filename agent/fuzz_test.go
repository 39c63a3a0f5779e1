package agent

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/corral-sched/corral/agent/lifecycle"
	"github.com/corral-sched/corral/agent/statusupdate"
	"github.com/corral-sched/corral/codec"
	"github.com/corral-sched/corral/proto/agentapipb"
	"github.com/corral-sched/corral/proto/agentpb"
	"github.com/corral-sched/corral/proto/executorpb"
	"github.com/corral-sched/corral/proto/mesospb"
	"github.com/corral-sched/corral/resources"
)

// The agent decodes three kinds of input: operator calls on /api/v1,
// executor calls on /api/v1/executor (from any local process) and the
// master's events. These targets run them through the handlers and the
// checks that need no running loop: the loop is not started, so calls
// that need it are answered 503 at once (their request context is
// already cancelled).

const fuzzSecret = "agent-secret-0xfeed"

// fuzzAgent is an agent with a sandbox holding a file, links out of the
// sandbox (to the agent's checkpoint and to /etc) and an executor with one
// task.
func fuzzAgent(f *testing.F) (*Agent, string) {
	dir := f.TempDir()
	a, err := New(Config{Master: "127.0.0.1:1", Addr: "127.0.0.1:5051", Hostname: "h", WorkDir: dir,
		Resources: "cpus:1;mem:64", Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		f.Fatal(err)
	}
	id := "S1"
	a.id.Store(&id)
	sandbox := filepath.Join(dir, "agents", "S1", "frameworks", "F", "executors", "E", "runs", "c1")
	if err := os.MkdirAll(sandbox, 0o755); err != nil {
		f.Fatal(err)
	}
	_ = os.WriteFile(filepath.Join(sandbox, "stdout"), []byte("hello\n"), 0o644)
	_ = os.WriteFile(filepath.Join(dir, "meta", "agent_id"), []byte(fuzzSecret), 0o644)
	_ = os.Symlink(filepath.Join(dir, "meta", "agent_id"), filepath.Join(sandbox, "sneaky"))
	_ = os.Symlink(filepath.Join(dir, "meta"), filepath.Join(sandbox, "metadir"))
	_ = os.Symlink("/etc", filepath.Join(sandbox, "etc"))
	k := execKey{"F", "E"}
	e := &executorRun{key: k, info: &mesospb.ExecutorInfo{ExecutorId: &mesospb.ExecutorID{Value: proto.String("E")}},
		framework: &mesospb.FrameworkInfo{Id: &mesospb.FrameworkID{Value: proto.String("F")}}, sandbox: sandbox, tasks: map[string]*taskRun{}}
	e.tasks["t1"] = &taskRun{key: statusupdate.Key{FrameworkID: "F", TaskID: "t1"}, framework: e.framework, exec: e,
		info: &mesospb.TaskInfo{TaskId: &mesospb.TaskID{Value: proto.String("t1")}}, state: mesospb.TaskState_TASK_RUNNING}
	a.executors[k] = e
	return a, sandbox
}

// post serves one request whose context is already cancelled.
func post(h http.Handler, path, contentType, accept string, body []byte) *httptest.ResponseRecorder {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	req := httptest.NewRequestWithContext(ctx, http.MethodPost, path, bytes.NewReader(body))
	req.Header.Set("Content-Type", contentType)
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func addAgentSeeds(f *testing.F, msgs ...proto.Message) {
	for _, m := range msgs {
		for _, c := range []codec.Codec{codec.Protobuf, codec.JSON} {
			b, err := c.Marshal(m)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(b)
		}
	}
}

func FuzzAPICall(f *testing.F) {
	a, sandbox := fuzzAgent(f)
	h := a.Handler()
	list := func(p string) *agentapipb.Call {
		return &agentapipb.Call{Type: agentapipb.Call_LIST_FILES.Enum(), ListFiles: &agentapipb.Call_ListFiles{Path: proto.String(p)}}
	}
	read := func(p string) *agentapipb.Call {
		return &agentapipb.Call{Type: agentapipb.Call_READ_FILE.Enum(),
			ReadFile: &agentapipb.Call_ReadFile{Path: proto.String(p), Offset: proto.Uint64(0), Length: proto.Uint64(100)}}
	}
	addAgentSeeds(f, &agentapipb.Call{Type: agentapipb.Call_GET_HEALTH.Enum()}, &agentapipb.Call{Type: agentapipb.Call_GET_STATE.Enum()},
		&agentapipb.Call{Type: agentapipb.Call_GET_CONTAINERS.Enum()}, list(sandbox), list(sandbox+"/metadir"),
		read(sandbox+"/stdout"), read(sandbox+"/sneaky"), read(sandbox+"/../../../../../../../../meta/agent_id"),
		read(sandbox+"/etc/passwd"), read("/etc/passwd"), read("stdout"))
	cid := &mesospb.ContainerID{Value: proto.String("s1"), Parent: &mesospb.ContainerID{Value: proto.String("c1")}}
	addAgentSeeds(f, &agentapipb.Call{Type: agentapipb.Call_WAIT_NESTED_CONTAINER.Enum(), WaitNestedContainer: &agentapipb.Call_WaitNestedContainer{ContainerId: cid}},
		&agentapipb.Call{Type: agentapipb.Call_KILL_NESTED_CONTAINER.Enum(), KillNestedContainer: &agentapipb.Call_KillNestedContainer{ContainerId: cid, Signal: proto.Int32(-1)}},
		&agentapipb.Call{Type: agentapipb.Call_ATTACH_CONTAINER_OUTPUT.Enum(), AttachContainerOutput: &agentapipb.Call_AttachContainerOutput{ContainerId: cid.Parent}},
		&agentapipb.Call{Type: agentapipb.Call_LAUNCH_NESTED_CONTAINER_SESSION.Enum(), LaunchNestedContainerSession: &agentapipb.Call_LaunchNestedContainerSession{
			ContainerId: cid, Command: &mesospb.CommandInfo{Value: proto.String("true")}}})
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, ct := range []string{codec.ProtobufMediaType, codec.JSONMediaType} {
			for _, accept := range []string{codec.ProtobufMediaType, "application/recordio"} {
				rec := post(h, "/api/v1", ct, accept, b)
				switch {
				case rec.Code >= 500 && rec.Code != http.StatusNotImplemented && rec.Code != http.StatusServiceUnavailable:
					t.Fatalf("%s: %d %s", ct, rec.Code, rec.Body)
				case rec.Code == http.StatusOK && bytes.Contains(rec.Body.Bytes(), []byte(fuzzSecret)):
					t.Fatalf("%s: the agent's checkpoint was served: %q", ct, b)
				}
			}
		}
	})
}

func FuzzExecutorCall(f *testing.F) {
	a, _ := fuzzAgent(f)
	h := a.Handler()
	call := func(t executorpb.Call_Type, fill func(*executorpb.Call)) *executorpb.Call {
		c := &executorpb.Call{Type: t.Enum(), FrameworkId: &mesospb.FrameworkID{Value: proto.String("F")},
			ExecutorId: &mesospb.ExecutorID{Value: proto.String("E")}}
		fill(c)
		return c
	}
	update := func(state mesospb.TaskState) func(*executorpb.Call) {
		return func(c *executorpb.Call) {
			c.Update = &executorpb.Call_Update{Status: &mesospb.TaskStatus{TaskId: &mesospb.TaskID{Value: proto.String("t1")},
				State: state.Enum(), Uuid: make([]byte, 16), Message: proto.String("ok")}}
		}
	}
	addAgentSeeds(f, call(executorpb.Call_SUBSCRIBE, func(c *executorpb.Call) {
		c.Subscribe = &executorpb.Call_Subscribe{UnacknowledgedTasks: []*mesospb.TaskInfo{{TaskId: &mesospb.TaskID{Value: proto.String("t1")}}}}
	}), call(executorpb.Call_UPDATE, update(mesospb.TaskState_TASK_RUNNING)), call(executorpb.Call_UPDATE, update(mesospb.TaskState_TASK_FINISHED)),
		call(executorpb.Call_UPDATE, update(mesospb.TaskState_TASK_STAGING)),
		call(executorpb.Call_MESSAGE, func(c *executorpb.Call) { c.Message = &executorpb.Call_Message{Data: []byte("hi")} }),
		call(executorpb.Call_HEARTBEAT, func(*executorpb.Call) {}))
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, c := range []codec.Codec{codec.Protobuf, codec.JSON} {
			rec := post(h, "/api/v1/executor", c.MediaType(), "", b)
			if rec.Code >= 500 && rec.Code != http.StatusServiceUnavailable {
				t.Fatalf("%s: %d %s", c.MediaType(), rec.Code, rec.Body)
			}
			call := &executorpb.Call{}
			if c.Unmarshal(b, call) != nil || call.GetType() == executorpb.Call_SUBSCRIBE {
				continue
			}
			// What the loop would do with it, on a fresh update queue so
			// that inputs do not pile up.
			a.updates = statusupdate.New(time.Second, time.Minute)
			task := a.executors[execKey{"F", "E"}].tasks["t1"]
			task.state, task.life = mesospb.TaskState_TASK_RUNNING, lifecycle.Restore(false, false, true)
			status, _ := a.executorCall(execKey{call.GetFrameworkId().GetValue(), call.GetExecutorId().GetValue()}, call)
			if status != http.StatusAccepted || call.GetType() != executorpb.Call_UPDATE {
				continue
			}
			st := a.updates.Queued(task.key)
			if call.GetFrameworkId().GetValue() != "F" || call.GetExecutorId().GetValue() != "E" || len(st) != 1 {
				t.Fatalf("update accepted for %v/%v, queued %v", call.GetFrameworkId(), call.GetExecutorId(), st)
			}
			if st[0].GetState() == mesospb.TaskState_TASK_STAGING || st[0].GetSource() != mesospb.TaskStatus_SOURCE_EXECUTOR ||
				st[0].GetAgentId().GetValue() != "S1" || st[0].GetExecutorId().GetValue() != "E" {
				t.Fatalf("queued update %v", st[0])
			}
		}
	})
}

func FuzzMasterEvent(f *testing.F) {
	workDir := f.TempDir()
	fw := &mesospb.FrameworkInfo{Id: &mesospb.FrameworkID{Value: proto.String("F")}, User: proto.String("root"), Name: proto.String("x")}
	task := &mesospb.TaskInfo{Name: proto.String("t"), TaskId: &mesospb.TaskID{Value: proto.String("t1")},
		AgentId: &mesospb.AgentID{Value: proto.String("S1")}, Command: &mesospb.CommandInfo{Value: proto.String("true")}}
	withExecutor := proto.CloneOf(task)
	withExecutor.Command, withExecutor.Executor = nil, &mesospb.ExecutorInfo{ExecutorId: &mesospb.ExecutorID{Value: proto.String("E")},
		Command: &mesospb.CommandInfo{Value: proto.String("./executor")}}
	res, err := resources.Parse("disk(web):10", "*")
	if err != nil {
		f.Fatal(err)
	}
	res[0].Disk = &mesospb.Resource_DiskInfo{Persistence: &mesospb.Resource_DiskInfo_Persistence{Id: proto.String("data")},
		Volume: &mesospb.Volume{ContainerPath: proto.String("data"), Mode: mesospb.Volume_RW.Enum()}}
	for _, ev := range []*agentpb.Event{
		{Type: agentpb.Event_SUBSCRIBED.Enum(), Subscribed: &agentpb.Event_Subscribed{AgentId: &mesospb.AgentID{Value: proto.String("S1")},
			PingIntervalSeconds: proto.Float64(15)}},
		{Type: agentpb.Event_LAUNCH.Enum(), Launch: &agentpb.Event_Launch{FrameworkInfo: fw, Task: task}},
		{Type: agentpb.Event_LAUNCH.Enum(), Launch: &agentpb.Event_Launch{FrameworkInfo: fw, Task: withExecutor}},
		{Type: agentpb.Event_LAUNCH.Enum(), Launch: &agentpb.Event_Launch{FrameworkInfo: fw,
			Executor:  &mesospb.ExecutorInfo{Type: mesospb.ExecutorInfo_DEFAULT.Enum(), ExecutorId: &mesospb.ExecutorID{Value: proto.String("G")}},
			TaskGroup: &mesospb.TaskGroupInfo{Tasks: []*mesospb.TaskInfo{task}}}},
		{Type: agentpb.Event_KILL.Enum(), Kill: &agentpb.Event_Kill{FrameworkId: fw.Id, TaskId: task.TaskId}},
		{Type: agentpb.Event_ACKNOWLEDGE.Enum(), Acknowledge: &agentpb.Event_Acknowledge{FrameworkId: fw.Id, TaskId: task.TaskId, Uuid: make([]byte, 16)}},
		{Type: agentpb.Event_CHECKPOINT_RESOURCES.Enum(), CheckpointResources: &agentpb.Event_CheckpointResources{Resources: res}},
	} {
		b, err := proto.Marshal(ev)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	runs := filepath.Join(workDir, "agents", "S1", "frameworks")
	volumes := filepath.Join(workDir, "volumes", "roles")
	inside := func(root, p string) bool { return strings.HasPrefix(p, root+string(filepath.Separator)) }
	f.Fuzz(func(t *testing.T, b []byte) {
		ev := &agentpb.Event{}
		if codec.Protobuf.Unmarshal(b, ev) != nil {
			return
		}
		if l := ev.GetLaunch(); l != nil && launchPathProblem(l) == "" {
			fwID := l.GetFrameworkInfo().GetId().GetValue()
			dirs := []string{filepath.Join(runs, fwID, "executors", l.GetTask().GetTaskId().GetValue(), "runs", "c"),
				filepath.Join(runs, fwID, "executors", l.GetTask().GetExecutor().GetExecutorId().GetValue(), "runs", "c"),
				filepath.Join(runs, fwID, "executors", l.GetExecutor().GetExecutorId().GetValue(), "runs", "c")}
			for _, gt := range l.GetTaskGroup().GetTasks() {
				dirs = append(dirs, filepath.Join(runs, fwID, "executors", "G", "runs", "c", "tasks", gt.GetTaskId().GetValue()))
			}
			for _, d := range dirs {
				if !inside(runs, d) {
					t.Fatalf("launch %v puts a sandbox at %s", l, d)
				}
			}
		}
		a := &Agent{cfg: Config{WorkDir: workDir}}
		for _, v := range ev.GetCheckpointResources().GetResources() {
			if resources.IsVolume(v) && volumePathProblem(v) == nil {
				if p := a.volumePath(v); !inside(volumes, p) || filepath.Dir(filepath.Dir(p)) != volumes {
					t.Fatalf("volume %v lives at %s", v, p)
				}
			}
		}
		_, _ = redirectTarget(ev.GetShutdown().GetMessage())
	})
}

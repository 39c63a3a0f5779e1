package e2e

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/corral-sched/corral/codec"
	"github.com/corral-sched/corral/frameworks/sdk"
	"github.com/corral-sched/corral/internal/testkit/testcluster"
	"github.com/corral-sched/corral/proto/masterpb"
	"github.com/corral-sched/corral/proto/mesospb"
	"github.com/corral-sched/corral/proto/schedulerpb"
)

// A scheduler's SHUTDOWN stops the executor it names, as in Mesos: a
// custom executor is told to shut down (and killed after the grace
// period), its task ends and its resources return; the command executor
// of a plain task (named after the task) stops by killing the task.
func TestSchedulerShutdownStopsExecutors(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "executor")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/corral-sched/corral/examples/executor").CombinedOutput(); err != nil {
		t.Fatalf("building the example executor: %v\n%s", err, out)
	}
	c := testcluster.Start(t, testcluster.Options{Agents: 1})
	f := startExecFramework(t, c, &mesospb.FrameworkInfo{User: proto.String("root"), Name: proto.String("shutdown")})
	o := f.offer(t)
	space := sdk.NewSpace(o)
	res, _ := space.Take(0.1, 16, 0, 0)
	exRes, _ := space.Take(0.05, 32, 0, 0)
	custom := &mesospb.TaskInfo{
		Name: proto.String("under-ex"), TaskId: &mesospb.TaskID{Value: proto.String("under-ex")}, AgentId: o.GetAgentId(),
		Resources: res, Data: []byte("sleep 1000"),
		Executor: &mesospb.ExecutorInfo{
			Type: mesospb.ExecutorInfo_CUSTOM.Enum(), ExecutorId: &mesospb.ExecutorID{Value: proto.String("ex-1")},
			Resources: exRes,
			Command: &mesospb.CommandInfo{Value: proto.String("./executor"),
				Uris: []*mesospb.CommandInfo_URI{{Value: proto.String("file://" + bin), Executable: proto.Bool(true)}}},
		},
	}
	cmdRes, _ := space.Take(0.1, 16, 0, 0)
	plain := sdk.CommandTask("plain", "plain", o, "sleep 1000", cmdRes)
	ctx := context.Background()
	if err := f.s.Launch(ctx, o, 0, custom, plain); err != nil {
		t.Fatal(err)
	}
	states := map[string]mesospb.TaskState{}
	await := func(what string, done func() bool) {
		t.Helper()
		deadline := time.After(60 * time.Second)
		for !done() {
			select {
			case st := <-f.updates:
				states[st.GetTaskId().GetValue()] = st.GetState()
			case <-deadline:
				t.Fatalf("%s: not within 60s (states %v)", what, states)
			}
		}
	}
	await("both tasks running", func() bool {
		return states["under-ex"] == mesospb.TaskState_TASK_RUNNING && states["plain"] == mesospb.TaskState_TASK_RUNNING
	})
	shutdown := func(executor string) {
		t.Helper()
		if err := f.s.Call(ctx, &schedulerpb.Call{Type: schedulerpb.Call_SHUTDOWN.Enum(), Shutdown: &schedulerpb.Call_Shutdown{
			ExecutorId: &mesospb.ExecutorID{Value: proto.String(executor)}, AgentId: o.GetAgentId()}}); err != nil {
			t.Fatalf("SHUTDOWN of %s: %v", executor, err)
		}
	}
	shutdown("ex-1")
	await("the custom executor's task to end", func() bool { return mesospb.IsTerminal(states["under-ex"]) })
	if states["plain"] != mesospb.TaskState_TASK_RUNNING {
		t.Fatalf("shutting ex-1 down ended the plain task too: %v", states)
	}
	waitFor(t, 30*time.Second, "ex-1 gone from GET_EXECUTORS", func() bool {
		body, _ := codec.JSON.Marshal(&masterpb.Call{Type: masterpb.Call_GET_EXECUTORS.Enum()})
		resp, err := http.Post(c.MasterURL+"/api/v1", codec.JSONMediaType, bytes.NewReader(body))
		if err != nil {
			return false
		}
		raw, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		out := &masterpb.Response{}
		return codec.JSON.Unmarshal(raw, out) == nil && len(out.GetGetExecutors().GetExecutors()) == 0
	})
	shutdown("plain") // the command executor is named after its task
	await("the plain task to end", func() bool { return mesospb.IsTerminal(states["plain"]) })
	if states["plain"] != mesospb.TaskState_TASK_KILLED {
		t.Fatalf("the plain task ended %v, want TASK_KILLED", states["plain"])
	}
}

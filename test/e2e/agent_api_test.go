package e2e

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/corral-sched/corral/codec"
	"github.com/corral-sched/corral/internal/testkit/testcluster"
	"github.com/corral-sched/corral/proto/agentapipb"
	"github.com/corral-sched/corral/proto/mesospb"
)

func agentCall(t *testing.T, addr string, c codec.Codec, call *agentapipb.Call) (int, *agentapipb.Response, string) {
	t.Helper()
	body, _ := c.Marshal(call)
	resp, err := http.Post("http://"+addr+"/api/v1", c.MediaType(), bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return resp.StatusCode, nil, string(b)
	}
	out := &agentapipb.Response{}
	if err := c.Unmarshal(b, out); err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, out, ""
}

func TestAgentOperatorAPI(t *testing.T) {
	c := testcluster.Start(t, testcluster.Options{Agents: 1})
	f := startHealthFramework(t, c.MasterAddr)
	f.launch("api", "echo hello from the sandbox; sleep 60", nil)
	f.expect(t, "api", "TASK_RUNNING", func(st *mesospb.TaskStatus) bool { return st.GetState() == mesospb.TaskState_TASK_RUNNING })
	addr := c.Agents[0].Addr()

	for _, cd := range []codec.Codec{codec.JSON, codec.Protobuf} {
		_, resp, _ := agentCall(t, addr, cd, &agentapipb.Call{Type: agentapipb.Call_GET_CONTAINERS.Enum()})
		cs := resp.GetGetContainers().GetContainers()
		if len(cs) != 1 || cs[0].GetExecutorId().GetValue() != "api" || cs[0].GetResourceStatistics().GetProcesses() < 1 ||
			cs[0].GetResourceStatistics().GetCpusLimit() != 0.1 {
			t.Fatalf("%s GET_CONTAINERS = %v", cd.MediaType(), cs)
		}
		_, resp, _ = agentCall(t, addr, cd, &agentapipb.Call{Type: agentapipb.Call_GET_TASKS.Enum()})
		if ts := resp.GetGetTasks().GetLaunchedTasks(); len(ts) != 1 || ts[0].GetState() != mesospb.TaskState_TASK_RUNNING {
			t.Fatalf("%s GET_TASKS = %v", cd.MediaType(), resp.GetGetTasks())
		}
	}
	// The sandbox, from the agent's /state, read through the API.
	var state struct {
		Tasks []struct{ ID, Sandbox string }
	}
	r, err := http.Get("http://" + addr + "/state")
	if err != nil {
		t.Fatal(err)
	}
	_ = json.NewDecoder(r.Body).Decode(&state)
	r.Body.Close()
	if len(state.Tasks) != 1 {
		t.Fatalf("/state tasks: %+v", state.Tasks)
	}
	sandbox := state.Tasks[0].Sandbox
	_, resp, _ := agentCall(t, addr, codec.JSON, &agentapipb.Call{Type: agentapipb.Call_LIST_FILES.Enum(),
		ListFiles: &agentapipb.Call_ListFiles{Path: proto.String(sandbox)}})
	names := []string{}
	for _, fi := range resp.GetListFiles().GetFileInfos() {
		names = append(names, fi.GetPath()[len(sandbox)+1:])
	}
	if !strings.Contains(strings.Join(names, ","), "stdout") {
		t.Fatalf("LIST_FILES of the sandbox: %v", names)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, resp, _ = agentCall(t, addr, codec.Protobuf, &agentapipb.Call{Type: agentapipb.Call_READ_FILE.Enum(),
			ReadFile: &agentapipb.Call_ReadFile{Path: proto.String(sandbox + "/stdout"), Offset: proto.Uint64(0)}})
		if string(resp.GetReadFile().GetData()) == "hello from the sandbox\n" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("READ_FILE stdout = %q", resp.GetReadFile().GetData())
		}
		time.Sleep(20 * time.Millisecond) // polling for the task's output
	}
	if status, _, msg := agentCall(t, addr, codec.JSON, &agentapipb.Call{Type: agentapipb.Call_READ_FILE.Enum(),
		ReadFile: &agentapipb.Call_ReadFile{Path: proto.String("/etc/passwd"), Offset: proto.Uint64(0)}}); status != http.StatusForbidden || msg == "" {
		t.Fatalf("READ_FILE /etc/passwd: %d %q", status, msg)
	}
	if status, _, _ := agentCall(t, addr, codec.JSON, &agentapipb.Call{}); status != http.StatusBadRequest {
		t.Fatalf("a call without a type: %d", status)
	}
	// GET_FLAGS shows the isolators the agent runs, expanded from its
	// --isolation shorthand.
	status, resp, msg := agentCall(t, addr, codec.JSON, &agentapipb.Call{Type: agentapipb.Call_GET_FLAGS.Enum()})
	isolation := ""
	for _, f := range resp.GetGetFlags().GetFlags() {
		if f.GetName() == "isolation" {
			isolation = f.GetValue()
		}
	}
	if status != http.StatusOK || isolation != "volume/sandbox_path,volume/host_path,filesystem/posix,posix/cpu,posix/mem,disk/du" {
		t.Fatalf("GET_FLAGS: %d %q, isolation %q", status, msg, isolation)
	}
	if status, _, _ := agentCall(t, addr, codec.JSON, &agentapipb.Call{Type: agentapipb.Call_GET_METRICS.Enum()}); status != http.StatusNotImplemented {
		t.Fatalf("GET_METRICS, which the agent does not implement: %d", status)
	}
}

package e2e

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/corral-sched/corral/agent"
	"github.com/corral-sched/corral/codec"
	"github.com/corral-sched/corral/frameworks/sdk"
	"github.com/corral-sched/corral/internal/testkit/testcluster"
	"github.com/corral-sched/corral/proto/agentapipb"
	"github.com/corral-sched/corral/proto/executorpb"
	"github.com/corral-sched/corral/proto/mesospb"
	"github.com/corral-sched/corral/proto/schedulerpb"
)

// With --authenticate-http-executors the example executor (on the SDK)
// subscribes with the token it is given and runs its tasks, across an
// agent restart too; a caller without the right token can neither take
// over an executor's stream nor report on its tasks.
func TestExecutorAuthentication(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "executor")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/corral-sched/corral/examples/executor").CombinedOutput(); err != nil {
		t.Fatalf("building the example executor: %v\n%s", err, out)
	}
	workDir := t.TempDir()
	c := testcluster.Start(t, testcluster.Options{Agents: 1, WorkDir: workDir,
		Agent: func(_ int, cfg *agent.Config) { cfg.AuthenticateHTTPExecutors = true }})
	f := startExecFramework(t, c, &mesospb.FrameworkInfo{User: proto.String("root"), Name: proto.String("tokens"), Checkpoint: proto.Bool(true)})
	ctx := context.Background()
	s, updates, pongs := f.s, f.updates, f.pongs
	o := f.offer(t)
	space := sdk.NewSpace(o)
	var tasks []*mesospb.TaskInfo
	for _, spec := range []struct{ id, executor, cmd string }{{"held", "ex-a", "sleep 120"}, {"quick", "ex-a", "true"}, {"other", "ex-b", "sleep 120"}} {
		res, _ := space.Take(0.1, 16, 0, 0)
		exRes, _ := space.Take(0.05, 32, 0, 0)
		tasks = append(tasks, &mesospb.TaskInfo{Name: proto.String(spec.id), TaskId: &mesospb.TaskID{Value: proto.String(spec.id)},
			AgentId: o.GetAgentId(), Resources: res, Data: []byte(spec.cmd),
			Executor: &mesospb.ExecutorInfo{Type: mesospb.ExecutorInfo_CUSTOM.Enum(), ExecutorId: &mesospb.ExecutorID{Value: proto.String(spec.executor)},
				Resources: exRes, Command: &mesospb.CommandInfo{Value: proto.String("./executor"),
					Uris: []*mesospb.CommandInfo_URI{{Value: proto.String("file://" + bin), Executable: proto.Bool(true)}}}}})
	}
	if err := s.Launch(ctx, o, 0, tasks...); err != nil {
		t.Fatal(err)
	}
	// Every state but STAGING comes from the executors, which need their
	// tokens to report it.
	awaitStates(t, updates, map[string]mesospb.TaskState{"held": mesospb.TaskState_TASK_RUNNING,
		"quick": mesospb.TaskState_TASK_FINISHED, "other": mesospb.TaskState_TASK_RUNNING})

	// Tokens made here, independently of the agent's code, as HS256 JWTs
	// with the agent's key: the executors' identities come from their
	// sandboxes (runs/<container>).
	agentDir := filepath.Join(workDir, "agent-0")
	key, err := os.ReadFile(filepath.Join(agentDir, "meta", "executor_auth_key"))
	if err != nil {
		t.Fatal(err)
	}
	fw := s.FrameworkID()
	tokenA := hs256(key, fw, "ex-a", containerOf(t, agentDir, fw, "ex-a"))
	tokenB := hs256(key, fw, "ex-b", containerOf(t, agentDir, fw, "ex-b"))
	addr := c.Agents[0].Addr()
	subscribeA := &executorpb.Call{Type: executorpb.Call_SUBSCRIBE.Enum(), Subscribe: &executorpb.Call_Subscribe{},
		FrameworkId: &mesospb.FrameworkID{Value: proto.String(fw)}, ExecutorId: &mesospb.ExecutorID{Value: proto.String("ex-a")}}
	forged := func(executor string) *executorpb.Call {
		return &executorpb.Call{Type: executorpb.Call_UPDATE.Enum(),
			FrameworkId: &mesospb.FrameworkID{Value: proto.String(fw)}, ExecutorId: &mesospb.ExecutorID{Value: proto.String(executor)},
			Update: &executorpb.Call_Update{Status: &mesospb.TaskStatus{TaskId: &mesospb.TaskID{Value: proto.String("held")},
				State: mesospb.TaskState_TASK_FAILED.Enum(), Uuid: []byte("0123456789abcdef"), Message: proto.String("forged")}}}
	}
	for _, tc := range []struct {
		name, authorization string
		call                *executorpb.Call
		status              int
		says                string
	}{
		{"no token", "", subscribeA, http.StatusUnauthorized, "MESOS_EXECUTOR_AUTHENTICATION_TOKEN"},
		{"basic credentials", "Basic b3BzOnNlY3JldA==", subscribeA, http.StatusUnauthorized, "Bearer"},
		{"not a token", "Bearer garbage", subscribeA, http.StatusUnauthorized, "not valid"},
		{"another key", "Bearer " + hs256([]byte("0123456789abcdef0123456789abcdef"), fw, "ex-a", containerOf(t, agentDir, fw, "ex-a")),
			subscribeA, http.StatusUnauthorized, "not valid"},
		{"unsigned", "Bearer " + unsigned(tokenA), subscribeA, http.StatusUnauthorized, "not valid"},
		{"another executor's token", "Bearer " + tokenB, subscribeA, http.StatusForbidden, `not executor "ex-a"`},
		{"a token of an earlier run", "Bearer " + hs256(key, fw, "ex-a", "an-earlier-container"), subscribeA, http.StatusForbidden, "earlier run"},
		{"an update for another executor's task", "Bearer " + tokenB, forged("ex-a"), http.StatusForbidden, `not executor "ex-a"`},
		{"an update for another executor's task as its own", "Bearer " + tokenB, forged("ex-b"), http.StatusBadRequest, "not a task of this executor"},
	} {
		status, body := executorCall(t, addr, tc.authorization, tc.call)
		if status != tc.status || !strings.Contains(body, tc.says) {
			t.Errorf("%s: %d %q, want %d saying %q", tc.name, status, body, tc.status, tc.says)
		}
	}
	_, resp, msg := agentCall(t, addr, codec.JSON, &agentapipb.Call{Type: agentapipb.Call_GET_TASKS.Enum()})
	if resp == nil {
		t.Fatalf("GET_TASKS: %s", msg)
	}
	held := false
	for _, tk := range resp.GetGetTasks().GetLaunchedTasks() {
		if tk.GetTaskId().GetValue() == "held" {
			held = tk.GetState() == mesospb.TaskState_TASK_RUNNING
		}
	}
	if !held {
		t.Fatalf("after the forged updates the agent has held as %v, want it running", resp.GetGetTasks())
	}

	// Restarted, the agent still knows the executors' tokens: both
	// subscribe again, and answer a ping (the answer needs the token too).
	// Killed only then, the task is killed by its executor, not by the
	// agent for want of one.
	c.StopAgent(0)
	if _, err := c.RestartAgent(0); err != nil {
		t.Fatal(err)
	}
	answered := map[string]bool{}
	waitFor(t, 30*time.Second, "both executors to answer a ping after the agent's restart", func() bool {
		for _, ex := range []string{"ex-a", "ex-b"} {
			if answered[ex] {
				continue
			}
			if err := s.Call(ctx, &schedulerpb.Call{Type: schedulerpb.Call_MESSAGE.Enum(), Message: &schedulerpb.Call_Message{
				AgentId: o.GetAgentId(), ExecutorId: &mesospb.ExecutorID{Value: proto.String(ex)}, Data: []byte("ping")}}); err != nil {
				t.Fatal(err)
			}
		}
		select {
		case ex := <-pongs:
			answered[ex] = true
		case <-time.After(500 * time.Millisecond):
		}
		return answered["ex-a"] && answered["ex-b"]
	})
	if err := s.Kill(ctx, "held", o.GetAgentId().GetValue()); err != nil {
		t.Fatal(err)
	}
	awaitStates(t, updates, map[string]mesospb.TaskState{"held": mesospb.TaskState_TASK_KILLED})
}

// awaitStates waits for each task to reach its state, reported by its
// executor; any other terminal state fails the test.
func awaitStates(t *testing.T, updates <-chan *mesospb.TaskStatus, want map[string]mesospb.TaskState) {
	t.Helper()
	deadline := time.After(60 * time.Second)
	for len(want) > 0 {
		select {
		case st := <-updates:
			id := st.GetTaskId().GetValue()
			if w, ok := want[id]; ok && st.GetState() == w {
				if st.GetSource() != mesospb.TaskStatus_SOURCE_EXECUTOR {
					t.Fatalf("task %s: %v from %v (%s), want it from its executor", id, w, st.GetSource(), st.GetMessage())
				}
				delete(want, id)
			} else if mesospb.IsTerminal(st.GetState()) {
				t.Fatalf("task %s ended %v (%s)", id, st.GetState(), st.GetMessage())
			}
		case <-deadline:
			t.Fatalf("still waiting after 60s for %v", want)
		}
	}
}

// containerOf is the container of the executor's one run.
func containerOf(t *testing.T, agentDir, framework, executor string) string {
	t.Helper()
	runs, _ := filepath.Glob(filepath.Join(agentDir, "agents", "*", "frameworks", framework, "executors", executor, "runs", "*"))
	var ids []string
	for _, r := range runs {
		if filepath.Base(r) != "latest" {
			ids = append(ids, filepath.Base(r))
		}
	}
	if len(ids) != 1 {
		t.Fatalf("executor %s has runs %v, want one", executor, ids)
	}
	return ids[0]
}

func hs256(key []byte, framework, executor, container string) string {
	enc := base64.RawURLEncoding.EncodeToString
	claims, _ := json.Marshal(map[string]string{"fid": framework, "eid": executor, "cid": container})
	signed := enc([]byte(`{"alg":"HS256","typ":"JWT"}`)) + "." + enc(claims)
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(signed))
	return signed + "." + enc(mac.Sum(nil))
}

// unsigned is token with "alg": "none" and no signature, the classic JWT
// forgery.
func unsigned(token string) string {
	parts := strings.Split(token, ".")
	return base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"JWT"}`)) + "." + parts[1] + "."
}

func executorCall(t *testing.T, addr, authorization string, call *executorpb.Call) (int, string) {
	t.Helper()
	body, _ := codec.JSON.Marshal(call)
	req, _ := http.NewRequest(http.MethodPost, "http://"+addr+"/api/v1/executor", bytes.NewReader(body))
	req.Header.Set("Content-Type", codec.JSONMediaType)
	req.Header.Set("Accept", codec.JSONMediaType)
	if authorization != "" {
		req.Header.Set("Authorization", authorization)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode == http.StatusUnauthorized && !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Bearer ") {
		t.Errorf("401 with WWW-Authenticate %q, want a Bearer challenge", resp.Header.Get("WWW-Authenticate"))
	}
	return resp.StatusCode, string(b)
}

// mesos-go's executor library sends no token (v0.0.11 does not read
// MESOS_EXECUTOR_AUTHENTICATION_TOKEN): its example executor is refused,
// exits, and its task fails, as docs/security.md says.
func TestMesosGoExecutorWithoutToken(t *testing.T) {
	bin := buildMesosGo(t, "example-executor")
	workDir := t.TempDir()
	c := testcluster.Start(t, testcluster.Options{Agents: 1, WorkDir: workDir,
		Agent: func(_ int, cfg *agent.Config) { cfg.AuthenticateHTTPExecutors = true }})
	f := startExecFramework(t, c, &mesospb.FrameworkInfo{User: proto.String("root"), Name: proto.String("mesos-go")})
	ctx := context.Background()
	s, updates := f.s, f.updates
	o := f.offer(t)
	space := sdk.NewSpace(o)
	res, _ := space.Take(0.1, 16, 0, 0)
	exRes, _ := space.Take(0.05, 32, 0, 0)
	task := &mesospb.TaskInfo{Name: proto.String("t"), TaskId: &mesospb.TaskID{Value: proto.String("t")}, AgentId: o.GetAgentId(), Resources: res,
		Executor: &mesospb.ExecutorInfo{Type: mesospb.ExecutorInfo_CUSTOM.Enum(), ExecutorId: &mesospb.ExecutorID{Value: proto.String("mesos-go")},
			Resources: exRes, Command: &mesospb.CommandInfo{Value: proto.String("./example-executor"),
				Uris: []*mesospb.CommandInfo_URI{{Value: proto.String("file://" + bin), Executable: proto.Bool(true)}}}}}
	if err := s.Launch(ctx, o, 0, task); err != nil {
		t.Fatal(err)
	}
	deadline := time.After(60 * time.Second)
	for {
		select {
		case st := <-updates:
			if !mesospb.IsTerminal(st.GetState()) {
				continue
			}
			if st.GetState() != mesospb.TaskState_TASK_FAILED || st.GetReason() != mesospb.TaskStatus_REASON_EXECUTOR_TERMINATED {
				t.Fatalf("the task ended %v (%v: %s), want TASK_FAILED as its executor exited", st.GetState(), st.GetReason(), st.GetMessage())
			}
			stderr, _ := filepath.Glob(filepath.Join(workDir, "agent-0", "agents", "*", "frameworks", s.FrameworkID(), "executors", "mesos-go", "runs", "latest", "stderr"))
			if len(stderr) != 1 {
				t.Fatalf("no stderr of the executor: %v", stderr)
			}
			if b, _ := os.ReadFile(stderr[0]); !strings.Contains(string(b), "Executor authentication required") {
				t.Fatalf("the executor was not refused for want of a token; its stderr:\n%s", b)
			}
			return
		case <-deadline:
			t.Fatal("the task did not end within 60s")
		}
	}
}

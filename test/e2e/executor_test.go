package e2e

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/corral-sched/corral/internal/testkit"

	"google.golang.org/protobuf/proto"

	"github.com/corral-sched/corral/codec"
	"github.com/corral-sched/corral/frameworks/sdk"
	"github.com/corral-sched/corral/internal/testkit/testcluster"
	"github.com/corral-sched/corral/proto/masterpb"
	"github.com/corral-sched/corral/proto/mesospb"
	"github.com/corral-sched/corral/proto/schedulerpb"
	"github.com/corral-sched/corral/resources"
)

// A scheduler ships its own executor (examples/executor) through a
// file:// URI; the executor runs three tasks and answers a message.
func TestCustomExecutorRunsTasksAndTalks(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "executor")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/corral-sched/corral/examples/executor").CombinedOutput(); err != nil {
		t.Fatalf("building the example executor: %v\n%s", err, out)
	}
	c := testcluster.Start(t, testcluster.Options{Agents: 1})
	offers := make(chan *mesospb.Offer, 100)
	updates := make(chan *mesospb.TaskStatus, 100)
	messages := make(chan *schedulerpb.Event_Message, 10)
	var s *sdk.Scheduler
	s, err := sdk.New(sdk.Config{Master: c.MasterAddr, Logger: slog.New(slog.DiscardHandler),
		Framework: &mesospb.FrameworkInfo{User: proto.String("root"), Name: proto.String("custom")}},
		sdk.HandlerFunc(func(ctx context.Context, ev *schedulerpb.Event) error {
			for _, o := range ev.GetOffers().GetOffers() {
				offers <- o
			}
			if st := ev.GetUpdate().GetStatus(); st != nil {
				updates <- st
			}
			if m := ev.GetMessage(); m != nil {
				messages <- m
			}
			return nil
		}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(testkit.RunInBackground(s.Run))
	ctx := t.Context()

	o := <-offers
	space := sdk.NewSpace(o)
	var tasks []*mesospb.TaskInfo
	for _, spec := range []struct{ id, cmd string }{{"one", "echo one"}, {"two", "echo two"}, {"three", "sleep 1"}} {
		res, _ := space.Take(0.1, 16, 0, 0)
		exRes, _ := space.Take(0.05, 32, 0, 0)
		tasks = append(tasks, &mesospb.TaskInfo{
			Name: proto.String(spec.id), TaskId: &mesospb.TaskID{Value: proto.String(spec.id)}, AgentId: o.GetAgentId(),
			Resources: res, Data: []byte(spec.cmd),
			Executor: &mesospb.ExecutorInfo{
				Type: mesospb.ExecutorInfo_CUSTOM.Enum(), ExecutorId: &mesospb.ExecutorID{Value: proto.String("ex-1")},
				Resources: exRes,
				Command: &mesospb.CommandInfo{Value: proto.String("./executor"),
					Uris: []*mesospb.CommandInfo_URI{{Value: proto.String("file://" + bin), Executable: proto.Bool(true)}}},
			},
		})
	}
	if err := s.Launch(ctx, o, 0, tasks...); err != nil {
		t.Fatal(err)
	}
	final := map[string]mesospb.TaskState{}
	pinged := false
	deadline := time.After(60 * time.Second)
	for len(final) < 3 {
		select {
		case st := <-updates:
			if st.GetState() == mesospb.TaskState_TASK_RUNNING && st.GetExecutorId().GetValue() != "ex-1" {
				t.Fatalf("task %s runs under %q, want ex-1", st.GetTaskId().GetValue(), st.GetExecutorId().GetValue())
			}
			if st.GetState() == mesospb.TaskState_TASK_RUNNING && st.GetTaskId().GetValue() == "three" && !pinged {
				pinged = true
				if err := s.Call(ctx, &schedulerpb.Call{Type: schedulerpb.Call_MESSAGE.Enum(), Message: &schedulerpb.Call_Message{
					AgentId: o.GetAgentId(), ExecutorId: &mesospb.ExecutorID{Value: proto.String("ex-1")}, Data: []byte("ping")}}); err != nil {
					t.Fatal(err)
				}
			}
			if mesospb.IsTerminal(st.GetState()) {
				final[st.GetTaskId().GetValue()] = st.GetState()
			}
		case <-deadline:
			t.Fatalf("tasks not done within 60s: %v", final)
		}
	}
	for id, st := range final {
		if st != mesospb.TaskState_TASK_FINISHED {
			t.Fatalf("task %s ended %v, want TASK_FINISHED (all: %v)", id, st, final)
		}
	}
	select {
	case m := <-messages:
		if string(m.GetData()) != "pong" || m.GetExecutorId().GetValue() != "ex-1" {
			t.Fatalf("message %q from %q, want pong from ex-1", m.GetData(), m.GetExecutorId().GetValue())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the executor never answered the ping")
	}

	// The executor outlives its tasks: the master lists it, holds its
	// resources once (not once per task), and names it in offers.
	body, _ := codec.JSON.Marshal(&masterpb.Call{Type: masterpb.Call_GET_EXECUTORS.Enum()})
	resp, err := http.Post(c.MasterURL+"/api/v1", codec.JSONMediaType, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	execs := &masterpb.Response{}
	if err := codec.JSON.Unmarshal(raw, execs); err != nil {
		t.Fatal(err)
	}
	if e := execs.GetGetExecutors().GetExecutors(); len(e) != 1 || e[0].GetExecutorInfo().GetExecutorId().GetValue() != "ex-1" {
		t.Fatalf("GET_EXECUTORS: %s", raw)
	}
	if err := s.Revive(ctx); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "an offer naming ex-1", func() bool {
		select {
		case o := <-offers:
			ids := o.GetExecutorIds()
			return len(ids) == 1 && ids[0].GetValue() == "ex-1"
		default:
			return false
		}
	})
	waitFor(t, 30*time.Second, "only the executor's 0.05 cpus allocated", func() bool {
		agents := getAgents(t, c.MasterURL)
		cpus := resources.Resources(agents[0].GetAllocatedResources()).ScalarValue("cpus")
		return cpus > 0.049 && cpus < 0.051
	})
	// Torn down, the framework's executor ends and its resources return.
	if err := s.Teardown(ctx); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "the agent to have nothing allocated", func() bool {
		agents := getAgents(t, c.MasterURL)
		return len(agents) == 1 && resources.Resources(agents[0].GetAllocatedResources()).ScalarValue("cpus") == 0
	})
}

// An executor of a checkpointing framework outlives an agent restart: it
// subscribes to the new agent process, and its task goes on running and
// can be killed through it.
func TestCustomExecutorSurvivesAgentRestart(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "executor")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/corral-sched/corral/examples/executor").CombinedOutput(); err != nil {
		t.Fatalf("building the example executor: %v\n%s", err, out)
	}
	c := testcluster.Start(t, testcluster.Options{Agents: 1})
	f := startExecFramework(t, c, &mesospb.FrameworkInfo{User: proto.String("root"), Name: proto.String("durable"), Checkpoint: proto.Bool(true)})
	ctx := context.Background()
	s, updates, pongs := f.s, f.updates, f.pongs
	o := f.offer(t)
	space := sdk.NewSpace(o)
	res, _ := space.Take(0.1, 16, 0, 0)
	exRes, _ := space.Take(0.05, 32, 0, 0)
	task := &mesospb.TaskInfo{Name: proto.String("long"), TaskId: &mesospb.TaskID{Value: proto.String("long")}, AgentId: o.GetAgentId(),
		Resources: res, Data: []byte("sleep 120"),
		Executor: &mesospb.ExecutorInfo{Type: mesospb.ExecutorInfo_CUSTOM.Enum(), ExecutorId: &mesospb.ExecutorID{Value: proto.String("durable-ex")},
			Resources: exRes, Command: &mesospb.CommandInfo{Value: proto.String("./executor"),
				Uris: []*mesospb.CommandInfo_URI{{Value: proto.String("file://" + bin), Executable: proto.Bool(true)}}}}}
	if err := s.Launch(ctx, o, 0, task); err != nil {
		t.Fatal(err)
	}
	expect := func(what string, want mesospb.TaskState) {
		t.Helper()
		deadline := time.After(60 * time.Second)
		for {
			select {
			case st := <-updates:
				if st.GetState() == want {
					return
				}
				if mesospb.IsTerminal(st.GetState()) {
					t.Fatalf("%s: the task ended %v (%s) instead", what, st.GetState(), st.GetMessage())
				}
			case <-deadline:
				t.Fatalf("%s: no %v within 60s", what, want)
			}
		}
	}
	expect("launch", mesospb.TaskState_TASK_RUNNING)
	c.StopAgent(0)
	if _, err := c.RestartAgent(0); err != nil {
		t.Fatal(err)
	}
	// The executor subscribes to the new agent process: it answers a
	// ping. Killed only then, the task is killed by its executor (were
	// the kill sent earlier, the agent would answer it itself).
	waitFor(t, 30*time.Second, "the executor to answer a ping after the agent's restart", func() bool {
		if err := s.Call(ctx, &schedulerpb.Call{Type: schedulerpb.Call_MESSAGE.Enum(), Message: &schedulerpb.Call_Message{
			AgentId: o.GetAgentId(), ExecutorId: &mesospb.ExecutorID{Value: proto.String("durable-ex")}, Data: []byte("ping")}}); err != nil {
			t.Fatal(err)
		}
		select {
		case <-pongs:
			return true
		case <-time.After(500 * time.Millisecond):
			return false
		}
	})
	if err := s.Kill(ctx, "long", o.GetAgentId().GetValue()); err != nil {
		t.Fatal(err)
	}
	deadline := time.After(60 * time.Second)
	for {
		select {
		case st := <-updates:
			if st.GetState() == mesospb.TaskState_TASK_KILLED {
				if st.GetSource() != mesospb.TaskStatus_SOURCE_EXECUTOR {
					t.Fatalf("TASK_KILLED from %v (%s), want it from the re-subscribed executor", st.GetSource(), st.GetMessage())
				}
				return
			}
			if mesospb.IsTerminal(st.GetState()) {
				t.Fatalf("the task ended %v (%s) across the agent's restart", st.GetState(), st.GetMessage())
			}
		case <-deadline:
			t.Fatal("no TASK_KILLED within 60s of the kill")
		}
	}
}

// execFramework is a framework on the SDK for the executor tests: its
// offers (dropped when nobody takes them), updates and the executors'
// "pong" messages (by executor ID) land in channels.
type execFramework struct {
	s       *sdk.Scheduler
	offers  chan *mesospb.Offer
	updates chan *mesospb.TaskStatus
	pongs   chan string
}

func startExecFramework(t *testing.T, c *testcluster.Cluster, info *mesospb.FrameworkInfo) *execFramework {
	t.Helper()
	f := &execFramework{offers: make(chan *mesospb.Offer, 100), updates: make(chan *mesospb.TaskStatus, 100), pongs: make(chan string, 100)}
	var err error
	f.s, err = sdk.New(sdk.Config{Master: c.MasterAddr, Logger: slog.New(slog.DiscardHandler), Framework: info},
		sdk.HandlerFunc(func(ctx context.Context, ev *schedulerpb.Event) error {
			for _, o := range ev.GetOffers().GetOffers() {
				select {
				case f.offers <- o:
				default:
				}
			}
			if st := ev.GetUpdate().GetStatus(); st != nil {
				f.updates <- st
			}
			if m := ev.GetMessage(); m != nil && string(m.GetData()) == "pong" {
				f.pongs <- m.GetExecutorId().GetValue()
			}
			return nil
		}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(testkit.RunInBackground(f.s.Run))
	return f
}

// offer waits for the framework's next offer.
func (f *execFramework) offer(t *testing.T) *mesospb.Offer {
	t.Helper()
	select {
	case o := <-f.offers:
		return o
	case <-time.After(30 * time.Second):
		t.Fatal("no offer")
		return nil
	}
}

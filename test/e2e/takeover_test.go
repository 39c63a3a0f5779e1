package e2e

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/corral-sched/corral/internal/testkit"

	"google.golang.org/protobuf/proto"

	"github.com/corral-sched/corral/agent"
	"github.com/corral-sched/corral/auth"
	"github.com/corral-sched/corral/codec"
	"github.com/corral-sched/corral/frameworks/sdk"
	"github.com/corral-sched/corral/internal/testkit/testcluster"
	"github.com/corral-sched/corral/master"
	"github.com/corral-sched/corral/proto/masterpb"
	"github.com/corral-sched/corral/proto/mesospb"
	"github.com/corral-sched/corral/proto/schedulerpb"
)

// watchedFramework is an SDK framework that also records how its
// subscription fares: every SUBSCRIBED and ERROR it is sent.
type watchedFramework struct {
	*authFramework
	mu         sync.Mutex
	subscribed int      // guarded by mu
	errors     []string // guarded by mu
}

func startWatchedFramework(t *testing.T, masterAddr, principal, secret string) *watchedFramework {
	t.Helper()
	f := &watchedFramework{authFramework: &authFramework{offers: make(chan *mesospb.Offer, 100), updates: make(chan *mesospb.TaskStatus, 100)}}
	var err error
	f.s, err = sdk.New(sdk.Config{Master: masterAddr, Principal: principal, Secret: secret, Logger: slog.New(slog.DiscardHandler),
		Framework: &mesospb.FrameworkInfo{User: proto.String("root"), Name: proto.String(principal), FailoverTimeout: proto.Float64(3600)}},
		sdk.HandlerFunc(func(ctx context.Context, ev *schedulerpb.Event) error {
			switch ev.GetType() {
			case schedulerpb.Event_SUBSCRIBED:
				f.mu.Lock()
				f.subscribed++
				f.mu.Unlock()
			case schedulerpb.Event_ERROR:
				f.mu.Lock()
				f.errors = append(f.errors, ev.GetError().GetMessage())
				f.mu.Unlock()
			}
			for _, o := range ev.GetOffers().GetOffers() {
				f.offers <- o
			}
			if st := ev.GetUpdate().GetStatus(); st != nil {
				f.updates <- st
			}
			return nil
		}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(testkit.RunInBackground(f.s.Run))
	return f
}

func (f *watchedFramework) history() (int, []string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.subscribed, append([]string(nil), f.errors...)
}

// subscribeAs posts a SUBSCRIBE with principal's credentials and returns
// the status and, unless it is 200 (the stream is then closed at once),
// the body.
func subscribeAs(t *testing.T, masterURL, principal, secret string, info *mesospb.FrameworkInfo) (int, string) {
	t.Helper()
	body, _ := codec.JSON.Marshal(&schedulerpb.Call{Type: schedulerpb.Call_SUBSCRIBE.Enum(), FrameworkId: info.GetId(),
		Subscribe: &schedulerpb.Call_Subscribe{FrameworkInfo: info}})
	req, _ := http.NewRequest(http.MethodPost, masterURL+"/api/v1/scheduler", bytes.NewReader(body))
	req.Header.Set("Content-Type", codec.JSONMediaType)
	req.Header.Set("Accept", codec.JSONMediaType)
	req.SetBasicAuth(principal, secret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusOK {
		return resp.StatusCode, ""
	}
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, strings.TrimSpace(string(b))
}

func taskState(t *testing.T, masterURL, id string) (mesospb.TaskState, string) {
	t.Helper()
	for _, task := range operatorCall(t, masterURL, &masterpb.Call{Type: masterpb.Call_GET_TASKS.Enum()}, http.StatusOK).GetGetTasks().GetTasks() {
		if task.GetTaskId().GetValue() == id {
			return task.GetState(), task.GetAgentId().GetValue()
		}
	}
	return mesospb.TaskState_TASK_UNKNOWN, ""
}

// Bob, authenticated as himself, presents alice's framework ID: he is
// refused, alice keeps her one subscription, bob cannot kill her task, and
// the task keeps running.
func TestFrameworkIDOfAnotherPrincipalIsNotTakenOver(t *testing.T) {
	creds := auth.Credentials{"alice": "alice-secret", "bob": "bob-secret"}
	c := testcluster.Start(t, testcluster.Options{Agents: 1, Master: func(mc *master.Config) {
		mc.Credentials, mc.AuthenticateFrameworks = creds, true
	}})
	alice := startWatchedFramework(t, c.MasterAddr, "alice", "alice-secret")
	o := nextOffer(t, alice.offers)
	res, _ := sdk.NewSpace(o).Take(0.1, 16, 0, 0)
	if err := alice.s.Launch(context.Background(), o, 0, sdk.CommandTask("alice-task", "alice-task", o, "sleep 300", res)); err != nil {
		t.Fatal(err)
	}
	waitState(t, alice.updates, "alice-task", mesospb.TaskState_TASK_RUNNING)
	id := alice.s.FrameworkID()

	taken := &mesospb.FrameworkInfo{User: proto.String("root"), Name: proto.String("bob"), Principal: proto.String("bob"),
		Id: &mesospb.FrameworkID{Value: proto.String(id)}, FailoverTimeout: proto.Float64(3600)}
	code, body := subscribeAs(t, c.MasterURL, "bob", "bob-secret", taken)
	if code != http.StatusForbidden || !strings.Contains(body, `"alice"`) || !strings.Contains(body, `"bob"`) || !strings.Contains(body, id) {
		t.Errorf("bob subscribing with alice's framework ID: %d %q, want 403 naming both principals and the framework", code, body)
	}
	kill, _ := codec.JSON.Marshal(&schedulerpb.Call{Type: schedulerpb.Call_KILL.Enum(), FrameworkId: &mesospb.FrameworkID{Value: proto.String(id)},
		Kill: &schedulerpb.Call_Kill{TaskId: &mesospb.TaskID{Value: proto.String("alice-task")}}})
	if code, body := send(t, "POST", c.MasterURL+"/api/v1/scheduler", "bob", "bob-secret", codec.JSONMediaType, kill); code != http.StatusForbidden {
		t.Errorf("bob killing alice's task: %d %q, want 403", code, body)
	}

	// Alice's stream is the one she opened: her calls are answered on it,
	// and she was never told she failed over.
	if err := alice.s.Reconcile(context.Background(), &schedulerpb.Call_Reconcile_Task{TaskId: &mesospb.TaskID{Value: proto.String("alice-task")}}); err != nil {
		t.Fatalf("alice's reconciliation after bob's attempt: %v", err)
	}
	if st := nextUpdate(t, alice.updates, "alice-task"); st.GetState() != mesospb.TaskState_TASK_RUNNING {
		t.Errorf("alice's task is %v after bob's attempt", st.GetState())
	}
	if n, errs := alice.history(); n != 1 || len(errs) != 0 {
		t.Errorf("alice subscribed %d times and was sent errors %q; want one subscription and no error", n, errs)
	}
	if state, _ := taskState(t, c.MasterURL, "alice-task"); state != mesospb.TaskState_TASK_RUNNING {
		t.Errorf("GET_TASKS has alice's task %v, want TASK_RUNNING", state)
	}
	for _, fw := range operatorCall(t, c.MasterURL, &masterpb.Call{Type: masterpb.Call_GET_FRAMEWORKS.Enum()}, http.StatusOK).GetGetFrameworks().GetFrameworks() {
		if fw.GetFrameworkInfo().GetId().GetValue() == id && fw.GetFrameworkInfo().GetPrincipal() != "alice" {
			t.Errorf("alice's framework now has principal %q", fw.GetFrameworkInfo().GetPrincipal())
		}
	}
}

// logRecorder keeps the messages (with their attributes) an agent logs.
type logRecorder struct {
	mu      sync.Mutex
	records []slog.Record // guarded by mu
}

func (l *logRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (l *logRecorder) Handle(_ context.Context, r slog.Record) error {
	l.mu.Lock()
	l.records = append(l.records, r.Clone())
	l.mu.Unlock()
	return nil
}
func (l *logRecorder) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *logRecorder) WithGroup(string) slog.Handler      { return l }

// refusals returns the reasons of the registrations the master refused and
// the retry delays the agent chose after each failed session, in order.
func (l *logRecorder) refusals() (reasons []string, delays []time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, r := range l.records {
		r.Attrs(func(a slog.Attr) bool {
			switch {
			case r.Message == "the master refused this agent's registration" && a.Key == "reason":
				reasons = append(reasons, a.Value.String())
			case r.Message == "disconnected from master; retrying" && a.Key == "in":
				delays = append(delays, a.Value.Duration())
			}
			return true
		})
	}
	return reasons, delays
}

// An agent whose meta/agent_id holds the ID of a connected agent is
// refused, whether it authenticates as another principal or as the same
// one from another address; it backs off, and the holder keeps its
// subscription and its tasks.
func TestAgentIDOfAConnectedAgentIsNotTakenOver(t *testing.T) {
	creds := auth.Credentials{"agent-a": "secret-a", "agent-b": "secret-b"}
	principals := []string{"agent-a", "agent-b", "agent-a"}
	logs := []*logRecorder{{}, {}, {}}
	work := t.TempDir()
	c := testcluster.Start(t, testcluster.Options{Agents: 1, WorkDir: work,
		Master: func(mc *master.Config) { mc.Credentials, mc.AuthenticateAgents = creds, true },
		Agent: func(i int, ac *agent.Config) {
			ac.Principal, ac.Secret, ac.Logger = principals[i], creds[principals[i]], slog.New(logs[i])
		},
	})
	holder := c.Agents[0]
	f := startAuthFramework(t, c.MasterAddr, "", "")
	o := nextOffer(t, f.offers)
	res, _ := sdk.NewSpace(o).Take(0.1, 16, 0, 0)
	if err := f.s.Launch(context.Background(), o, 0, sdk.CommandTask("held-task", "held-task", o, "sleep 300", res)); err != nil {
		t.Fatal(err)
	}
	waitState(t, f.updates, "held-task", mesospb.TaskState_TASK_RUNNING)
	since := holder.SubscribedAt()

	for i, want := range map[int]string{1: `principal "agent-b" may not take its ID`, 2: "may not take its ID while it is"} {
		// Another agent's work dir with the holder's ID in it, as a copied
		// disk image would have.
		meta := filepath.Join(work, fmt.Sprintf("agent-%d", i), "meta")
		if err := os.MkdirAll(meta, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(meta, "agent_id"), []byte(holder.ID()+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := c.AddAgent(i); err != nil {
			t.Fatal(err)
		}
		waitFor(t, 30*time.Second, "the impostor to be refused 4 times", func() bool {
			reasons, _ := logs[i].refusals()
			return len(reasons) >= 4
		})
		reasons, delays := logs[i].refusals()
		if !strings.Contains(reasons[0], want) || !strings.Contains(reasons[0], holder.ID()) {
			t.Errorf("agent %d refused with %q, want it to name the ID and say %q", i, reasons[0], want)
		}
		// It backs off: each retry waits at least half of a delay that
		// doubles from RegisterBackoff (50ms in test clusters).
		for k, d := range delays[:min(len(delays), 4)] {
			if floor := (50 * time.Millisecond << k) / 2; d < floor {
				t.Errorf("agent %d retried %v after its refusal #%d, want at least %v", i, d, k+1, floor)
			}
		}
	}
	if !holder.Connected() || !holder.SubscribedAt().Equal(since) {
		t.Errorf("the holder was knocked off: connected %v, subscribed at %v, was %v", holder.Connected(), holder.SubscribedAt(), since)
	}
	if state, agentID := taskState(t, c.MasterURL, "held-task"); state != mesospb.TaskState_TASK_RUNNING || agentID != holder.ID() {
		t.Errorf("GET_TASKS has the holder's task %v on %q, want TASK_RUNNING on %s", state, agentID, holder.ID())
	}
	agents := operatorCall(t, c.MasterURL, &masterpb.Call{Type: masterpb.Call_GET_AGENTS.Enum()}, http.StatusOK).GetGetAgents().GetAgents()
	if len(agents) != 1 || agents[0].GetAgentInfo().GetHostname() != "agent-0" {
		t.Errorf("GET_AGENTS lists %v, want only the holder", agents)
	}
}

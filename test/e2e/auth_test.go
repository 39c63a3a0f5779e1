package e2e

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"strings"
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

// send posts body with optional Basic credentials and returns the status
// and body.
func send(t *testing.T, method, url, principal, secret, contentType string, body []byte) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, url, bytes.NewReader(body))
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if principal != "" {
		req.SetBasicAuth(principal, secret)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, strings.TrimSpace(string(b))
}

// authFramework is an SDK framework with credentials whose events land in
// channels.
type authFramework struct {
	s       *sdk.Scheduler
	offers  chan *mesospb.Offer
	updates chan *mesospb.TaskStatus
}

func startAuthFramework(t *testing.T, master, principal, secret string) *authFramework {
	t.Helper()
	return runAuthFramework(t, master, principal, secret, &mesospb.FrameworkInfo{User: proto.String("root"), Name: proto.String(principal)})
}

// runAuthFramework subscribes info with principal's credentials.
func runAuthFramework(t *testing.T, master, principal, secret string, info *mesospb.FrameworkInfo) *authFramework {
	t.Helper()
	f := &authFramework{offers: make(chan *mesospb.Offer, 100), updates: make(chan *mesospb.TaskStatus, 100)}
	var err error
	f.s, err = sdk.New(sdk.Config{Master: master, Principal: principal, Secret: secret, Logger: slog.New(slog.DiscardHandler), Framework: info},
		sdk.HandlerFunc(func(ctx context.Context, ev *schedulerpb.Event) error {
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

// With authentication on for frameworks, agents and operators: no
// credentials is 401, wrong ones 401, someone else's framework 403, the
// right ones work; the agent and the SDK present theirs.
func TestAuthenticationMatrix(t *testing.T) {
	creds := auth.Credentials{"fw-a": "secret-a", "fw-b": "secret-b", "agent": "secret-agent", "ops": "secret-ops"}
	c := testcluster.Start(t, testcluster.Options{Agents: 1,
		Master: func(mc *master.Config) {
			mc.Credentials = creds
			mc.AuthenticateFrameworks, mc.AuthenticateAgents, mc.AuthenticateHTTP = true, true, true
		},
		Agent: func(_ int, ac *agent.Config) { ac.Principal, ac.Secret = "agent", "secret-agent" },
	}) // Start waits for the agent: it authenticated.
	operatorCall, _ := codec.JSON.Marshal(&masterpb.Call{Type: masterpb.Call_GET_HEALTH.Enum()})
	subscribe := func(principal string) []byte {
		b, _ := codec.JSON.Marshal(&schedulerpb.Call{Type: schedulerpb.Call_SUBSCRIBE.Enum(), Subscribe: &schedulerpb.Call_Subscribe{
			FrameworkInfo: &mesospb.FrameworkInfo{User: proto.String("root"), Name: proto.String("x"), Principal: proto.String(principal)}}})
		return b
	}
	for _, tc := range []struct {
		name, method, path, principal, secret, contentType string
		body                                               []byte
		want                                               int
	}{
		{"operator API, no credentials", "POST", "/api/v1", "", "", codec.JSONMediaType, operatorCall, 401},
		{"operator API, wrong secret", "POST", "/api/v1", "ops", "nope", codec.JSONMediaType, operatorCall, 401},
		{"operator API, unknown principal", "POST", "/api/v1", "eve", "secret-ops", codec.JSONMediaType, operatorCall, 401},
		{"operator API", "POST", "/api/v1", "ops", "secret-ops", codec.JSONMediaType, operatorCall, 200},
		{"metrics, no credentials", "GET", "/metrics", "", "", "", nil, 401},
		{"metrics", "GET", "/metrics", "ops", "secret-ops", "", nil, 200},
		{"health stays open", "GET", "/health", "", "", "", nil, 200},
		{"agent API, no credentials", "POST", "/api/v1/agent", "", "", codec.Protobuf.MediaType(), nil, 401},
		{"scheduler API, no credentials", "POST", "/api/v1/scheduler", "", "", codec.JSONMediaType, subscribe("fw-a"), 401},
		{"subscribing as someone else", "POST", "/api/v1/scheduler", "fw-b", "secret-b", codec.JSONMediaType, subscribe("fw-a"), 403},
	} {
		if code, body := send(t, tc.method, c.MasterURL+tc.path, tc.principal, tc.secret, tc.contentType, tc.body); code != tc.want {
			t.Errorf("%s: %d %q, want %d", tc.name, code, body, tc.want)
		}
	}
	code, body := send(t, "POST", c.MasterURL+"/api/v1", "", "", codec.JSONMediaType, operatorCall)
	if code != 401 || !strings.Contains(body, "Authentication required") {
		t.Fatalf("401 body %q", body)
	}

	// Framework A runs a task; B, authenticated, cannot act for A.
	a := startAuthFramework(t, c.MasterAddr, "fw-a", "secret-a")
	var o *mesospb.Offer
	select {
	case o = <-a.offers:
	case <-time.After(30 * time.Second):
		t.Fatal("framework A got no offer")
	}
	res, _ := sdk.NewSpace(o).Take(0.1, 16, 0, 0)
	if err := a.s.Launch(context.Background(), o, 0, sdk.CommandTask("a-task", "a-task", o, "sleep 300", res)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "A's task to run", func() bool {
		select {
		case st := <-a.updates:
			return st.GetState() == mesospb.TaskState_TASK_RUNNING
		default:
			return false
		}
	})
	// B comes after A holds its offer: on one agent, whoever comes first
	// is offered everything.
	b := startAuthFramework(t, c.MasterAddr, "fw-b", "secret-b")
	waitFor(t, 10*time.Second, "B to subscribe", func() bool { return b.s.FrameworkID() != "" })
	kill, _ := codec.JSON.Marshal(&schedulerpb.Call{Type: schedulerpb.Call_KILL.Enum(),
		FrameworkId: &mesospb.FrameworkID{Value: proto.String(a.s.FrameworkID())},
		Kill:        &schedulerpb.Call_Kill{TaskId: &mesospb.TaskID{Value: proto.String("a-task")}}})
	if code, body := send(t, "POST", c.MasterURL+"/api/v1/scheduler", "fw-b", "secret-b", codec.JSONMediaType, kill); code != 403 || !strings.Contains(body, "may not act for framework") {
		t.Fatalf("B killing A's task with A's framework ID: %d %q, want 403", code, body)
	}
	// Through its own framework, B only learns the task is not its own.
	if err := b.s.Kill(context.Background(), "a-task", ""); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "B's kill to be answered as unknown", func() bool {
		select {
		case st := <-b.updates:
			return st.GetTaskId().GetValue() == "a-task" && st.GetState() != mesospb.TaskState_TASK_RUNNING
		default:
			return false
		}
	})
	select {
	case st := <-a.updates:
		if st.GetState() != mesospb.TaskState_TASK_RUNNING {
			t.Fatalf("A's task got %v after B's attempts", st.GetState())
		}
	default:
	}
}

package webui_test

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/corral-sched/corral/internal/testkit"

	"google.golang.org/protobuf/proto"

	"github.com/corral-sched/corral/frameworks/sdk"
	"github.com/corral-sched/corral/internal/testkit/testcluster"
	"github.com/corral-sched/corral/proto/mesospb"
	"github.com/corral-sched/corral/proto/schedulerpb"
)

// framework is a real framework on the SDK: it launches the tasks the
// test asks for on its next offers and declines the rest for a moment, so
// that other frameworks get offers too; or, if it holds offers, keeps them.
type framework struct {
	t    *testing.T
	s    *sdk.Scheduler
	hold bool

	mu      sync.Mutex
	pending []launchRequest // guarded by mu
}

type launchRequest struct {
	id, cmd string
	agent   chan string
}

func startFramework(t *testing.T, c *testcluster.Cluster, name, role string) *framework {
	t.Helper()
	return start(t, c, name, role, false)
}

// startHolder starts a framework that keeps every offer it gets.
func startHolder(t *testing.T, c *testcluster.Cluster, name, role string) *framework {
	t.Helper()
	return start(t, c, name, role, true)
}

func start(t *testing.T, c *testcluster.Cluster, name, role string, hold bool) *framework {
	t.Helper()
	return startAs(t, c, name, role, "root", hold)
}

// startAs starts a framework whose tasks run as user.
func startAs(t *testing.T, c *testcluster.Cluster, name, role, user string, hold bool) *framework {
	t.Helper()
	f := &framework{t: t, hold: hold}
	s, err := sdk.New(sdk.Config{
		Master: c.MasterAddr,
		Framework: &mesospb.FrameworkInfo{
			User: proto.String(user), Name: proto.String(name), Roles: []string{role},
			WebuiUrl:     proto.String("http://" + name + ".example.test/ui"),
			Capabilities: []*mesospb.FrameworkInfo_Capability{{Type: mesospb.FrameworkInfo_Capability_MULTI_ROLE.Enum()}},
		},
		MinBackoff: 50 * time.Millisecond,
		Logger:     slog.New(slog.DiscardHandler),
	}, sdk.HandlerFunc(f.handle))
	if err != nil {
		t.Fatal(err)
	}
	f.s = s
	t.Cleanup(testkit.RunInBackground(s.Run))
	return f
}

func (f *framework) handle(ctx context.Context, ev *schedulerpb.Event) error {
	for _, o := range ev.GetOffers().GetOffers() {
		f.mu.Lock()
		var req *launchRequest
		if len(f.pending) > 0 {
			req = &f.pending[0]
			f.pending = f.pending[1:]
		}
		f.mu.Unlock()
		res, ok := sdk.NewSpace(o).Take(0.5, 32, 0, 0)
		if req == nil && f.hold {
			continue
		}
		if req == nil || !ok {
			if req != nil {
				f.mu.Lock()
				f.pending = append([]launchRequest{*req}, f.pending...)
				f.mu.Unlock()
			}
			if err := f.s.Decline(ctx, []*mesospb.OfferID{o.GetId()}, 0.2); err != nil {
				return err
			}
			continue
		}
		if err := f.s.Launch(ctx, o, 0.2, sdk.CommandTask(req.id, req.id, o, req.cmd, res)); err != nil {
			return err
		}
		req.agent <- o.GetAgentId().GetValue()
	}
	return nil
}

func (f *framework) id() string {
	f.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for f.s.FrameworkID() == "" {
		if time.Now().After(deadline) {
			f.t.Fatal("the framework did not subscribe within 20s")
		}
		time.Sleep(10 * time.Millisecond) // polling for the subscription
	}
	return f.s.FrameworkID()
}

// launch runs cmd as task id (0.5 cpus, 32 MB) on the next offer and
// returns the agent's ID.
func (f *framework) launch(id, cmd string) string {
	f.t.Helper()
	req := launchRequest{id: id, cmd: cmd, agent: make(chan string, 1)}
	f.mu.Lock()
	f.pending = append(f.pending, req)
	f.mu.Unlock()
	select {
	case agentID := <-req.agent:
		return agentID
	case <-time.After(20 * time.Second):
		f.t.Fatalf("%s was not launched within 20s", id)
		return ""
	}
}

func (f *framework) kill(taskID, agentID string) {
	f.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := f.s.Kill(ctx, taskID, agentID); err != nil {
		f.t.Fatalf("killing %s: %v", taskID, err)
	}
}

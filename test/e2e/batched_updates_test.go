package e2e

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/corral-sched/corral/agent"
	"github.com/corral-sched/corral/frameworks/sdk"
	"github.com/corral-sched/corral/internal/testkit/testcluster"
	"github.com/corral-sched/corral/proto/agentpb"
	"github.com/corral-sched/corral/proto/mesospb"
	"github.com/corral-sched/corral/proto/schedulerpb"
)

// updateCounter counts the status updates an agent sends the master, and
// the calls that carry them.
type updateCounter struct {
	base http.RoundTripper

	mu             sync.Mutex
	calls, updates int
	perTask        map[string][]mesospb.TaskState // in the order sent
}

func (c *updateCounter) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/api/v1/agent") && r.Body != nil {
		body, err := io.ReadAll(r.Body)
		r.Body.Close()
		if err != nil {
			return nil, err
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		call := &agentpb.Call{}
		if proto.Unmarshal(body, call) == nil && call.GetType() == agentpb.Call_UPDATE {
			c.mu.Lock()
			c.calls++
			for _, u := range append([]*agentpb.Call_Update{call.GetUpdate()}, call.GetUpdates()...) {
				if u == nil {
					continue
				}
				c.updates++
				id := u.GetStatus().GetTaskId().GetValue()
				c.perTask[id] = append(c.perTask[id], u.GetStatus().GetState())
			}
			c.mu.Unlock()
		}
	}
	return c.base.RoundTrip(r)
}

// An agent sends the status updates of a burst of launches in a few calls,
// not one each, to a master that takes several per call; every task's
// updates still go out in order and reach the framework.
func TestAgentBatchesTheUpdatesOfABurst(t *testing.T) {
	counter := &updateCounter{base: http.DefaultTransport, perTask: map[string][]mesospb.TaskState{}}
	c := testcluster.Start(t, testcluster.Options{Agents: 1, Isolation: "sim", AgentResources: "cpus:200;mem:200000",
		Agent: func(_ int, cfg *agent.Config) { cfg.HTTPClient = &http.Client{Transport: counter} }})
	const tasks = 100
	info := &mesospb.FrameworkInfo{User: proto.String("root"), Name: proto.String("burst")}
	running := make(chan string, tasks)
	launched := false
	var s *sdk.Scheduler
	s, err := sdk.New(sdk.Config{Master: c.MasterAddr, Framework: info, Logger: slog.New(slog.DiscardHandler)},
		sdk.HandlerFunc(func(ctx context.Context, ev *schedulerpb.Event) error {
			for _, o := range ev.GetOffers().GetOffers() {
				if launched {
					if err := s.Decline(ctx, []*mesospb.OfferID{o.GetId()}, 600); err != nil {
						return err
					}
					continue
				}
				launched = true
				space := sdk.NewSpace(o)
				var infos []*mesospb.TaskInfo
				for i := range tasks {
					res, ok := space.Take(1, 64, 0, 0)
					if !ok {
						return fmt.Errorf("the offer holds only %d tasks", i)
					}
					id := fmt.Sprintf("t%03d", i)
					infos = append(infos, sdk.CommandTask(id, id, o, "sleep 600", res))
				}
				if err := s.Launch(ctx, o, 600, infos...); err != nil {
					return err
				}
			}
			if st := ev.GetUpdate().GetStatus(); st.GetState() == mesospb.TaskState_TASK_RUNNING {
				running <- st.GetTaskId().GetValue()
			}
			return nil
		}))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	defer func() { cancel(); <-done }()

	seen := map[string]bool{}
	deadline := time.After(60 * time.Second)
	for len(seen) < tasks {
		select {
		case id := <-running:
			seen[id] = true
		case <-deadline:
			t.Fatalf("%d of %d tasks reported running", len(seen), tasks)
		}
	}
	counter.mu.Lock()
	defer counter.mu.Unlock()
	t.Logf("%d updates in %d calls", counter.updates, counter.calls)
	if counter.calls >= counter.updates {
		t.Fatalf("%d updates took %d calls: none carried several", counter.updates, counter.calls)
	}
	rank := map[mesospb.TaskState]int{mesospb.TaskState_TASK_STAGING: 0, mesospb.TaskState_TASK_STARTING: 1, mesospb.TaskState_TASK_RUNNING: 2}
	for id, states := range counter.perTask {
		for i := 1; i < len(states); i++ {
			if rank[states[i]] < rank[states[i-1]] {
				t.Fatalf("task %s's updates went out of order: %v", id, states)
			}
		}
	}
}

package e2e

import (
	"context"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/corral-sched/corral/frameworks/sdk"
	"github.com/corral-sched/corral/internal/testkit/testcluster"
	"github.com/corral-sched/corral/proto/mesospb"
	"github.com/corral-sched/corral/proto/schedulerpb"
)

// A scheduler that restarts within its failover timeout gets its framework
// back, and its running task was not killed.
func TestSchedulerFailoverKeepsTasks(t *testing.T) {
	c := testcluster.Start(t, testcluster.Options{Agents: 1})
	store := sdk.FileIDStore{Path: filepath.Join(t.TempDir(), "framework-id")}
	info := &mesospb.FrameworkInfo{User: proto.String("root"), Name: proto.String("failover"), FailoverTimeout: proto.Float64(60)}

	updates := make(chan *mesospb.TaskStatus, 100)
	launched := false
	start := func(handler func(s *sdk.Scheduler) sdk.HandlerFunc) (*sdk.Scheduler, context.CancelFunc, chan error) {
		var s *sdk.Scheduler
		h := sdk.HandlerFunc(func(ctx context.Context, ev *schedulerpb.Event) error { return handler(s)(ctx, ev) })
		s, err := sdk.New(sdk.Config{Master: c.MasterAddr, Framework: info, IDStore: store, Logger: slog.New(slog.DiscardHandler)}, h)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- s.Run(ctx) }()
		return s, cancel, done
	}
	first, stop, done := start(func(first *sdk.Scheduler) sdk.HandlerFunc {
		return func(ctx context.Context, ev *schedulerpb.Event) error {
			for _, o := range ev.GetOffers().GetOffers() {
				var err error
				if launched {
					err = first.Decline(ctx, []*mesospb.OfferID{o.GetId()}, 60)
				} else {
					res, _ := sdk.NewSpace(o).Take(0.1, 16, 0, 0)
					launched = true
					err = first.Launch(ctx, o, 60, sdk.CommandTask("keep", "keep", o, "sleep 600", res))
				}
				if err != nil {
					return err
				}
			}
			if st := ev.GetUpdate().GetStatus(); st != nil {
				updates <- st
			}
			return nil
		}
	})
	waitUpdate(t, updates, "keep", mesospb.TaskState_TASK_RUNNING)
	id := first.FrameworkID()
	stop()
	<-done

	second, stop2, done2 := start(func(*sdk.Scheduler) sdk.HandlerFunc {
		return func(ctx context.Context, ev *schedulerpb.Event) error {
			if st := ev.GetUpdate().GetStatus(); st != nil {
				updates <- st
			}
			return nil
		}
	})
	defer func() { stop2(); <-done2 }()
	// The SDK reconciles after subscribing: the task is still running.
	st := waitUpdate(t, updates, "keep", mesospb.TaskState_TASK_RUNNING)
	if st.GetReason() != mesospb.TaskStatus_REASON_RECONCILIATION {
		t.Fatalf("after failover got %v, want a reconciliation answer", st)
	}
	if second.FrameworkID() != id {
		t.Fatalf("re-subscribed as %q, want %q", second.FrameworkID(), id)
	}
}

func waitUpdate(t *testing.T, updates chan *mesospb.TaskStatus, id string, state mesospb.TaskState) *mesospb.TaskStatus {
	t.Helper()
	deadline := time.After(30 * time.Second)
	for {
		select {
		case st := <-updates:
			if st.GetTaskId().GetValue() == id && st.GetState() == state {
				return st
			}
			if st.GetTaskId().GetValue() == id && mesospb.IsTerminal(st.GetState()) {
				t.Fatalf("task %s ended: %s", id, sdk.Describe(st))
			}
		case <-deadline:
			t.Fatalf("task %s never reached %v", id, state)
		}
	}
}

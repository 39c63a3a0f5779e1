package sdk_test

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/corral-sched/corral/frameworks/sdk"
	"github.com/corral-sched/corral/frameworks/sdk/sdktest"
	"github.com/corral-sched/corral/proto/mesospb"
	"github.com/corral-sched/corral/proto/schedulerpb"
)

// A handler that tears the framework down on its last update ends Run
// with ErrTornDown: the SDK neither acknowledges that update (the master
// would refuse it) nor re-subscribes under the removed ID.
func TestTeardownFromTheHandlerEndsRun(t *testing.T) {
	c := sdktest.Start(t, sdktest.Options{})
	launched := false
	var s *sdk.Scheduler
	s, err := sdk.New(sdk.Config{Master: c.MasterAddr, Logger: slog.New(slog.DiscardHandler), MinBackoff: 10 * time.Millisecond,
		Framework: &mesospb.FrameworkInfo{User: proto.String("root"), Name: proto.String("once")}},
		sdk.HandlerFunc(func(ctx context.Context, ev *schedulerpb.Event) error {
			for _, o := range ev.GetOffers().GetOffers() {
				if res, ok := sdk.NewSpace(o).Take(0.1, 16, 0, 0); ok && !launched {
					launched = true
					if err := s.Launch(ctx, o, 60, sdk.CommandTask("once", "once", o, "true", res)); err != nil {
						return err
					}
				}
			}
			if st := ev.GetUpdate().GetStatus(); st.GetState() == mesospb.TaskState_TASK_FINISHED {
				return s.Teardown(ctx)
			}
			return nil
		}))
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Run(context.Background()) }()
	select {
	case err := <-done:
		if !errors.Is(err, sdk.ErrTornDown) {
			t.Fatalf("Run = %v, want ErrTornDown", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("Run did not end after the handler tore the framework down")
	}
	if subs := c.Calls(c.FrameworkID("once"), schedulerpb.Call_SUBSCRIBE); len(subs) != 1 {
		t.Fatalf("the framework subscribed %d times, want once", len(subs))
	}
}

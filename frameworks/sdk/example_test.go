package sdk_test

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/corral-sched/corral/frameworks/sdk"
	"github.com/corral-sched/corral/frameworks/sdk/sdktest"
	"github.com/corral-sched/corral/proto/mesospb"
	"github.com/corral-sched/corral/proto/schedulerpb"
	"github.com/corral-sched/corral/resources"
)

// A framework that runs one command and stops once it has finished. The
// cluster here is the test kit's; a real framework names a real master.
func ExampleScheduler() {
	cluster, err := sdktest.New(sdktest.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer cluster.Close()

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	launched := false
	var s *sdk.Scheduler
	s, err = sdk.New(sdk.Config{
		Master:    cluster.MasterAddr,
		Framework: &mesospb.FrameworkInfo{User: proto.String("root"), Name: proto.String("greeter")},
		Logger:    slog.New(slog.DiscardHandler),
	}, sdk.HandlerFunc(func(ctx context.Context, ev *schedulerpb.Event) error {
		switch ev.GetType() {
		case schedulerpb.Event_OFFERS:
			for _, o := range ev.GetOffers().GetOffers() {
				res, ok := sdk.NewSpace(o).Take(0.1, 32, 0, 0)
				if launched || !ok {
					// Nothing to place here: keep it from us for a minute.
					if err := s.Decline(ctx, []*mesospb.OfferID{o.GetId()}, 60); err != nil {
						return err
					}
					continue
				}
				launched = true
				if err := s.Launch(ctx, o, 60, sdk.CommandTask("greet", "greet-1", o, "echo hello", res)); err != nil {
					return err
				}
			}
		case schedulerpb.Event_UPDATE:
			if st := ev.GetUpdate().GetStatus(); sdk.Terminal(st.GetState()) {
				fmt.Println(st.GetTaskId().GetValue(), st.GetState())
				cancel() // Run returns nil
			}
		}
		return nil
	}))
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := s.Run(ctx); err != nil {
		fmt.Println(err)
	}
	// Output: greet-1 TASK_FINISHED
}

// Explicit reconciliation: the master answers with the latest state it
// knows, marked REASON_RECONCILIATION. Run also reconciles every task,
// implicitly, after each subscription.
func ExampleScheduler_Reconcile() {
	cluster, err := sdktest.New(sdktest.Options{Isolation: "sim"})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer cluster.Close()

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	launched := false
	var s *sdk.Scheduler
	s, err = sdk.New(sdk.Config{
		Master:    cluster.MasterAddr,
		Framework: &mesospb.FrameworkInfo{User: proto.String("root"), Name: proto.String("reconciler")},
		Logger:    slog.New(slog.DiscardHandler),
	}, sdk.HandlerFunc(func(ctx context.Context, ev *schedulerpb.Event) error {
		for _, o := range ev.GetOffers().GetOffers() {
			if res, ok := sdk.NewSpace(o).Take(0.1, 32, 0, 0); ok && !launched {
				launched = true
				if err := s.Launch(ctx, o, 60, sdk.CommandTask("db", "db-1", o, "sleep 600", res)); err != nil {
					return err
				}
				continue
			}
			if err := s.Decline(ctx, []*mesospb.OfferID{o.GetId()}, 60); err != nil {
				return err
			}
		}
		st := ev.GetUpdate().GetStatus()
		switch {
		case st.GetState() == mesospb.TaskState_TASK_RUNNING && st.GetReason() == mesospb.TaskStatus_REASON_RECONCILIATION:
			fmt.Println(sdk.Describe(st))
			cancel()
		case st.GetState() == mesospb.TaskState_TASK_RUNNING:
			// What does the master know of db-1 now?
			return s.Reconcile(ctx, &schedulerpb.Call_Reconcile_Task{TaskId: st.GetTaskId(), AgentId: st.GetAgentId()})
		}
		return nil
	}))
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := s.Run(ctx); err != nil {
		fmt.Println(err)
	}
	// Output: db-1 TASK_RUNNING (REASON_RECONCILIATION)
}

// Packing an offer: each Take carves one task's resources out of what is
// left, in the offer's shape, until the offer cannot hold another.
func ExampleSpace() {
	offer := &mesospb.Offer{
		Id:      &mesospb.OfferID{Value: proto.String("o1")},
		AgentId: &mesospb.AgentID{Value: proto.String("a1")},
		Resources: []*mesospb.Resource{
			resources.Scalar("cpus", 4), resources.Scalar("mem", 1024), resources.Range("ports", 31000, 31009),
		},
	}
	space := sdk.NewSpace(offer)
	for i := 1; ; i++ {
		res, ok := space.Take(1.5, 256, 0, 2)
		if !ok {
			fmt.Printf("task %d does not fit: %s is short\n", i, space.Shortfall(1.5, 256, 0, []uint64{0, 0}))
			break
		}
		fmt.Printf("task %d: %s\n", i, res)
	}
	fmt.Println("left:", space.Left())
	// Output:
	// task 1: cpus:1.5;mem:256;ports:[31000-31001]
	// task 2: cpus:1.5;mem:256;ports:[31002-31003]
	// task 3 does not fit: cpus is short
	// left: cpus:1;mem:512;ports:[31004-31009]
}

// Constraints in Marathon's form decide where an instance may go, given
// where its siblings are.
func ExampleSatisfies() {
	cs, err := sdk.ParseConstraints([][]string{{"hostname", "UNIQUE"}, {"rack", "LIKE", "r[12]"}})
	if err != nil {
		fmt.Println(err)
		return
	}
	placed := []sdk.Placement{{Hostname: "h1", Attributes: map[string]string{"rack": "r1"}}}
	for _, candidate := range []sdk.Placement{
		{Hostname: "h1", Attributes: map[string]string{"rack": "r1"}},
		{Hostname: "h2", Attributes: map[string]string{"rack": "r3"}},
		{Hostname: "h3", Attributes: map[string]string{"rack": "r2"}},
	} {
		if broken, ok := sdk.Satisfies(cs, candidate, placed); !ok {
			fmt.Println(candidate.Hostname, "breaks", broken)
			continue
		}
		fmt.Println(candidate.Hostname, "is fine")
	}
	// Output:
	// h1 breaks [hostname, UNIQUE]
	// h2 breaks [rack, LIKE, r[12]]
	// h3 is fine
}

// A bad constraint is refused with a message that says what is wrong.
func ExampleParseConstraint() {
	_, err := sdk.ParseConstraint([]string{"hostname", "MAX_PER", "zero"})
	fmt.Println(err)
	// Output: constraint ["hostname" "MAX_PER" "zero"]: MAX_PER needs a positive integer
}

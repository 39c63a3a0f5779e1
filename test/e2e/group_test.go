package e2e

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/corral-sched/corral/internal/testkit"

	"google.golang.org/protobuf/proto"

	"github.com/corral-sched/corral/frameworks/sdk"
	"github.com/corral-sched/corral/internal/testkit/testcluster"
	"github.com/corral-sched/corral/proto/mesospb"
	"github.com/corral-sched/corral/proto/schedulerpb"
	"github.com/corral-sched/corral/resources"
)

// A task group lives and dies together: when one of its tasks fails the
// others are killed, every task is reported, and the executor's resources
// come back with the last of them.
func TestTaskGroupFailsTogether(t *testing.T) {
	c := testcluster.Start(t, testcluster.Options{Agents: 1, AgentResources: "cpus:2;mem:1024"})
	ctx, s, offers, updates := podFramework(t, c)

	o := <-offers
	space := sdk.NewSpace(o)
	exRes, _ := space.Take(0.1, 32, 0, 0)
	var tasks []*mesospb.TaskInfo
	for _, spec := range []struct{ id, cmd string }{{"web", "sleep 60"}, {"sidecar", "sleep 60"}, {"broken", "sleep 0.3; exit 1"}} {
		res, _ := space.Take(0.2, 64, 0, 0)
		tasks = append(tasks, sdk.CommandTask(spec.id, spec.id, o, spec.cmd, res))
	}
	op := &mesospb.Offer_Operation{Type: mesospb.Offer_Operation_LAUNCH_GROUP.Enum(), LaunchGroup: &mesospb.Offer_Operation_LaunchGroup{
		Executor: &mesospb.ExecutorInfo{Type: mesospb.ExecutorInfo_DEFAULT.Enum(),
			ExecutorId: &mesospb.ExecutorID{Value: proto.String("pod-1")}, Resources: exRes},
		TaskGroup: &mesospb.TaskGroupInfo{Tasks: tasks},
	}}
	if err := s.Accept(ctx, []*mesospb.OfferID{o.GetId()}, []*mesospb.Offer_Operation{op}, 0); err != nil {
		t.Fatal(err)
	}
	final := map[string]mesospb.TaskState{}
	deadline := time.After(60 * time.Second)
	for len(final) < 3 {
		select {
		case st := <-updates:
			if st.GetState() == mesospb.TaskState_TASK_RUNNING && st.GetExecutorId().GetValue() != "pod-1" {
				t.Fatalf("task %s runs under executor %q, want pod-1", st.GetTaskId().GetValue(), st.GetExecutorId().GetValue())
			}
			if mesospb.IsTerminal(st.GetState()) {
				final[st.GetTaskId().GetValue()] = st.GetState()
			}
		case <-deadline:
			t.Fatalf("group not over within 60s: %v", final)
		}
	}
	want := map[string]mesospb.TaskState{"broken": mesospb.TaskState_TASK_FAILED, "web": mesospb.TaskState_TASK_KILLED, "sidecar": mesospb.TaskState_TASK_KILLED}
	for id, st := range want {
		if final[id] != st {
			t.Fatalf("final states %v, want %v", final, want)
		}
	}
	t.Cleanup(func() {
		if t.Failed() {
			for _, a := range getAgents(t, c.MasterURL) {
				t.Logf("agent total %s allocated %s offered %s", resources.Resources(a.GetTotalResources()),
					resources.Resources(a.GetAllocatedResources()), resources.Resources(a.GetOfferedResources()))
			}
		}
	})
	// Nothing is held any more, the executor's share included.
	waitFor(t, 30*time.Second, "the group's resources, executor included, to be released", func() bool {
		// Whatever no task holds is offered: offers holding the whole agent
		// mean nothing leaked.
		agents := getAgents(t, c.MasterURL)
		offered := resources.Resources(agents[0].GetOfferedResources())
		return len(agents[0].GetAllocatedResources()) == 0 && offered.ScalarValue("cpus") == 2 && offered.ScalarValue("mem") == 1024
	})
}

// podFramework subscribes a framework to c that passes on its offers and
// updates.
func podFramework(t *testing.T, c *testcluster.Cluster) (context.Context, *sdk.Scheduler, chan *mesospb.Offer, chan *mesospb.TaskStatus) {
	t.Helper()
	updates := make(chan *mesospb.TaskStatus, 100)
	offers := make(chan *mesospb.Offer, 100)
	s, err := sdk.New(sdk.Config{Master: c.MasterAddr, Logger: slog.New(slog.DiscardHandler),
		Framework: &mesospb.FrameworkInfo{User: proto.String("root"), Name: proto.String("pods")}},
		sdk.HandlerFunc(func(ctx context.Context, ev *schedulerpb.Event) error {
			for _, o := range ev.GetOffers().GetOffers() {
				offers <- o
			}
			if st := ev.GetUpdate().GetStatus(); st != nil {
				updates <- st
			}
			return nil
		}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(testkit.RunInBackground(s.Run))
	return t.Context(), s, offers, updates
}

// A task of a group may come without a command (its image's entrypoint
// would run). Without an image either, it fails with a reason; the agent,
// which once dereferenced the missing command and crashed, runs on and
// launches the next group.
func TestAGroupTaskWithoutACommandFailsAndTheAgentRunsOn(t *testing.T) {
	c := testcluster.Start(t, testcluster.Options{Agents: 1, AgentResources: "cpus:2;mem:1024"})
	ctx, s, offers, updates := podFramework(t, c)
	launch := func(o *mesospb.Offer, id string, cmd *mesospb.CommandInfo) {
		t.Helper()
		space := sdk.NewSpace(o)
		exRes, _ := space.Take(0.1, 32, 0, 0)
		res, _ := space.Take(0.2, 64, 0, 0)
		task := sdk.CommandTask(id, id, o, "", res)
		task.Command = cmd
		op := &mesospb.Offer_Operation{Type: mesospb.Offer_Operation_LAUNCH_GROUP.Enum(), LaunchGroup: &mesospb.Offer_Operation_LaunchGroup{
			Executor: &mesospb.ExecutorInfo{Type: mesospb.ExecutorInfo_DEFAULT.Enum(),
				ExecutorId: &mesospb.ExecutorID{Value: proto.String("pod-" + id)}, Resources: exRes},
			TaskGroup: &mesospb.TaskGroupInfo{Tasks: []*mesospb.TaskInfo{task}},
		}}
		if err := s.Accept(ctx, []*mesospb.OfferID{o.GetId()}, []*mesospb.Offer_Operation{op}, 0); err != nil {
			t.Fatal(err)
		}
	}
	wait := func(id string, done func(*mesospb.TaskStatus) bool) *mesospb.TaskStatus {
		t.Helper()
		deadline := time.After(60 * time.Second)
		for {
			select {
			case st := <-updates:
				if st.GetTaskId().GetValue() == id && done(st) {
					return st
				}
			case <-deadline:
				t.Fatalf("no fitting update for %s within 60s", id)
			}
		}
	}
	launch(<-offers, "bare", nil)
	st := wait("bare", func(st *mesospb.TaskStatus) bool { return mesospb.IsTerminal(st.GetState()) })
	if st.GetState() != mesospb.TaskState_TASK_FAILED || !strings.Contains(st.GetMessage(), "no command") {
		t.Fatalf("bare ended %s %q, want TASK_FAILED saying it has no command", st.GetState(), st.GetMessage())
	}
	// The same agent takes the next group.
	o := <-offers
	launch(o, "next", &mesospb.CommandInfo{Value: proto.String("sleep 60")})
	wait("next", func(st *mesospb.TaskStatus) bool { return st.GetState() == mesospb.TaskState_TASK_RUNNING })
}

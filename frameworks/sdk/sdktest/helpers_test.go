package sdktest_test

import (
	"context"
	"log/slog"
	"sync"
	"testing"

	"github.com/corral-sched/corral/internal/testkit"

	"google.golang.org/protobuf/proto"

	"github.com/corral-sched/corral/frameworks/sdk"
	"github.com/corral-sched/corral/frameworks/sdk/sdktest"
	"github.com/corral-sched/corral/proto/mesospb"
	"github.com/corral-sched/corral/proto/schedulerpb"
)

// tester is the framework under test in the kit's own tests: it launches
// each of its tasks once, on the first offer with room, and declines every
// other offer for refuse seconds. With hold it answers no offer at all.
type tester struct {
	tasks  map[string]string // task ID → command
	refuse float64
	hold   bool

	mu       sync.Mutex
	launched map[string]bool // guarded by mu
	s        *sdk.Scheduler
	stop     func()
}

func partitionAware(name string, failover float64) *mesospb.FrameworkInfo {
	return &mesospb.FrameworkInfo{User: proto.String("root"), Name: proto.String(name), FailoverTimeout: proto.Float64(failover),
		Capabilities: []*mesospb.FrameworkInfo_Capability{{Type: mesospb.FrameworkInfo_Capability_PARTITION_AWARE.Enum()}}}
}

// run subscribes the tester to the cluster; it stops when the test ends,
// or at stop.
func (tf *tester) run(t *testing.T, c *sdktest.Cluster, info *mesospb.FrameworkInfo) *tester {
	t.Helper()
	tf.launched = make(map[string]bool)
	s, err := sdk.New(sdk.Config{Master: c.MasterAddr, Framework: info, Logger: slog.New(slog.DiscardHandler)}, tf)
	if err != nil {
		t.Fatal(err)
	}
	tf.s = s
	tf.stop = testkit.RunInBackground(s.Run)
	t.Cleanup(tf.stop)
	sdktest.Eventually(t, info.GetName()+" to subscribe", func() bool { return c.FrameworkID(info.GetName()) != "" })
	return tf
}

func (tf *tester) HandleEvent(ctx context.Context, ev *schedulerpb.Event) error {
	if tf.hold {
		return nil
	}
	for _, o := range ev.GetOffers().GetOffers() {
		space := sdk.NewSpace(o)
		var tasks []*mesospb.TaskInfo
		tf.mu.Lock()
		for id, cmd := range tf.tasks {
			if tf.launched[id] {
				continue
			}
			if res, ok := space.Take(0.1, 16, 0, 0); ok {
				tasks = append(tasks, sdk.CommandTask(id, id, o, cmd, res))
				tf.launched[id] = true
			}
		}
		tf.mu.Unlock()
		var err error
		if len(tasks) > 0 {
			err = tf.s.Launch(ctx, o, tf.refuse, tasks...)
		} else {
			err = tf.s.Decline(ctx, []*mesospb.OfferID{o.GetId()}, tf.refuse)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// agentOf is the cluster's index of the agent a task was launched on.
func agentOf(t *testing.T, c *sdktest.Cluster, frameworkID, taskID string) int {
	t.Helper()
	for _, ti := range c.Launched(frameworkID) {
		if ti.GetTaskId().GetValue() != taskID {
			continue
		}
		for i, a := range c.Agents {
			if a.ID() == ti.GetAgentId().GetValue() {
				return i
			}
		}
	}
	t.Fatalf("task %s was not launched on any agent of the cluster", taskID)
	return -1
}

func isState(c *sdktest.Cluster, frameworkID, taskID string, want mesospb.TaskState) func() bool {
	return func() bool {
		got, ok := c.LastState(frameworkID, taskID)
		return ok && got == want
	}
}

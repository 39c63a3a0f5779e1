package sdktest_test

import (
	"bytes"
	"context"
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/corral-sched/corral/frameworks/sdk/sdktest"
	"github.com/corral-sched/corral/proto/masterpb"
	"github.com/corral-sched/corral/proto/mesospb"
	"github.com/corral-sched/corral/proto/schedulerpb"
)

// A partition-aware framework sees its task on a partitioned agent become
// TASK_UNREACHABLE, and running again once the partition heals.
func TestPartitionShowsAsUnreachableAndHeals(t *testing.T) {
	c := sdktest.Start(t, sdktest.Options{Agents: 2, Isolation: "sim"})
	(&tester{tasks: map[string]string{"t1": "sleep 600"}, refuse: 3600}).run(t, c, partitionAware("partitioned", 3600))
	id := c.FrameworkID("partitioned")
	sdktest.Eventually(t, "t1 running", isState(c, id, "t1", mesospb.TaskState_TASK_RUNNING))

	i := agentOf(t, c, id, "t1")
	c.Partition(i)
	sdktest.Eventually(t, "t1 unreachable", isState(c, id, "t1", mesospb.TaskState_TASK_UNREACHABLE))
	c.Heal(i)
	sdktest.Eventually(t, "t1 running again", isState(c, id, "t1", mesospb.TaskState_TASK_RUNNING))
	sdktest.Eventually(t, "every update acknowledged", func() bool { return len(c.Unacknowledged(id)) == 0 })
}

// A master failover is, to the framework, a new subscription under its
// framework ID, followed by reconciliation that finds its task running.
func TestFailOverIsAReSubscriptionWithTasksReconciled(t *testing.T) {
	c := sdktest.Start(t, sdktest.Options{Isolation: "sim"})
	tf := (&tester{tasks: map[string]string{"t1": "sleep 600"}, refuse: 3600}).run(t, c, partitionAware("failover", 3600))
	id := c.FrameworkID("failover")
	sdktest.Eventually(t, "t1 running", isState(c, id, "t1", mesospb.TaskState_TASK_RUNNING))
	before, mark := c.Master.ID(), lastSeq(c)

	if err := c.FailOver(); err != nil {
		t.Fatal(err)
	}
	if c.Master.ID() == before {
		t.Fatalf("the master after the failover is still %s", before)
	}
	var subscribed, reconciled int
	sdktest.Eventually(t, "a re-subscription and its reconciliation", func() bool {
		for _, x := range c.Calls(id, schedulerpb.Call_SUBSCRIBE, schedulerpb.Call_RECONCILE) {
			switch {
			case x.Seq <= mark || x.Status/100 != 2:
			case x.Call.GetType() == schedulerpb.Call_SUBSCRIBE:
				subscribed = x.Seq
			case subscribed > 0:
				reconciled = x.Seq
			}
		}
		return reconciled > 0
	})
	sdktest.Eventually(t, "t1 reconciled as running", func() bool {
		for _, e := range c.Events(id, schedulerpb.Event_UPDATE) {
			st := e.Event.GetUpdate().GetStatus()
			if e.Seq > reconciled && st.GetTaskId().GetValue() == "t1" && st.GetState() == mesospb.TaskState_TASK_RUNNING &&
				st.GetReason() == mesospb.TaskStatus_REASON_RECONCILIATION {
				return true
			}
		}
		return false
	})
	if tf.s.FrameworkID() != id {
		t.Fatalf("after the failover the framework is %s, want %s", tf.s.FrameworkID(), id)
	}
}

// Advancing the clock expires a decline's filter (the agent is offered
// again) and a disconnected framework's failover timeout (it is removed,
// its task killed), and never makes a healthy agent look silent.
func TestAdvanceExpiresFiltersAndFailoverTimeouts(t *testing.T) {
	ctx := context.Background()
	c := sdktest.Start(t, sdktest.Options{Isolation: "sim"})
	gone := (&tester{tasks: map[string]string{"t1": "sleep 600"}, refuse: 3600}).run(t, c, partitionAware("gone", 3600))
	goneID := c.FrameworkID("gone")
	sdktest.Eventually(t, "t1 running", isState(c, goneID, "t1", mesospb.TaskState_TASK_RUNNING))
	(&tester{refuse: 3600}).run(t, c, partitionAware("picky", 0))
	id := c.FrameworkID("picky")
	sdktest.Eventually(t, "an offer declined for an hour", func() bool {
		d := c.Declines(id)
		return len(d) > 0 && d[0].Refuse() == time.Hour
	})
	// Several jumps: a master that judged agents' liveness by its own
	// clock would see the agent silent for hours after most of them.
	for range 3 {
		// The decline of the last offer must be in before the clock
		// jumps: one that arrived after the jump would filter the agent
		// for an hour from the new time.
		sdktest.Eventually(t, "the master to keep the agent from picky", func() bool {
			why, err := c.Unoffered(ctx, id)
			return err == nil && why["filtered"] == 1
		})
		mark := lastSeq(c)
		c.Advance(2 * time.Hour)
		sdktest.Eventually(t, "the agent offered again", func() bool {
			offers := c.Events(id, schedulerpb.Event_OFFERS)
			return len(offers) > 0 && offers[len(offers)-1].Seq > mark
		})
	}
	for _, st := range c.Updates(goneID) {
		if st.GetState() == mesospb.TaskState_TASK_UNREACHABLE || st.GetState() == mesospb.TaskState_TASK_LOST {
			t.Fatalf("advancing the clock made t1 %v: %s", st.GetState(), st.GetMessage())
		}
	}

	gone.stop()
	sdktest.Eventually(t, "the master to see gone disconnected", func() bool { return masterState(t, c, "t1") == "TASK_RUNNING:disconnected" })
	c.Advance(time.Hour + time.Second)
	sdktest.Eventually(t, "gone's task killed with it", func() bool { return strings.HasPrefix(masterState(t, c, "t1"), "TASK_KILLED") })
}

// masterState is a task's state at the master, and whether its framework
// is disconnected.
func masterState(t *testing.T, c *sdktest.Cluster, taskID string) string {
	t.Helper()
	tasks, err := c.Tasks(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, task := range tasks {
		if task.GetTaskId().GetValue() == taskID {
			st := task.GetState().String()
			if !connected(t, c, task.GetFrameworkId().GetValue()) {
				st += ":disconnected"
			}
			return st
		}
	}
	return ""
}

func connected(t *testing.T, c *sdktest.Cluster, frameworkID string) bool {
	t.Helper()
	resp, err := c.Operator(context.Background(), getFrameworks)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range resp.GetGetFrameworks().GetFrameworks() {
		if f.GetFrameworkInfo().GetId().GetValue() == frameworkID {
			return f.GetConnected()
		}
	}
	return false
}

// A dropped update is sent again until the framework acknowledges it: the
// same update (its uuid) arrives a second time.
func TestDroppedUpdateIsSentAgain(t *testing.T) {
	c := sdktest.Start(t, sdktest.Options{Isolation: "sim"})
	var dropped atomic.Int32
	c.DropUpdates(func(st *mesospb.TaskStatus) bool {
		return st.GetState() == mesospb.TaskState_TASK_RUNNING && dropped.Add(1) == 1
	})
	(&tester{tasks: map[string]string{"t1": "sleep 600"}, refuse: 3600}).run(t, c, partitionAware("lossy", 0))
	id := c.FrameworkID("lossy")
	sdktest.Eventually(t, "t1 running", isState(c, id, "t1", mesospb.TaskState_TASK_RUNNING))

	var lost []byte
	for _, e := range c.Events(id, schedulerpb.Event_UPDATE) {
		if e.Dropped {
			lost = e.Event.GetUpdate().GetStatus().GetUuid()
		}
	}
	if lost == nil {
		t.Fatal("no update was dropped")
	}
	sdktest.Eventually(t, "the dropped update delivered and acknowledged", func() bool {
		for _, a := range c.Acknowledged(id) {
			if bytes.Equal(a.UUID, lost) {
				return true
			}
		}
		return false
	})
}

// Delayed updates wait, whatever the master knows, until the delay is
// lifted.
func TestDelayedUpdatesWaitUntilReleased(t *testing.T) {
	c := sdktest.Start(t, sdktest.Options{Isolation: "sim"})
	c.DelayUpdates(time.Hour)
	(&tester{tasks: map[string]string{"t1": "sleep 600"}, refuse: 3600}).run(t, c, partitionAware("slow", 0))
	id := c.FrameworkID("slow")
	sdktest.Eventually(t, "the master to know t1 runs", func() bool { return masterState(t, c, "t1") == "TASK_RUNNING" })
	if got, ok := c.LastState(id, "t1"); ok {
		t.Fatalf("the framework heard %v of t1 while its updates were held", got)
	}
	c.DelayUpdates(0)
	sdktest.Eventually(t, "t1 running at the framework", isState(c, id, "t1", mesospb.TaskState_TASK_RUNNING))
}

// Rescinded offers are each announced to the framework holding them.
func TestRescindOffers(t *testing.T) {
	c := sdktest.Start(t, sdktest.Options{Agents: 2, Isolation: "sim"})
	(&tester{hold: true}).run(t, c, partitionAware("hoarder", 0))
	id := c.FrameworkID("hoarder")
	held := map[string]bool{}
	sdktest.Eventually(t, "offers from both agents", func() bool {
		for _, e := range c.Events(id, schedulerpb.Event_OFFERS) {
			for _, o := range e.Event.GetOffers().GetOffers() {
				held[o.GetId().GetValue()] = true
			}
		}
		return len(held) == 2
	})
	if err := c.RescindOffers(context.Background()); err != nil {
		t.Fatal(err)
	}
	sdktest.Eventually(t, "both offers rescinded", func() bool {
		n := 0
		for _, e := range c.Events(id, schedulerpb.Event_RESCIND) {
			if held[e.Event.GetRescind().GetOfferId().GetValue()] {
				n++
			}
		}
		return n == 2
	})
}

// A removed agent's tasks are gone, and the framework is told so.
func TestRemoveAgent(t *testing.T) {
	c := sdktest.Start(t, sdktest.Options{Agents: 2, Isolation: "sim"})
	(&tester{tasks: map[string]string{"t1": "sleep 600"}, refuse: 3600}).run(t, c, partitionAware("evicted", 0))
	id := c.FrameworkID("evicted")
	sdktest.Eventually(t, "t1 running", isState(c, id, "t1", mesospb.TaskState_TASK_RUNNING))
	if err := c.RemoveAgent(context.Background(), agentOf(t, c, id, "t1")); err != nil {
		t.Fatal(err)
	}
	sdktest.Eventually(t, "t1 gone", isState(c, id, "t1", mesospb.TaskState_TASK_GONE_BY_OPERATOR))
}

// The kit is for frameworks outside corral's module: it must not import
// corral's internal packages, which Go would refuse them.
func TestImportsNoInternalPackages(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		parsed, err := parser.ParseFile(token.NewFileSet(), f, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range parsed.Imports {
			if path, _ := strconv.Unquote(imp.Path.Value); strings.Contains(path, "/internal/") {
				t.Errorf("%s imports %s", f, path)
			}
		}
	}
}

func lastSeq(c *sdktest.Cluster) int {
	seq := 0
	for _, x := range c.Calls("") {
		seq = max(seq, x.Seq)
	}
	for _, e := range c.Events("") {
		seq = max(seq, e.Seq)
	}
	return seq
}

var getFrameworks = &masterpb.Call{Type: masterpb.Call_GET_FRAMEWORKS.Enum()}

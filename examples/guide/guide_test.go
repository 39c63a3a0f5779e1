package guide_test

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/corral-sched/corral/examples/guide"
	"github.com/corral-sched/corral/frameworks/sdk/sdktest"
	"github.com/corral-sched/corral/proto/mesospb"
	"github.com/corral-sched/corral/proto/schedulerpb"
	"github.com/corral-sched/corral/store"
)

// start runs the framework on the cluster in the background; wait returns
// what Run returned.
func start(t *testing.T, c *sdktest.Cluster, st store.Store, jobs map[string]string) (stop func(), wait func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	f, err := guide.New(ctx, guide.Config{Master: c.MasterAddr, Store: st, Jobs: jobs, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- f.Run(ctx) }()
	t.Cleanup(cancel)
	return cancel, func() error { return <-done }
}

func openStore(t *testing.T) store.Store {
	st, err := store.OpenLocal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// gated is a job that runs until the test creates its gate file.
func gated(t *testing.T) (cmd string, open func()) {
	gate := filepath.Join(t.TempDir(), "gate")
	return "while [ ! -e " + gate + " ]; do sleep 0.05; done", func() {
		if err := os.WriteFile(gate, nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// Every job runs until it succeeds once: a failing one again. Offers the
// framework cannot use are declined with a filter, it suppresses offers
// when idle, and it acknowledges every update it keeps.
func TestEveryJobSucceedsOnce(t *testing.T) {
	c := sdktest.Start(t, sdktest.Options{Agents: 2})
	tried := filepath.Join(t.TempDir(), "tried")
	_, wait := start(t, c, openStore(t), map[string]string{
		"hello": "echo hello",
		"flaky": "test -e " + tried + " || { touch " + tried + "; exit 1; }",
	})
	if err := wait(); err != nil {
		t.Fatal(err)
	}

	id := c.FrameworkID("guide")
	launched := map[string]int{}
	for _, task := range c.Launched(id) {
		launched[task.GetName()]++
	}
	if launched["hello"] != 1 || launched["flaky"] != 2 {
		t.Errorf("launched %v, want hello once and flaky twice", launched)
	}
	for _, d := range c.Declines(id) {
		if d.Refuse() < time.Minute {
			t.Errorf("an offer was declined for only %v", d.Refuse())
		}
	}
	if len(c.Calls(id, schedulerpb.Call_SUPPRESS)) == 0 {
		t.Error("the framework never suppressed offers")
	}
	// All but the last: the framework tears itself down on it.
	if unacked := c.Unacknowledged(id); len(unacked) > 1 {
		t.Errorf("%d updates were not acknowledged", len(unacked))
	}
}

// A restarted framework fails over to its framework ID and takes its
// running task back instead of launching the job again.
func TestARestartTakesItsTasksBack(t *testing.T) {
	c := sdktest.Start(t, sdktest.Options{})
	st := openStore(t)
	cmd, finish := gated(t)
	jobs := map[string]string{"long": cmd}
	stop, wait := start(t, c, st, jobs)
	id := ""
	sdktest.Eventually(t, "long running", func() bool {
		id = c.FrameworkID("guide")
		s, _ := c.LastState(id, "long.1")
		return s == mesospb.TaskState_TASK_RUNNING
	})
	stop()
	_ = wait() // the process is gone; its task runs on

	_, wait = start(t, c, st, jobs)
	sdktest.Eventually(t, "the restarted framework to subscribe", func() bool {
		return len(c.Calls(id, schedulerpb.Call_SUBSCRIBE)) == 2
	})
	finish()
	if err := wait(); err != nil {
		t.Fatal(err)
	}
	if n := len(c.Launched(id)); n != 1 {
		t.Fatalf("%d tasks launched, want the one, taken back after the restart", n)
	}
}

// A master failover and a partition of the task's agent: the framework
// waits for its task rather than starting it a second time.
func TestFailoverAndPartitionLaunchNothingTwice(t *testing.T) {
	c := sdktest.Start(t, sdktest.Options{})
	cmd, finish := gated(t)
	_, wait := start(t, c, openStore(t), map[string]string{"long": cmd})
	id := ""
	running := func() bool {
		id = c.FrameworkID("guide")
		s, _ := c.LastState(id, "long.1")
		return s == mesospb.TaskState_TASK_RUNNING
	}
	sdktest.Eventually(t, "long running", running)
	if err := c.FailOver(); err != nil {
		t.Fatal(err)
	}
	c.Partition(0)
	sdktest.Eventually(t, "long unreachable", func() bool {
		s, _ := c.LastState(id, "long.1")
		return s == mesospb.TaskState_TASK_UNREACHABLE
	})
	c.Heal(0)
	sdktest.Eventually(t, "long running again", running)
	finish()
	if err := wait(); err != nil {
		t.Fatal(err)
	}
	if n := len(c.Launched(id)); n != 1 {
		t.Fatalf("%d tasks launched, want 1", n)
	}
}

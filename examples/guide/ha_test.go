package guide_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/corral-sched/corral/election"
	"github.com/corral-sched/corral/examples/guide"
	"github.com/corral-sched/corral/frameworks/sdk/sdktest"
	"github.com/corral-sched/corral/internal/testkit/zktest"
)

// Two instances under real ZooKeeper: the one elected runs the job, found
// its master through ZooKeeper, and both return once the job is done.
func TestInstancesUnderZooKeeper(t *testing.T) {
	zk := zktest.Start(t)
	c := sdktest.Start(t, sdktest.Options{})
	log := slog.New(slog.DiscardHandler)
	session, err := election.Dial([]string{zk.Addr}, 10*time.Second, log)
	if err != nil {
		t.Fatal(err)
	}
	defer session.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// The kit's master leads under /corral, as masters run with --zk do.
	go func() {
		_ = election.Contend(ctx, session, "/corral", c.Master.Info(), func(ctx context.Context) { <-ctx.Done() })
	}()

	errs := make(chan error, 2)
	for _, instance := range []string{"one", "two"} {
		go func() {
			errs <- guide.RunHA(ctx, "zk://"+zk.Addr+"/corral", instance, map[string]string{"hello": "echo hello"}, log)
		}()
	}
	for range 2 {
		select {
		case err := <-errs:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(time.Minute):
			t.Fatal("the instances did not return within a minute")
		}
	}
	if n := len(c.Launched(c.FrameworkID("guide"))); n != 1 {
		t.Fatalf("%d tasks launched, want 1", n)
	}
}

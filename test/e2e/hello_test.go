package e2e

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/corral-sched/corral/examples/hello/hello"
	"github.com/corral-sched/corral/internal/testkit/testcluster"
)

func TestHelloRunsFiftyTasksAcrossThreeAgents(t *testing.T) {
	dir := t.TempDir()
	c := testcluster.Start(t, testcluster.Options{Agents: 3, WorkDir: dir})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	res, err := hello.Run(ctx, hello.Options{
		Master: c.MasterAddr, Tasks: 50, Command: "echo hello from $MESOS_TASK_ID",
		CPUs: 0.1, Mem: 32, Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatalf("hello: %v (finished %d)", err, res.Finished)
	}
	if res.Finished != 50 {
		t.Fatalf("finished %d tasks, want 50", res.Finished)
	}
	if len(res.Agents) < 2 {
		t.Fatalf("all tasks ran on %v; want them spread over the agents", res.Agents)
	}
	// Every task wrote to its own sandbox.
	outs, err := filepath.Glob(filepath.Join(dir, "agent-*", "agents", "*", "frameworks", "*", "executors", "hello-*", "runs", "latest", "stdout"))
	if err != nil {
		t.Fatal(err)
	}
	found := 0
	for _, p := range outs {
		b, err := os.ReadFile(p)
		if err == nil && strings.HasPrefix(string(b), "hello from hello-") {
			found++
		}
	}
	if found != 50 {
		t.Fatalf("found %d sandboxes with the task's output, want 50", found)
	}
}

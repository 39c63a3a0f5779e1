// Command batch measures the batch framework's throughput: a job of
// -completions `/bin/true` tasks with -parallelism on an in-process
// cluster shaped like `corral dev` (a master and three posix agents with
// cpus:4;mem:4096), the framework keeping its state in a local store.
//
// Run it with `go run ./test/bench/batch`.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"time"

	"github.com/corral-sched/corral/frameworks/batch"
	"github.com/corral-sched/corral/internal/testkit/testcluster"
	"github.com/corral-sched/corral/store"
)

func main() {
	completions := flag.Int("completions", 10000, "tasks the job must complete")
	parallelism := flag.Int("parallelism", 500, "tasks at once")
	flag.Parse()
	if err := run(*completions, *parallelism); err != nil {
		fmt.Fprintln(os.Stderr, "bench batch:", err)
		os.Exit(1)
	}
}

func run(completions, parallelism int) error {
	dir, err := os.MkdirTemp("", "corral-bench-batch-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	c, err := testcluster.New(testcluster.Options{Agents: 3, WorkDir: dir, AgentResources: "cpus:4;mem:4096;disk:20000"})
	if err != nil {
		return err
	}
	defer c.Close()
	st, err := store.OpenLocal(dir + "/batch")
	if err != nil {
		return err
	}
	defer st.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	f, err := batch.New(ctx, batch.Config{Master: c.MasterAddr, Store: st, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return err
	}
	done := make(chan error, 1)
	go func() { done <- f.Run(ctx) }()
	defer func() { cancel(); <-done }()

	job := batch.Job{ID: "bench", Cmd: "/bin/true", CPUs: 0.01, Mem: 8, Completions: completions, Parallelism: parallelism}
	start := time.Now()
	runID, err := f.Submit(job)
	if err != nil {
		return err
	}
	for {
		r, ok := f.RunStatus(runID)
		if !ok {
			return fmt.Errorf("run %s vanished", runID)
		}
		if r.Status != batch.Running {
			wall := time.Since(start)
			if r.Status != batch.Succeeded {
				return fmt.Errorf("run %s %s: %s", runID, r.Status, r.Reason)
			}
			fmt.Printf("corral batch throughput, %s, %d cores, %s\n\n", time.Now().Format("2006-01-02"), runtime.NumCPU(), runtime.Version())
			fmt.Printf("| job | wall time | tasks/s | failed attempts |\n|---|---|---|---|\n")
			fmt.Printf("| %d × `/bin/true`, parallelism %d, 3 posix agents | %.2f s | %.0f | %d |\n",
				completions, parallelism, wall.Seconds(), float64(r.Succeeded)/wall.Seconds(), r.FailedAttempts)
			return nil
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Command hello launches a number of shell tasks on a corral (or Mesos)
// cluster through the framework SDK and exits 0 once all have finished.
//
//	go run ./examples/hello --master 127.0.0.1:5050 --tasks 10
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/corral-sched/corral/examples/hello/hello"
)

func main() {
	var o hello.Options
	flag.StringVar(&o.Master, "master", "127.0.0.1:5050", "master host:port")
	flag.IntVar(&o.Tasks, "tasks", 10, "number of tasks to run")
	flag.StringVar(&o.Command, "cmd", "echo hello from $MESOS_TASK_ID", "shell command of each task")
	flag.Float64Var(&o.CPUs, "cpus", 0.1, "cpus per task")
	flag.Float64Var(&o.Mem, "mem", 32, "memory per task, MiB")
	flag.DurationVar(&o.Timeout, "timeout", 5*time.Minute, "give up after this long")
	flag.Parse()
	o.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))

	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()
	res, err := hello.Run(ctx, o)
	if err != nil {
		fmt.Fprintln(os.Stderr, "hello:", err)
		os.Exit(1)
	}
	fmt.Printf("hello: %d tasks finished on %d agents\n", res.Finished, len(res.Agents))
}

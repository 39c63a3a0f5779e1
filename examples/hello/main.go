// Command hello launches a number of shell tasks on a corral (or Mesos)
// cluster through the framework SDK and exits 0 once all have finished.
//
//	go run ./examples/hello --master 127.0.0.1:5050 --tasks 10
//	go run ./examples/hello --zk zk://127.0.0.1:2181/corral --tasks 10
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

	"github.com/corral-sched/corral/election"
	"github.com/corral-sched/corral/examples/hello/hello"
	"github.com/corral-sched/corral/store"
)

func main() {
	var o hello.Options
	flag.StringVar(&o.Master, "master", "127.0.0.1:5050", "master host:port")
	zkURL := flag.String("zk", "", "find the leading master in ZooKeeper (zk://host:port/path) instead of --master")
	flag.IntVar(&o.Tasks, "tasks", 10, "number of tasks to run")
	flag.StringVar(&o.Command, "cmd", "echo hello from $MESOS_TASK_ID", "shell command of each task")
	flag.Float64Var(&o.CPUs, "cpus", 0.1, "cpus per task")
	flag.Float64Var(&o.Mem, "mem", 32, "memory per task, MiB")
	flag.DurationVar(&o.Timeout, "timeout", 5*time.Minute, "give up after this long")
	flag.Parse()
	o.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	if err := run(o, *zkURL); err != nil {
		fmt.Fprintln(os.Stderr, "hello:", err)
		os.Exit(1)
	}
}

func run(o hello.Options, zkURL string) error {
	if zkURL != "" {
		servers, path, err := store.ParseZKURL(zkURL)
		if err != nil {
			return err
		}
		session, err := election.Dial(servers, 10*time.Second, o.Logger)
		if err != nil {
			return err
		}
		defer session.Close()
		o.Detector = election.NewDetector(session, path)
	}
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()
	res, err := hello.Run(ctx, o)
	if err != nil {
		return err
	}
	fmt.Printf("hello: %d tasks finished on %d agents\n", res.Finished, len(res.Agents))
	return nil
}

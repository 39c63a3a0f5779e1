// Command guide runs the job runner of docs/frameworks.md:
//
//	guide --master 127.0.0.1:5050 --state ./guide-state hello='echo hello' nap='sleep 5'
//
// runs each job until it succeeds once. With --zk (the masters' own
// ZooKeeper URL) it is one of several instances, its state in ZooKeeper.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/corral-sched/corral/examples/guide"
	"github.com/corral-sched/corral/store"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "guide:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string) error {
	flags := flag.NewFlagSet("guide", flag.ContinueOnError)
	master := flags.String("master", "127.0.0.1:5050", "a master's host:port")
	zk := flags.String("zk", "", "the masters' ZooKeeper, zk://host:port,.../path: run as one of several instances")
	stateDir := flags.String("state", "guide-state", "where the framework ID and the jobs' progress are kept (without --zk)")
	if err := flags.Parse(args); err != nil {
		return err
	}
	jobs := make(map[string]string)
	for _, arg := range flags.Args() {
		name, cmd, ok := strings.Cut(arg, "=")
		if !ok || cmd == "" {
			return fmt.Errorf("job %q: want name=command", arg)
		}
		jobs[name] = cmd
	}
	if len(jobs) == 0 {
		return errors.New("no jobs: give name=command arguments")
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	if *zk != "" {
		host, _ := os.Hostname()
		return guide.RunHA(ctx, *zk, fmt.Sprintf("%s-%d", host, os.Getpid()), jobs, log)
	}
	state, err := store.OpenLocal(*stateDir)
	if err != nil {
		return err
	}
	defer state.Close()
	f, err := guide.New(ctx, guide.Config{Master: *master, Store: state, Jobs: jobs, Logger: log})
	if err != nil {
		return err
	}
	return f.Run(ctx)
}

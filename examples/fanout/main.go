// Command fanout runs a command once per shard across a corral cluster,
// retrying failed shards, and prints every shard's output in shard order:
//
//	fanout --master 127.0.0.1:5050 --shards 8 --cmd 'echo "$SHARD squared is $((SHARD * SHARD))"'
//
// While it runs, its status page (--listen) shows each shard's progress.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/corral-sched/corral/examples/fanout/fanout"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "fanout:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	flags := flag.NewFlagSet("fanout", flag.ContinueOnError)
	flags.SetOutput(stderr)
	var cfg fanout.Config
	flags.StringVar(&cfg.Master, "master", "127.0.0.1:5050", "a master's host:port")
	flags.StringVar(&cfg.Command, "cmd", "", "the shell command each shard runs, with $SHARD and $SHARDS set")
	flags.IntVar(&cfg.Shards, "shards", 4, "how many shards")
	flags.Float64Var(&cfg.CPUs, "cpus", 0.1, "cpus per shard")
	flags.Float64Var(&cfg.Mem, "mem", 32, "memory per shard, MiB")
	flags.IntVar(&cfg.Retries, "retries", 2, "how many times a failed shard is tried again")
	listen := flags.String("listen", "127.0.0.1:8090", "address of the status page; empty for none")
	timeout := flags.Duration("timeout", time.Hour, "give up after this long")
	if err := flags.Parse(args); err != nil {
		return err
	}
	if flags.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q: the command goes in --cmd", flags.Args())
	}
	cfg.Logger = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	job, err := fanout.New(cfg)
	if err != nil {
		return err
	}
	if *listen != "" {
		ln, err := net.Listen("tcp", *listen)
		if err != nil {
			return fmt.Errorf("status page: %w", err)
		}
		srv := &http.Server{Handler: job.Handler(), ReadHeaderTimeout: 10 * time.Second}
		go func() { _ = srv.Serve(ln) }()
		defer srv.Close()
		fmt.Fprintf(stderr, "fanout: status at http://%s/\n", ln.Addr())
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	outputs, err := job.Run(ctx)
	if errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("not done within %v: %v", *timeout, job.Status().Counts)
	}
	if err != nil {
		return err
	}
	for _, out := range outputs {
		if _, err := io.WriteString(stdout, out); err != nil {
			return err
		}
	}
	return nil
}

package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/corral-sched/corral/internal/version"
)

// newRootCommand is corral-bench: load the control plane with simulated
// agents, which speak the real agent protocol but fork nothing (isolation
// "sim": a task "sleep N" runs N seconds, anything else until killed).
func newRootCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "corral-bench", Short: "Load a corral master with simulated agents and measure it",
		SilenceUsage: true, SilenceErrors: true}
	cmd.PersistentFlags().String("corral", "", "path of the corral binary that scale --master-process and failover run their masters with (default: corral next to this binary, else corral on $PATH)")
	agents := &cobra.Command{Use: "agents --count N --master HOST:PORT", Short: "Run N simulated agents in this process against a master",
		Args: cobra.NoArgs, RunE: runBenchAgents}
	agents.Flags().Int("count", 100, "simulated agents")
	agents.Flags().String("master", "127.0.0.1:5050", "host:port of a master")
	agents.Flags().String("resources", simResources, "each agent's resources")
	agents.Flags().String("work-dir", "", "where the agents keep their state (default: a temporary directory)")
	agents.Flags().Int("first", 0, "number of the first agent (hostname sim-N, port, source address), for agents spread over several processes")
	agents.Flags().String("connections", "auto", "own: each agent has its own HTTP/1.1 connections; shared: they multiplex over HTTP/2; auto: own if the file descriptor limit allows")
	agents.Flags().Bool("report", false, "print a JSON line per agent's first registration and whenever the number connected changes (what corral-bench scale reads from its agent processes)")
	agents.Flags().Bool("wait-for-stdin", false, "with --report: start the agents, then register them only once stdin closes (how corral-bench scale has every process's agents register together)")
	cmd.AddCommand(agents, newBenchScaleCommand())
	addBenchScenarios(cmd)
	cmd.AddCommand(&cobra.Command{Use: "version", Short: "Print the version", Args: cobra.NoArgs,
		Run: func(cmd *cobra.Command, _ []string) {
			fmt.Fprintln(cmd.OutOrStdout(), "corral-bench", version.String())
		}})
	return cmd
}

// corralBinary is the corral binary masters run as processes are started
// from: --corral, else corral next to this binary (bin/corral beside
// bin/corral-bench), else corral on $PATH.
func corralBinary(cmd *cobra.Command) (string, error) {
	if bin, _ := cmd.Flags().GetString("corral"); bin != "" {
		if _, err := os.Stat(bin); err != nil {
			return "", fmt.Errorf("--corral: %w", err)
		}
		return bin, nil
	}
	if self, err := os.Executable(); err == nil {
		next := filepath.Join(filepath.Dir(self), "corral")
		if fi, err := os.Stat(next); err == nil && !fi.IsDir() {
			return next, nil
		}
	}
	bin, err := exec.LookPath("corral")
	if err != nil {
		return "", fmt.Errorf("no corral binary next to this one or on $PATH (build it with make build, or name it with --corral): %w", err)
	}
	return bin, nil
}

func runBenchAgents(cmd *cobra.Command, _ []string) error {
	fl := cmd.Flags()
	count, _ := fl.GetInt("count")
	first, _ := fl.GetInt("first")
	if count < 1 || first < 0 {
		return errors.New("--count must be at least 1 and --first at least 0")
	}
	conns, _ := fl.GetString("connections")
	shared, err := sharedConnections(conns, count, false)
	if err != nil {
		return err
	}
	masterAddr, _ := fl.GetString("master")
	res, _ := fl.GetString("resources")
	dir, _ := fl.GetString("work-dir")
	if dir == "" {
		if dir, err = os.MkdirTemp("", "corral-sim-"); err != nil {
			return err
		}
		defer os.RemoveAll(dir)
	}
	ctx, cancel := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
	defer cancel()
	start := time.Now()
	if report, _ := fl.GetBool("report"); report {
		// Reports begin with the first agent: the last may start a
		// minute later on a loaded machine.
		agents := &localFleet{}
		if wait, _ := fl.GetBool("wait-for-stdin"); wait {
			agents.gate = newFleetGate(masterAddr)
			go func() {
				_, _ = io.Copy(io.Discard, cmd.InOrStdin())
				agents.gate.release()
			}()
		}
		defer agents.stop()
		reported := make(chan error, 1)
		rctx, stopReports := context.WithCancel(ctx)
		defer stopReports()
		go func() { reported <- agents.report(rctx, cmd.OutOrStdout(), 100*time.Millisecond) }()
		if err := agents.start(ctx, first, count, masterAddr, res, dir, shared, slog.New(slog.DiscardHandler)); err != nil {
			stopReports()
			<-reported
			return err
		}
		return <-reported
	}
	agents, err := simAgents(ctx, first, count, masterAddr, res, dir, shared, slog.New(slog.DiscardHandler))
	if err != nil {
		return err
	}
	defer agents.stop()
	for agents.connected() < count {
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(100 * time.Millisecond): // polling for registration
		}
	}
	fmt.Fprintf(cmd.OutOrStdout(), "%d simulated agents registered in %v; Ctrl-C stops them\n", count, time.Since(start).Round(time.Millisecond))
	<-ctx.Done()
	return nil
}

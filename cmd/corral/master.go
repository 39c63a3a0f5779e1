package main

import (
	"errors"
	"fmt"
	"os/signal"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/spf13/cobra"

	"github.com/corral-sched/corral/master"
)

func newMasterCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "master",
		Short: "Run a master",
		Long: "Run a master. Without --zk it is a standalone leader; frameworks subscribe at\n" +
			"/api/v1/scheduler and agents at /api/v1/agent.",
		Args: cobra.NoArgs,
		RunE: runMaster,
	}
	addCommonFlags(cmd)
	f := cmd.Flags()
	f.String("listen", "127.0.0.1:5050", "address to serve on")
	f.String("advertise", "", "address clients reach this master at (default: the listen address)")
	f.String("work-dir", "./.work/master", "directory for the master's local state")
	f.String("zk", "", "ZooKeeper URL (zk://host:port,.../path) for leader election")
	f.Duration("heartbeat-interval", master.DefaultHeartbeatInterval, "interval of HEARTBEAT events to frameworks")
	f.Duration("agent-ping-interval", master.DefaultAgentPingInterval, "interval of pings to agents")
	f.Duration("agent-ping-timeout", master.DefaultAgentPingTimeout, "silence after which an agent is unreachable")
	f.Duration("offer-timeout", 0, "rescind offers not used within this time (0: never)")
	f.Duration("allocation-interval", master.DefaultAllocationInterval, "period of full allocation rounds")
	return cmd
}

func masterConfig(s *settings) (master.Config, error) {
	cfg := master.Config{WorkDir: s.String("work-dir")}
	if s.String("zk") != "" {
		return cfg, errors.New("--zk: ZooKeeper leader election is not available in this build yet; run a standalone master")
	}
	var errs []error
	for name, dst := range map[string]*time.Duration{
		"heartbeat-interval":  &cfg.HeartbeatInterval,
		"agent-ping-interval": &cfg.AgentPingInterval,
		"agent-ping-timeout":  &cfg.AgentPingTimeout,
		"offer-timeout":       &cfg.OfferTimeout,
		"allocation-interval": &cfg.AllocationInterval,
	} {
		d, err := s.Duration(name)
		errs = append(errs, err)
		*dst = d
	}
	return cfg, errors.Join(errs...)
}

func runMaster(cmd *cobra.Command, _ []string) error {
	s, err := loadSettings(cmd)
	if err != nil {
		return err
	}
	log, err := logger(s)
	if err != nil {
		return err
	}
	cfg, err := masterConfig(s)
	if err != nil {
		return err
	}
	ln, err := listen(s.String("listen"))
	if err != nil {
		return err
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	cfg.Addr, cfg.Registerer, cfg.Logger = advertised(s.String("advertise"), ln), reg, log
	m, err := master.New(cfg)
	if err != nil {
		ln.Close()
		return err
	}
	ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	srv := serveHTTP(ln, m.Handler(), log)
	fmt.Fprintf(cmd.OutOrStdout(), "corral master %s listening on http://%s\n", m.ID(), cfg.Addr)
	err = m.Run(ctx)
	srv.shutdown()
	return err
}

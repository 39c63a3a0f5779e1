package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/spf13/cobra"

	"github.com/corral-sched/corral/master"
	"github.com/corral-sched/corral/master/ha"
	"github.com/corral-sched/corral/store"
)

func newMasterCommand() *cobra.Command {
	cmd, f := newServerCommand("master", "Run a master",
		"Run a master. Without --zk it is a standalone leader; frameworks subscribe at\n"+
			"/api/v1/scheduler and agents at /api/v1/agent.", runMaster)
	f.String("listen", "127.0.0.1:5050", "address to serve on")
	f.String("advertise", "", "address clients reach this master at (default: the listen address)")
	f.String("work-dir", "./.work/master", "directory for the master's local state")
	f.String("zk", "", "ZooKeeper URL (zk://host:port,.../path) for leader election; standalone leader without it")
	f.Duration("zk-session-timeout", 10*time.Second, "ZooKeeper session timeout; a leader that loses its session steps down")
	f.Duration("heartbeat-interval", master.DefaultHeartbeatInterval, "interval of HEARTBEAT events to frameworks")
	f.Duration("agent-ping-timeout", master.DefaultAgentPingTimeout, "period of pings to agents, and how long a pong may take")
	f.Int("max-agent-ping-timeouts", master.DefaultMaxAgentPingTimeouts, "missed pings in a row after which an agent is unreachable")
	f.Duration("agent-reregister-timeout", master.DefaultAgentReregisterTimeout, "time agents known from the registry have to re-register with a new leader")
	f.Int("max-completed-frameworks", master.DefaultMaxCompletedFrameworks, "removed frameworks remembered, newest first: in the registry (older removed IDs stay refused as unknown) and, with their finished tasks, in the leader's history (completed_frameworks)")
	f.Int("max-completed-tasks-per-framework", master.DefaultMaxCompletedTasksPerFramework, "finished tasks the leader remembers per framework (completed_tasks, the web UI, corral tasks --all), oldest dropped first")
	f.Int("max-unreachable-tasks-per-framework", master.DefaultMaxUnreachableTasksPerFramework, "tasks on unreachable agents kept per framework for the operator API, oldest dropped first")
	f.Duration("offer-timeout", master.DefaultOfferTimeout, "rescind offers neither accepted nor declined within this time, as if declined (0: never, and a framework that stops answering holds what it was offered for good)")
	f.Int("max-frameworks-per-principal", master.DefaultMaxFrameworksPerPrincipal, "most frameworks one principal may have subscribed (connected or within their failover timeout); further new ones get 403 (0: no limit)")
	f.Duration("allocation-interval", master.DefaultAllocationInterval, "period of full allocation rounds")
	f.String("min-allocatable-resources", "cpus:0.01|mem:32", `smallest bundles worth offering: "|"-separated alternatives of ";"-separated quantities`)
	f.String("fair-sharing-excluded-resource-names", "gpus", "comma-separated resources left out of DRF shares")
	f.String("role-sorter", "drf", "order of roles: drf or random")
	f.String("credentials", "", `credentials file in Mesos' JSON format ({"credentials":[{"principal":"…","secret":"…"}]})`)
	f.Bool("authenticate-frameworks", false, "require frameworks to authenticate (HTTP Basic, principals from --credentials)")
	f.Bool("authenticate-agents", false, "require agents to authenticate")
	f.Bool("authenticate-http", false, "require operators (operator API, /metrics, web UI) to authenticate")
	f.String("acls", "", "ACL file in Mesos' JSON format: what each principal may do (register_frameworks, run_tasks, teardown_frameworks, view_*...)")
	f.String("rate-limits", "", `per-principal rate limits in Mesos' JSON format ({"limits":[{"principal":"…","qps":…}],"aggregate_default_qps":…})`)
	addTLSFlags(f)
	f.String("framework-sorter", "drf", "order of frameworks within a role: drf or random")
	return cmd
}

func runMaster(cmd *cobra.Command, s *settings, log *slog.Logger, level *slog.LevelVar) error {
	cfg, err := masterConfig(s)
	if err != nil {
		return err
	}
	cfg.LogLevel = level
	if cfg.Now, err = faultClock(log); err != nil {
		return err
	}
	if list := cfg.ACLs.Unenforced(); len(list) > 0 {
		log.Warn("the ACL file sets actions for features corral does not have; they are ignored", "actions", list)
	}
	if cfg.OfferTimeout == master.NoOfferTimeout {
		log.Warn("--offer-timeout 0: offers are never rescinded, so a framework that stops answering holds what it was offered for good")
	}
	ln, scheme, err := secureListen(s.String("listen"), tlsFiles(s.String))
	if err != nil {
		return err
	}
	defer ln.Close() // on the way out early; serving closes it otherwise
	reg := serverRegistry()
	cfg.Addr, cfg.Registerer, cfg.Logger = advertised(s.String("advertise"), ln), reg, log
	ctx, stop := untilSignalled(cmd)
	defer stop()
	if s.String("zk") != "" {
		zk, err := dialZK(s, log, true)
		if err != nil {
			return err
		}
		defer zk.Close()
		return runHAMaster(ctx, cmd, cfg, ln, zk)
	}
	registry, err := store.OpenLocal(cfg.WorkDir)
	if err != nil {
		return fmt.Errorf("opening the registry in --work-dir: %w", err)
	}
	defer registry.Close()
	cfg.Store = registry
	m, err := master.New(cfg)
	if err != nil {
		return err
	}
	return serveWhileRunning(ctx, ln, m, log, cmd.OutOrStdout(), fmt.Sprintf("corral master %s listening on %s://%s", m.ID(), scheme, cfg.Addr))
}

// runHAMaster runs a master that contends for leadership in ZooKeeper and
// redirects to the leader while it is a standby.
func runHAMaster(ctx context.Context, cmd *cobra.Command, cfg master.Config, ln net.Listener, zk *zkSession) error {
	registry, err := store.DialZooKeeper(zk.url.Servers, zk.url.Root, zk.url.Credentials, zk.timeout, cfg.Logger)
	if err != nil {
		return err
	}
	defer registry.Close()
	cfg.Store = registry
	cfg.Registerer = nil // each term registers its own metrics
	return serveWhileRunning(ctx, ln, ha.New(cfg, zk.Session, zk.url.Root), cfg.Logger, cmd.OutOrStdout(),
		fmt.Sprintf("corral master listening on %s, contending for leadership at %s", cfg.Addr, zk.redacted))
}

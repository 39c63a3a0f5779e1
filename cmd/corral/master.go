package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/corral-sched/corral/auth"
	"github.com/corral-sched/corral/auth/acl"
	"github.com/corral-sched/corral/election"
	"github.com/corral-sched/corral/master"
	"github.com/corral-sched/corral/master/ha"
	"github.com/corral-sched/corral/resources"
	"github.com/corral-sched/corral/store"
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

func masterConfig(s *settings) (master.Config, error) {
	cfg := master.Config{WorkDir: s.String("work-dir"), MaxAgentPingTimeouts: s.Int("max-agent-ping-timeouts"),
		MaxCompletedFrameworks: s.Int("max-completed-frameworks"), MaxUnreachableTasksPerFramework: s.Int("max-unreachable-tasks-per-framework"),
		MaxCompletedTasksPerFramework: s.Int("max-completed-tasks-per-framework")}
	var errs []error
	// The master reads 0 as "the default"; a 0 given on purpose must not
	// silently become 50.
	for _, name := range []string{"max-completed-frameworks", "max-unreachable-tasks-per-framework", "max-completed-tasks-per-framework"} {
		if s.Int(name) < 1 {
			errs = append(errs, fmt.Errorf("--%s must be at least 1, got %d", name, s.Int(name)))
		}
	}
	for name, dst := range map[string]*time.Duration{
		"heartbeat-interval":       &cfg.HeartbeatInterval,
		"agent-ping-timeout":       &cfg.AgentPingTimeout,
		"offer-timeout":            &cfg.OfferTimeout,
		"agent-reregister-timeout": &cfg.AgentReregisterTimeout,
		"allocation-interval":      &cfg.AllocationInterval,
	} {
		d, err := s.Duration(name)
		errs = append(errs, err)
		*dst = d
	}
	// The flags say 0 for "never" and "no limit", as operators write it;
	// the master's Config keeps 0 for "the default".
	if cfg.OfferTimeout == 0 {
		cfg.OfferTimeout = master.NoOfferTimeout
	}
	switch n := s.Int("max-frameworks-per-principal"); {
	case n < 0:
		errs = append(errs, fmt.Errorf("--max-frameworks-per-principal must not be negative, got %d", n))
	case n == 0:
		cfg.MaxFrameworksPerPrincipal = master.Unlimited
	default:
		cfg.MaxFrameworksPerPrincipal = n
	}
	minimum, err := parseMinAllocatable(s.String("min-allocatable-resources"))
	errs = append(errs, err)
	cfg.MinAllocatable = minimum
	cfg.FairShareExcluded = []string{}
	for _, name := range strings.Split(s.String("fair-sharing-excluded-resource-names"), ",") {
		if name = strings.TrimSpace(name); name != "" {
			cfg.FairShareExcluded = append(cfg.FairShareExcluded, name)
		}
	}
	cfg.RoleSorter, cfg.FrameworkSorter = s.String("role-sorter"), s.String("framework-sorter")
	cfg.AuthenticateFrameworks, cfg.AuthenticateAgents = s.Bool("authenticate-frameworks"), s.Bool("authenticate-agents")
	cfg.AuthenticateHTTP = s.Bool("authenticate-http")
	cfg.Flags = flagValues(s)
	if path := s.String("credentials"); path != "" {
		creds, err := auth.LoadCredentials(path)
		errs = append(errs, err)
		cfg.Credentials = creds
	}
	if path := s.String("acls"); path != "" {
		acls, err := acl.Load(path)
		errs = append(errs, err)
		cfg.ACLs = acls
	}
	if path := s.String("rate-limits"); path != "" {
		rl, err := master.LoadRateLimits(path)
		errs = append(errs, err)
		cfg.RateLimits = rl
	}
	return cfg, errors.Join(errs...)
}

// flagValues are a server's settings as GET_FLAGS reports them: every
// flag with its effective value (flag, environment, file or default), and
// no secrets (the master redacts by name too; the ZooKeeper URL's
// password is cut here).
func flagValues(s *settings) map[string]string {
	out := make(map[string]string)
	for _, key := range s.v.AllKeys() {
		out[key] = s.String(key)
	}
	if zk := out["zk"]; zk != "" {
		out["zk"] = store.RedactZKURL(zk)
	}
	return out
}

// parseMinAllocatable reads Mesos' --min_allocatable_resources syntax:
// "cpus:0.01|mem:32" means at least 0.01 cpus or at least 32 MiB.
func parseMinAllocatable(text string) ([]map[string]float64, error) {
	var out []map[string]float64
	for _, alt := range strings.Split(text, "|") {
		if strings.TrimSpace(alt) == "" {
			continue
		}
		r, err := resources.Parse(alt, "*")
		if err != nil {
			return nil, fmt.Errorf("--min-allocatable-resources: %q: %w", alt, err)
		}
		out = append(out, r.Quantities())
	}
	if len(out) == 0 {
		return nil, errors.New("--min-allocatable-resources: at least one bundle is needed")
	}
	return out, nil
}

func runMaster(cmd *cobra.Command, _ []string) error {
	s, err := loadSettings(cmd)
	if err != nil {
		return err
	}
	log, level, err := leveledLogger(s)
	if err != nil {
		return err
	}
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
	reg := serverRegistry()
	cfg.Addr, cfg.Registerer, cfg.Logger = advertised(s.String("advertise"), ln), reg, log
	ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if zkURL := s.String("zk"); zkURL != "" {
		timeout, err := s.Duration("zk-session-timeout")
		if err != nil {
			ln.Close()
			return err
		}
		return runHAMaster(ctx, cmd, cfg, ln, zkURL, timeout)
	}
	registry, err := store.OpenLocal(cfg.WorkDir)
	if err != nil {
		ln.Close()
		return fmt.Errorf("opening the registry in --work-dir: %w", err)
	}
	defer registry.Close()
	cfg.Store = registry
	m, err := master.New(cfg)
	if err != nil {
		ln.Close()
		return err
	}
	srv := serveHTTP(ln, m.Handler(), log)
	fmt.Fprintf(cmd.OutOrStdout(), "corral master %s listening on %s://%s\n", m.ID(), scheme, cfg.Addr)
	err = m.Run(ctx)
	srv.shutdown()
	return err
}

// runHAMaster runs a master that contends for leadership in ZooKeeper and
// redirects to the leader while it is a standby.
func runHAMaster(ctx context.Context, cmd *cobra.Command, cfg master.Config, ln net.Listener, zkURL string, timeout time.Duration) error {
	zu, err := store.ParseZKURLAuth(zkURL)
	if err != nil {
		ln.Close()
		return fmt.Errorf("--zk: %w", err)
	}
	servers, path := zu.Servers, zu.Root
	session, err := election.DialAuth(servers, timeout, zu.Credentials, cfg.Logger)
	if err != nil {
		ln.Close()
		return err
	}
	defer session.Close()
	registry, err := store.DialZooKeeper(servers, path, zu.Credentials, timeout, cfg.Logger)
	if err != nil {
		ln.Close()
		return err
	}
	defer registry.Close()
	cfg.Store = registry
	cfg.Registerer = nil // each term registers its own metrics
	h := ha.New(cfg, session, path)
	srv := serveHTTP(ln, h.Handler(), cfg.Logger)
	fmt.Fprintf(cmd.OutOrStdout(), "corral master listening on %s, contending for leadership at %s\n", cfg.Addr, store.RedactZKURL(zkURL))
	err = h.Run(ctx)
	srv.shutdown()
	return err
}

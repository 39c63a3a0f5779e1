package main

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/corral-sched/corral/auth"
	"github.com/corral-sched/corral/auth/acl"
	"github.com/corral-sched/corral/master"
	"github.com/corral-sched/corral/resources"
	"github.com/corral-sched/corral/store"
)

// masterConfig reads the master's flags into its Config.
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
	// Not nil even when empty: nil would be the master's default (gpus).
	cfg.FairShareExcluded = append([]string{}, splitList(s.String("fair-sharing-excluded-resource-names"))...)
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

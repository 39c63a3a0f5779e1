package master

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/corral-sched/corral/auth"
	"github.com/corral-sched/corral/auth/acl"
	"github.com/corral-sched/corral/store"
)

// Config holds what a master needs to run. The zero value of every duration
// means "use the default".
type Config struct {
	// Addr is the host:port clients reach this master at. It goes into
	// MasterInfo and into the Location of redirects.
	Addr string
	// ID is the master's unique ID (MasterInfo.id); empty picks a new one.
	// A master process that leads several times keeps one ID.
	ID string
	// WorkDir is where a standalone master keeps its local state.
	WorkDir string

	// HeartbeatInterval is how often subscribed frameworks get a HEARTBEAT
	// (Mesos: 15 s).
	HeartbeatInterval time.Duration
	// AgentPingTimeout is both the period of pings to agents and how long
	// a pong may take before the ping counts as missed (Mesos'
	// agent_ping_timeout).
	AgentPingTimeout time.Duration
	// MaxAgentPingTimeouts is how many pings in a row an agent may miss
	// (no pong, no call, no stream) before it is unreachable.
	MaxAgentPingTimeouts int
	// AgentReregisterTimeout is how long agents known from the registry
	// have to re-register with a new leader before they are unreachable.
	AgentReregisterTimeout time.Duration
	// OfferTimeout rescinds offers that were neither accepted nor declined
	// within it; 0 keeps offers until they are used.
	OfferTimeout time.Duration
	// MinAllocatable lists the smallest bundles worth offering (Mesos'
	// --min_allocatable_resources); nil means cpus 0.01 or mem 32.
	MinAllocatable []map[string]float64
	// FairShareExcluded names resources left out of DRF shares; nil means
	// gpus.
	FairShareExcluded []string
	// RoleSorter and FrameworkSorter pick the order of roles and of
	// frameworks within a role: "drf" (default) or "random".
	RoleSorter, FrameworkSorter string

	// AllocationInterval is the period of full allocation rounds, which
	// pick up expired filters. Changes that free resources trigger a round
	// at once.
	AllocationInterval time.Duration

	// Store keeps the registry (admitted agents, frameworks and their
	// failover deadlines, removed frameworks); nil keeps nothing, so a
	// restarted master starts from what agents and frameworks tell it.
	Store store.Store

	// Credentials and the Authenticate switches require HTTP Basic
	// credentials from frameworks (the scheduler API), agents (their
	// protocol) and operators (the operator API, /metrics and the web UI).
	// /health stays open for liveness probes.
	Credentials            auth.Credentials
	AuthenticateFrameworks bool
	AuthenticateAgents     bool
	AuthenticateHTTP       bool

	// ACLs authorize what principals may do (Mesos' --acls); nil allows
	// everything.
	ACLs *acl.ACLs
	// RateLimits bound each principal's calls to the scheduler and
	// operator APIs (Mesos' --rate_limits); nil bounds nothing.
	RateLimits *RateLimits

	// Flags are the settings the master was started with, as GET_FLAGS
	// reports them (secrets left out by whoever fills it in).
	Flags map[string]string

	// Registerer receives the master's metrics; nil uses a private registry.
	Registerer prometheus.Registerer
	Logger     *slog.Logger

	// Now is the clock; nil means time.Now. Tests replace it.
	Now func() time.Time
}

// Defaults, chosen to match Mesos where Mesos has an equivalent.
const (
	DefaultHeartbeatInterval    = 15 * time.Second
	DefaultAgentPingTimeout     = 15 * time.Second
	DefaultMaxAgentPingTimeouts = 5
	DefaultAllocationInterval   = time.Second
	// DefaultAgentReregisterTimeout matches Mesos' agent_reregister_timeout.
	DefaultAgentReregisterTimeout = 10 * time.Minute
	// DefaultRefuseSeconds applies when a decline carries no filter.
	DefaultRefuseSeconds = 5.0
	// maxRefuseSeconds caps refuse_seconds at a year, as Mesos does.
	maxRefuseSeconds = 365 * 24 * 60 * 60
)

// agentSilenceLimit is how long an agent may be silent before it is
// unreachable.
func (c *Config) agentSilenceLimit() time.Duration {
	return c.AgentPingTimeout * time.Duration(c.MaxAgentPingTimeouts)
}

func (c *Config) setDefaults() error {
	if c.Addr == "" {
		return errors.New("master: config: Addr (host:port) is required")
	}
	host, port, err := net.SplitHostPort(c.Addr)
	if err != nil {
		return fmt.Errorf("master: config: Addr %q: %w", c.Addr, err)
	}
	if host == "" {
		return fmt.Errorf("master: config: Addr %q has no host", c.Addr)
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		return fmt.Errorf("master: config: Addr %q: bad port: %w", c.Addr, err)
	}
	durations := []struct {
		name string
		v    *time.Duration
		def  time.Duration
	}{
		{"HeartbeatInterval", &c.HeartbeatInterval, DefaultHeartbeatInterval},
		{"AgentPingTimeout", &c.AgentPingTimeout, DefaultAgentPingTimeout},
		{"AllocationInterval", &c.AllocationInterval, DefaultAllocationInterval},
		{"AgentReregisterTimeout", &c.AgentReregisterTimeout, DefaultAgentReregisterTimeout},
	}
	for _, d := range durations {
		if *d.v < 0 {
			return fmt.Errorf("master: config: %s must not be negative, got %v", d.name, *d.v)
		}
		if *d.v == 0 {
			*d.v = d.def
		}
	}
	if (c.AuthenticateFrameworks || c.AuthenticateAgents || c.AuthenticateHTTP) && len(c.Credentials) == 0 {
		return errors.New("master: config: authentication is on but no credentials are configured (--credentials FILE)")
	}
	if c.OfferTimeout < 0 {
		return fmt.Errorf("master: config: OfferTimeout must not be negative, got %v", c.OfferTimeout)
	}
	switch {
	case c.MaxAgentPingTimeouts < 0:
		return fmt.Errorf("master: config: MaxAgentPingTimeouts must not be negative, got %d", c.MaxAgentPingTimeouts)
	case c.MaxAgentPingTimeouts == 0:
		c.MaxAgentPingTimeouts = DefaultMaxAgentPingTimeouts
	}
	for _, sorter := range []string{c.RoleSorter, c.FrameworkSorter} {
		if sorter != "" && sorter != "drf" && sorter != "random" {
			return fmt.Errorf("master: config: sorter %q is not drf or random", sorter)
		}
	}
	for _, bundle := range c.MinAllocatable {
		for name, v := range bundle {
			if v < 0 || math.IsNaN(v) || math.IsInf(v, 0) {
				return fmt.Errorf("master: config: minimum allocatable %s must be a non-negative number", name)
			}
		}
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return nil
}

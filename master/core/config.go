package core

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
	"github.com/corral-sched/corral/master/ratelimit"
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
	// within it, as if declined with the default filter, so that a
	// framework that stops answering cannot hold an agent's resources
	// forever; 0 means DefaultOfferTimeout, NoOfferTimeout keeps offers
	// until they are used.
	OfferTimeout time.Duration
	// MaxFrameworksPerPrincipal bounds the frameworks one principal may
	// have subscribed at once, connected or waiting out their failover
	// timeout, so that one principal cannot crowd the others out of
	// offers and the registry; 0 means DefaultMaxFrameworksPerPrincipal,
	// Unlimited removes the bound. Frameworks without a principal share
	// the bound of principal "".
	MaxFrameworksPerPrincipal int
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
	// LeaderKey, if set, is this master's election znode as a key of
	// Store: every registry write also requires it to exist, so a master
	// whose ZooKeeper session ended writes nothing more, even before a
	// successor has taken the fence.
	LeaderKey string

	// MaxCompletedFrameworks bounds how many removed frameworks the master
	// remembers, in memory and in the registry, newest first (Mesos'
	// --max_completed_frameworks); 0 means DefaultMaxCompletedFrameworks.
	// With a Store, older removed IDs are still refused: see
	// refusedFrameworkID.
	// The same bound keeps that many removed frameworks, with their
	// finished tasks, in the leader's history (history.go).
	MaxCompletedFrameworks int
	// MaxCompletedTasksPerFramework bounds the finished tasks the leader
	// remembers per framework, oldest dropped first (Mesos'
	// --max_completed_tasks_per_framework); 0 means the default.
	MaxCompletedTasksPerFramework int
	// MaxUnreachableTasksPerFramework bounds the tasks on unreachable
	// agents the master keeps per framework, oldest dropped first (Mesos'
	// --max_unreachable_tasks_per_framework); 0 means the default.
	MaxUnreachableTasksPerFramework int

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
	RateLimits *ratelimit.Limits

	// Flags are the settings the master was started with, as GET_FLAGS
	// reports them (secrets left out by whoever fills it in).
	Flags map[string]string

	// Registerer receives the master's metrics; nil uses a private registry.
	Registerer prometheus.Registerer
	Logger     *slog.Logger
	// LogLevel is the level of Logger's handler, which SET_LOGGING_LEVEL
	// changes for a while; nil: the logging calls answer 501.
	LogLevel *slog.LevelVar

	// Now is the clock; nil means time.Now. Tests replace it.
	Now func() time.Time
	// AfterFunc runs f once d has passed on the master's clock: offer
	// timeouts and framework failover timeouts. nil means time.AfterFunc.
	// A test that replaces Now replaces it too, so that advancing its
	// clock expires them (frameworks/sdk/sdktest does).
	AfterFunc func(d time.Duration, f func()) Timer
	// AgentClock is the clock agent liveness (time since an agent last
	// spoke) is measured on; nil means Now. A test that jumps Now forward
	// to expire filters and timeouts sets it to time.Now: pings travel in
	// real time, and the jump must not make every agent look silent.
	AgentClock func() time.Time
}

// Timer is a pending AfterFunc; *time.Timer is one.
type Timer interface{ Stop() bool }

// Defaults, chosen to match Mesos where Mesos has an equivalent.
const (
	DefaultHeartbeatInterval    = 15 * time.Second
	DefaultAgentPingTimeout     = 15 * time.Second
	DefaultMaxAgentPingTimeouts = 5
	DefaultAllocationInterval   = time.Second
	// DefaultAgentReregisterTimeout matches Mesos' agent_reregister_timeout.
	DefaultAgentReregisterTimeout = 10 * time.Minute
	// DefaultOfferTimeout: Mesos has no default (offers never time out);
	// operators commonly set 30 s to 5 min. A minute is far beyond the
	// time any framework needs to match an offer (the bundled ones answer
	// within a few milliseconds), yet bounds what a framework that stops
	// answering holds.
	DefaultOfferTimeout = time.Minute
	// NoOfferTimeout, as Config.OfferTimeout, keeps offers until used.
	NoOfferTimeout time.Duration = -1
	// DefaultMaxFrameworksPerPrincipal is far beyond what one team's
	// schedulers need, and far below what starves a cluster: offers go
	// framework by framework, and each framework is a registry entry.
	DefaultMaxFrameworksPerPrincipal = 100
	// Unlimited, as Config.MaxFrameworksPerPrincipal, removes the bound.
	Unlimited = -1
	// DefaultRefuseSeconds applies when a decline carries no filter.
	DefaultRefuseSeconds = 5.0
	// maxRefuseSeconds caps refuse_seconds at a year, as Mesos does.
	maxRefuseSeconds = 365 * 24 * 60 * 60
	// DefaultMaxCompletedFrameworks and
	// DefaultMaxUnreachableTasksPerFramework are Mesos' defaults.
	DefaultMaxCompletedFrameworks          = 50
	DefaultMaxCompletedTasksPerFramework   = 1000
	DefaultMaxUnreachableTasksPerFramework = 1000
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
	switch {
	case c.OfferTimeout == 0:
		c.OfferTimeout = DefaultOfferTimeout
	case c.OfferTimeout < 0 && c.OfferTimeout != NoOfferTimeout:
		return fmt.Errorf("master: config: OfferTimeout must be positive, 0 (the default) or NoOfferTimeout, got %v", c.OfferTimeout)
	}
	switch {
	case c.MaxFrameworksPerPrincipal == 0:
		c.MaxFrameworksPerPrincipal = DefaultMaxFrameworksPerPrincipal
	case c.MaxFrameworksPerPrincipal < 0 && c.MaxFrameworksPerPrincipal != Unlimited:
		return fmt.Errorf("master: config: MaxFrameworksPerPrincipal must be positive, 0 (the default) or Unlimited, got %d", c.MaxFrameworksPerPrincipal)
	}
	switch {
	case c.MaxAgentPingTimeouts < 0:
		return fmt.Errorf("master: config: MaxAgentPingTimeouts must not be negative, got %d", c.MaxAgentPingTimeouts)
	case c.MaxAgentPingTimeouts == 0:
		c.MaxAgentPingTimeouts = DefaultMaxAgentPingTimeouts
	}
	bounds := []struct {
		name string
		v    *int
		def  int
	}{
		{"MaxCompletedFrameworks", &c.MaxCompletedFrameworks, DefaultMaxCompletedFrameworks},
		{"MaxCompletedTasksPerFramework", &c.MaxCompletedTasksPerFramework, DefaultMaxCompletedTasksPerFramework},
		{"MaxUnreachableTasksPerFramework", &c.MaxUnreachableTasksPerFramework, DefaultMaxUnreachableTasksPerFramework},
	}
	for _, b := range bounds {
		if *b.v < 0 {
			return fmt.Errorf("master: config: %s must not be negative, got %d", b.name, *b.v)
		}
		if *b.v == 0 {
			*b.v = b.def
		}
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
	if c.AgentClock == nil {
		c.AgentClock = c.Now
	}
	if c.AfterFunc == nil {
		c.AfterFunc = func(d time.Duration, f func()) Timer { return time.AfterFunc(d, f) }
	}
	return nil
}

package master

import (
	"github.com/corral-sched/corral/master/core"
	"github.com/corral-sched/corral/master/ratelimit"
)

// Config holds what a master needs to run; see core.Config. The zero value
// of every duration means "use the default".
type Config = core.Config

// Timer is a pending Config.AfterFunc; *time.Timer is one.
type Timer = core.Timer

// RateLimits bound each principal's calls (Mesos' --rate_limits).
type RateLimits = ratelimit.Limits

// Defaults, chosen to match Mesos where Mesos has an equivalent (see core).
const (
	DefaultHeartbeatInterval               = core.DefaultHeartbeatInterval
	DefaultAgentPingTimeout                = core.DefaultAgentPingTimeout
	DefaultMaxAgentPingTimeouts            = core.DefaultMaxAgentPingTimeouts
	DefaultAllocationInterval              = core.DefaultAllocationInterval
	DefaultAgentReregisterTimeout          = core.DefaultAgentReregisterTimeout
	DefaultOfferTimeout                    = core.DefaultOfferTimeout
	NoOfferTimeout                         = core.NoOfferTimeout
	DefaultMaxFrameworksPerPrincipal       = core.DefaultMaxFrameworksPerPrincipal
	Unlimited                              = core.Unlimited
	DefaultRefuseSeconds                   = core.DefaultRefuseSeconds
	DefaultMaxCompletedFrameworks          = core.DefaultMaxCompletedFrameworks
	DefaultMaxCompletedTasksPerFramework   = core.DefaultMaxCompletedTasksPerFramework
	DefaultMaxUnreachableTasksPerFramework = core.DefaultMaxUnreachableTasksPerFramework
)

// FenceKey is the registry key the leading master holds (see core.FenceKey).
const FenceKey = core.FenceKey

// LoadRateLimits reads a rate limits file in Mesos' JSON shape.
func LoadRateLimits(path string) (*RateLimits, error) { return ratelimit.Load(path) }

// ParseRateLimits reads rate limits in Mesos' JSON shape.
func ParseRateLimits(b []byte) (*RateLimits, error) { return ratelimit.Parse(b) }

// Package allocator decides which framework is offered which agent's
// resources. It is pure and deterministic: Allocate takes a Snapshot of the
// cluster (agents, frameworks, weights and the time) and returns the offers
// to make and, for every framework and role that got nothing, why. It reads
// no clock, starts no goroutine and does no I/O; the master's loop builds
// the snapshot and carries out the result.
//
// The policy is Mesos' hierarchical DRF, in its first form: for each agent,
// roles are visited in increasing weighted dominant share, and within a role
// frameworks in increasing dominant share; the first framework that wants
// the agent (not suppressed, not filtered) is offered everything the agent
// has that its role may use. Shares are updated after every offer, so one
// round already spreads a cluster fairly.
package allocator

import (
	"slices"
	"strings"
	"time"

	"github.com/corral-sched/corral/proto/mesospb"
	"github.com/corral-sched/corral/resources"
)

// Agent is an agent as the allocator sees it.
type Agent struct {
	ID, Hostname string
	Total        resources.Resources // everything the agent has
	Available    resources.Resources // neither used by tasks nor offered, without allocation_info
	Attributes   []*mesospb.Attribute
}

// Framework is a connected framework as the allocator sees it.
type Framework struct {
	ID           string
	Roles        []string
	Suppressed   map[string]bool                // roles it does not want offers for
	Allocated    map[string]resources.Resources // per role: tasks and outstanding offers
	Filters      []Filter
	Capabilities Capabilities
}

// Capabilities are the framework capabilities the allocator honours.
type Capabilities struct {
	// GPUResources frameworks may be offered agents that have GPUs; others
	// are kept off them so that GPU work is not crowded out (as in Mesos).
	GPUResources bool
}

// Filter keeps resources a framework refused from being offered to it
// again on that agent until Expires. An agent is filtered when what would be
// offered is contained in Resources.
type Filter struct {
	AgentID   string
	Resources resources.Resources
	Expires   time.Time
}

// Snapshot is the input of one allocation round.
type Snapshot struct {
	Now        time.Time
	Agents     []Agent     // visited in this order
	Frameworks []Framework // only connected frameworks
	Weights    map[string]float64
}

// Offer is one offer to make.
type Offer struct {
	FrameworkID, AgentID, Role string
	Resources                  resources.Resources // unallocated; the master stamps the role
}

// Reason says why a framework in a role got nothing from an agent.
type Reason string

// Reasons, reported in Result.Skips and usable as metric labels.
const (
	ReasonSuppressed    Reason = "suppressed"
	ReasonFiltered      Reason = "filtered"
	ReasonGPUAgent      Reason = "gpu_agent"
	ReasonNoResources   Reason = "no_resources"
	ReasonOfferedToPeer Reason = "offered_to_other_framework"
)

// Skip counts the agents on which a framework in a role got nothing for
// one reason.
type Skip struct {
	FrameworkID, Role string
	Reason            Reason
	Agents            int
}

// Result is the outcome of one round.
type Result struct {
	Offers []Offer
	Skips  []Skip
}

// Options configure an Allocator.
type Options struct {
	// MinAllocatable lists the smallest bundles worth offering: an agent's
	// resources are offered only if they hold at least one of them. Nil
	// means Mesos' default, cpus 0.01 or mem 32.
	MinAllocatable []map[string]float64
	// RoleSorter and FrameworkSorter name the sorters: "drf" (default) or
	// "random".
	RoleSorter, FrameworkSorter string
	// Seed seeds the random sorter.
	Seed int64
}

// Allocator makes allocation decisions. It keeps no state between rounds.
type Allocator struct {
	min           []map[string]float64
	roles, frames Sorter
}

// New returns an Allocator.
func New(opts Options) *Allocator {
	minimum := opts.MinAllocatable
	if minimum == nil {
		minimum = []map[string]float64{{"cpus": 0.01}, {"mem": 32}}
	}
	return &Allocator{
		min:    minimum,
		roles:  NewSorter(opts.RoleSorter, opts.Seed),
		frames: NewSorter(opts.FrameworkSorter, opts.Seed+1),
	}
}

// dominantScalars are the resources DRF compares; ports and other ranges
// or sets do not count toward shares, as in Mesos.
var dominantScalars = []string{"cpus", "mem", "disk", "gpus"}

type shares map[string]float64

func (s shares) add(r resources.Resources, sign float64) {
	for _, name := range dominantScalars {
		if v := r.ScalarValue(name); v != 0 {
			s[name] += sign * v
		}
	}
}

func (s shares) dominant(total shares) float64 {
	d := 0.0
	for name, t := range total {
		if t > 0 {
			d = max(d, s[name]/t)
		}
	}
	return d
}

type roleState struct {
	name       string
	weight     float64
	allocated  shares
	frameworks []*frameworkState
}

type frameworkState struct {
	f         *Framework
	allocated shares // within the role being considered
}

// Allocate runs one round over s.
func (a *Allocator) Allocate(s *Snapshot) Result {
	total := shares{}
	for _, ag := range s.Agents {
		total.add(ag.Total, 1)
	}
	roles := a.buildRoles(s)
	skips := make(map[Skip]int)
	var offers []Offer
	roleClients := make([]Client, len(roles))
	for _, ag := range s.Agents {
		avail := ag.Available
		gpuAgent := ag.Total.ScalarValue("gpus") > 0
		for i, r := range roles {
			roleClients[i] = Client{Index: i, Name: r.name, Share: r.allocated.dominant(total), Weight: r.weight}
		}
		a.roles.Sort(roleClients)
		for _, rc := range roleClients {
			r := roles[rc.Index]
			candidate := avail.AllocatableTo(r.name)
			if !a.allocatable(candidate) {
				continue
			}
			f := a.pick(r, ag, candidate, gpuAgent, s.Now, total, skips)
			if f == nil {
				continue
			}
			offers = append(offers, Offer{FrameworkID: f.f.ID, AgentID: ag.ID, Role: r.name, Resources: candidate})
			avail = avail.Subtract(candidate)
			r.allocated.add(candidate, 1)
			f.allocated.add(candidate, 1)
		}
	}
	return Result{Offers: offers, Skips: sortedSkips(skips)}
}

// pick returns the framework of role r that gets candidate on ag, or nil.
func (a *Allocator) pick(r *roleState, ag Agent, candidate resources.Resources, gpuAgent bool,
	now time.Time, total shares, skips map[Skip]int) *frameworkState {
	clients := make([]Client, len(r.frameworks))
	for i, f := range r.frameworks {
		clients[i] = Client{Index: i, Name: f.f.ID, Share: f.allocated.dominant(total), Weight: 1}
	}
	a.frames.Sort(clients)
	for _, c := range clients {
		f := r.frameworks[c.Index]
		switch {
		case f.f.Suppressed[r.name]:
			skips[Skip{FrameworkID: f.f.ID, Role: r.name, Reason: ReasonSuppressed}]++
		case gpuAgent && !f.f.Capabilities.GPUResources:
			skips[Skip{FrameworkID: f.f.ID, Role: r.name, Reason: ReasonGPUAgent}]++
		case filtered(f.f, ag.ID, candidate, now):
			skips[Skip{FrameworkID: f.f.ID, Role: r.name, Reason: ReasonFiltered}]++
		default:
			return f
		}
	}
	return nil
}

func filtered(f *Framework, agentID string, candidate resources.Resources, now time.Time) bool {
	for _, fl := range f.Filters {
		if fl.AgentID == agentID && now.Before(fl.Expires) && fl.Resources.Contains(candidate) {
			return true
		}
	}
	return false
}

func (a *Allocator) allocatable(r resources.Resources) bool {
	for _, bundle := range a.min {
		ok := true
		for name, v := range bundle {
			if r.ScalarValue(name) < v {
				ok = false
				break
			}
		}
		if ok {
			return true
		}
	}
	return false
}

func (a *Allocator) buildRoles(s *Snapshot) []*roleState {
	byName := make(map[string]*roleState)
	var roles []*roleState
	for i := range s.Frameworks {
		f := &s.Frameworks[i]
		for _, name := range f.Roles {
			r := byName[name]
			if r == nil {
				w, ok := s.Weights[name]
				if !ok || w <= 0 {
					w = 1
				}
				r = &roleState{name: name, weight: w, allocated: shares{}}
				byName[name] = r
				roles = append(roles, r)
			}
			fs := &frameworkState{f: f, allocated: shares{}}
			fs.allocated.add(f.Allocated[name], 1)
			r.allocated.add(f.Allocated[name], 1)
			r.frameworks = append(r.frameworks, fs)
		}
	}
	slices.SortFunc(roles, func(x, y *roleState) int { return strings.Compare(x.name, y.name) })
	return roles
}

func sortedSkips(m map[Skip]int) []Skip {
	out := make([]Skip, 0, len(m))
	for k, n := range m {
		k.Agents = n
		out = append(out, k)
	}
	slices.SortFunc(out, func(x, y Skip) int {
		if c := strings.Compare(x.FrameworkID, y.FrameworkID); c != 0 {
			return c
		}
		if c := strings.Compare(x.Role, y.Role); c != 0 {
			return c
		}
		return strings.Compare(string(x.Reason), string(y.Reason))
	})
	return out
}

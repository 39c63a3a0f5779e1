// Package allocator decides which framework is offered which agent's
// resources. It is pure and deterministic: Allocate takes a Snapshot of the
// cluster (agents, frameworks, roles with weights and quota, the time) and
// returns the offers to make and, for every framework and role that got
// nothing, why. It reads no clock, starts no goroutine and does no I/O; the
// master's loop builds the snapshot and carries out the result.
//
// The policy is Mesos' hierarchical weighted DRF with quota, in two
// stages. First, roles whose quota guarantee is not met are offered, in
// DRF order, what they are guaranteed (their reservations, and unreserved
// scalars up to the guarantee). Then every role is offered, in DRF order,
// what is left, never past its limit and never eating into the headroom
// that unmet guarantees of other roles still need. Within a role,
// frameworks go in DRF order too; the first that wants an agent (not
// suppressed, not filtered) gets what its role may have there. Shares are
// updated after every offer, so one round already spreads a cluster fairly.
//
// A round may cover only some agents (those that changed): the snapshot
// then carries the cluster-wide totals that shares and headroom are
// measured against.
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
	ID         string
	Roles      []string
	Suppressed map[string]bool                // roles it does not want offers for
	Allocated  map[string]resources.Resources // per role: tasks and outstanding offers
	// Filters are by agent ID: a round asks for an agent's alone, which
	// must not cost a scan of every filter when a framework that declines
	// what it does not need holds one on each of 50,000 agents.
	Filters      map[string][]Filter
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

// Role is the configuration of a role: its weight and quota. Guarantees
// and limits are by resource name (cpus, mem, disk, gpus); a missing limit
// is no limit.
type Role struct {
	Weight     float64
	Guarantees map[string]float64
	Limits     map[string]float64
}

// Snapshot is the input of one allocation round.
type Snapshot struct {
	Now        time.Time
	Agents     []Agent     // visited in this order
	Frameworks []Framework // only connected frameworks
	Roles      map[string]Role

	// Cluster is the whole cluster's scalars, when Agents holds only
	// some agents; nil means Agents is the whole cluster.
	Cluster *Cluster
}

// Cluster holds cluster-wide quantities by resource name.
type Cluster struct {
	// Total is what all agents have: shares are fractions of it.
	Total map[string]float64
	// UnreservedAvailable is what no task, offer or reservation holds:
	// the headroom that unmet quota guarantees draw on.
	UnreservedAvailable map[string]float64
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
	ReasonSuppressed      Reason = "suppressed"
	ReasonFiltered        Reason = "filtered"
	ReasonGPUAgent        Reason = "gpu_agent"
	ReasonNoResources     Reason = "no_resources"
	ReasonReservedOther   Reason = "reserved_for_other_role"
	ReasonQuotaLimit      Reason = "quota_limit"
	ReasonQuotaHeadroom   Reason = "quota_headroom_for_other_roles"
	ReasonOfferedToPeer   Reason = "offered_to_other_framework"
	ReasonNoAgentsInRound Reason = "no_agents"
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
	// FairShareExcluded names resources left out of dominant shares; nil
	// means Mesos' default, gpus (scarce, so a GPU task would otherwise
	// look like it holds the whole cluster).
	FairShareExcluded []string
}

// Allocator makes allocation decisions. It keeps no state between rounds
// except its sorters' random generators.
type Allocator struct {
	min           []qty
	counted       [numKinds]bool
	roles, frames Sorter
}

// New returns an Allocator.
func New(opts Options) *Allocator {
	minimum := opts.MinAllocatable
	if minimum == nil {
		minimum = []map[string]float64{{"cpus": 0.01}, {"mem": 32}}
	}
	a := &Allocator{
		roles:  NewSorter(opts.RoleSorter, opts.Seed),
		frames: NewSorter(opts.FrameworkSorter, opts.Seed+1),
	}
	for _, bundle := range minimum {
		a.min = append(a.min, qtyFromMap(bundle, 0))
	}
	excluded := opts.FairShareExcluded
	if excluded == nil {
		excluded = []string{"gpus"}
	}
	for k := range a.counted {
		a.counted[k] = !slices.Contains(excluded, Kinds[k])
	}
	return a
}

// allocatable reports whether q holds one of the minimum bundles.
func (a *Allocator) allocatable(q qty) bool {
	for _, bundle := range a.min {
		ok := true
		for k, v := range bundle {
			if v > 0 && q[k]+epsilon < v {
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

// Allocate runs one round over s.
func (a *Allocator) Allocate(s *Snapshot) Result {
	r := a.newRound(s)
	if len(r.tree.visitOrder()) == 0 || len(s.Agents) == 0 {
		return r.result()
	}
	if r.quota {
		for i := range r.agents {
			r.allocateAgent(&r.agents[i], true)
		}
	}
	for i := range r.agents {
		r.allocateAgent(&r.agents[i], false)
	}
	return r.result()
}

func (r *round) result() Result {
	res := Result{Offers: r.offers}
	got := make(map[fwRole]bool, len(r.offers))
	for _, o := range r.offers {
		got[fwRole{o.FrameworkID, o.Role}] = true
	}
	for i := range r.fws {
		f := &r.fws[i]
		if got[fwRole{f.f.ID, f.role}] {
			continue
		}
		before := len(res.Skips)
		for reason, n := range f.skips {
			res.Skips = append(res.Skips, Skip{FrameworkID: f.f.ID, Role: f.role, Reason: reason, Agents: n})
		}
		for reason, n := range f.leaf.roleSkips {
			if f.skips[reason] == 0 {
				res.Skips = append(res.Skips, Skip{FrameworkID: f.f.ID, Role: f.role, Reason: reason, Agents: n})
			}
		}
		if len(res.Skips) == before {
			// Never considered: every agent was spoken for before its
			// role's turn, or there was none.
			reason := ReasonNoResources
			if len(r.agents) == 0 {
				reason = ReasonNoAgentsInRound
			}
			res.Skips = append(res.Skips, Skip{FrameworkID: f.f.ID, Role: f.role, Reason: reason, Agents: len(r.agents)})
		}
	}
	slices.SortFunc(res.Skips, func(x, y Skip) int {
		if c := strings.Compare(x.FrameworkID, y.FrameworkID); c != 0 {
			return c
		}
		if c := strings.Compare(x.Role, y.Role); c != 0 {
			return c
		}
		return strings.Compare(string(x.Reason), string(y.Reason))
	})
	return res
}

type fwRole struct{ framework, role string }

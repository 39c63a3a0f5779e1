package sdk

import (
	"cmp"
	"slices"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/corral-sched/corral/proto/mesospb"
	"github.com/corral-sched/corral/resources"
)

// SeenAgents remembers the latest offer a framework got from each agent
// for each role, so that a placement can weigh agents whose offers are
// not in hand (ChooseSpread's Elsewhere). It is not safe for concurrent
// use: the framework's lock guards it.
type SeenAgents struct {
	m map[seenKey]SeenAgent
}

type seenKey struct{ agent, role string }

// SeenAgent is an agent as its latest offer for a role showed it.
type SeenAgent struct {
	Placement
	// Role is the role the offer was for.
	Role string
	// Unreserved is the offer with its unreserved resources only: the
	// room a new reservation or task could have had there.
	Unreserved *mesospb.Offer
	// At is when the offer was seen.
	At time.Time
	// First is when this agent's offers for the role were first seen,
	// since it was last forgotten.
	First time.Time
}

// Observe records an offer.
func (s *SeenAgents) Observe(o *mesospb.Offer, now time.Time) {
	if s.m == nil {
		s.m = make(map[seenKey]SeenAgent)
	}
	u := &mesospb.Offer{AgentId: o.GetAgentId(), Hostname: o.Hostname, AllocationInfo: o.GetAllocationInfo(),
		Resources: resources.Resources(o.GetResources()).Unreserved()}
	u = proto.CloneOf(u)
	role := o.GetAllocationInfo().GetRole()
	k := seenKey{o.GetAgentId().GetValue(), role}
	first := now
	if prev, ok := s.m[k]; ok {
		first = prev.First
	}
	s.m[k] = SeenAgent{Placement: PlacementOf(o), Role: role, Unreserved: u, At: now, First: first}
}

// Watching is since when the framework has been seeing offers for role
// without a gap (the earliest First among the agents offered at or after
// since), or zero if none were: once that is long ago, the agents it
// knows are all the agents that offer.
func (s *SeenAgents) Watching(role string, since time.Time) time.Time {
	var w time.Time
	for k, a := range s.m {
		if k.role == role && !a.At.Before(since) && (w.IsZero() || a.First.Before(w)) {
			w = a.First
		}
	}
	return w
}

// Forget drops what was seen before t.
func (s *SeenAgents) Forget(t time.Time) {
	for k, a := range s.m {
		if a.At.Before(t) {
			delete(s.m, k)
		}
	}
}

// Recent lists the agents offered for role at or after since, in agent
// ID order.
func (s *SeenAgents) Recent(role string, since time.Time) []SeenAgent {
	var out []SeenAgent
	for k, a := range s.m {
		if k.role == role && !a.At.Before(since) {
			out = append(out, a)
		}
	}
	slices.SortFunc(out, func(a, b SeenAgent) int { return cmp.Compare(a.AgentID, b.AgentID) })
	return out
}

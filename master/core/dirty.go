package core

import "github.com/corral-sched/corral/master/allocator"

// Allocation rounds are incremental: a change to one agent (a task ends,
// an offer is declined) leads to a round over that agent alone, measured
// against cluster-wide sums the master keeps up to date. Changes that
// concern every agent (a framework subscribes or revives, weights or
// quota change) and the periodic tick, which notices expired filters, run
// a full round.

// agentSums is what one agent contributes to the cluster-wide sums.
type agentSums struct {
	total, unreservedAvailable map[string]float64
}

// touch marks a's resources or health as changed and asks for a round.
func (s *state) touch(a *agentState) {
	s.markDirty(a)
	s.allocationPending = true
}

// markDirty records a change without asking for a round (the allocator's
// own offers).
func (s *state) markDirty(a *agentState) { s.dirty[a.id] = true }

// requestFullRound asks for a round over every agent.
func (s *state) requestFullRound() {
	s.fullRound = true
	s.allocationPending = true
}

// refreshSums recomputes agent id's contribution to the sums and returns
// it with whether the agent can be offered now.
func (s *state) refreshSums(id string) (*agentState, bool) {
	old := s.sums[id]
	for name, v := range old.total {
		s.clusterTotal[name] -= v
	}
	for name, v := range old.unreservedAvailable {
		s.clusterUnreserved[name] -= v
	}
	a := s.agents[id]
	if a == nil || a.health != agentActive || a.conn == nil {
		delete(s.sums, id)
		return a, false
	}
	avail := a.available()
	now := agentSums{total: a.total.Quantities(), unreservedAvailable: avail.Unreserved().Quantities()}
	for name, v := range now.total {
		s.clusterTotal[name] += v
	}
	for name, v := range now.unreservedAvailable {
		s.clusterUnreserved[name] += v
	}
	s.sums[id] = now
	a.cachedAvailable = avail
	return a, !avail.Empty()
}

// roundAgents refreshes the sums of the agents changed since the last
// round and returns the agents to offer (the changed ones, or in a full
// round every agent with something available), with the cluster sums to
// measure against. Every change to an agent marks it, so the cached
// figures of the others are current.
func (s *state) roundAgents() ([]allocator.Agent, *allocator.Cluster) {
	var out []allocator.Agent
	add := func(a *agentState) {
		out = append(out, allocator.Agent{
			ID: a.id, Hostname: a.info.GetHostname(),
			Total: a.total, Available: a.cachedAvailable, Attributes: a.info.GetAttributes(),
		})
	}
	for id := range s.dirty {
		if a, offerable := s.refreshSums(id); offerable && !s.fullRound {
			add(a)
		}
	}
	if s.fullRound {
		for _, a := range s.agents {
			if _, ok := s.sums[a.id]; ok && !a.cachedAvailable.Empty() {
				add(a)
			}
		}
	}
	s.fullRound = false
	clear(s.dirty)
	return out, &allocator.Cluster{Total: clone(s.clusterTotal), UnreservedAvailable: clone(s.clusterUnreserved)}
}

func clone(m map[string]float64) map[string]float64 {
	out := make(map[string]float64, len(m))
	for k, v := range m {
		if v > 1e-9 {
			out[k] = v
		}
	}
	return out
}

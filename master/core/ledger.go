package core

import "github.com/corral-sched/corral/resources"

// The ledger is the only code that changes an agent's total or allocated
// resources. Each change is paired with marking the agent dirty, so that
// the next round refreshes its share of the cluster-wide sums (dirty.go):
// a change without the mark leaves the allocator measuring against stale
// figures, which shows up as leaked or doubly offered resources.
//
// Resources passed in are in allocated form (what tasks, executors and
// offers carry); the agent keeps them without allocation_info.

// hold charges res to a. It asks for no round: what is held is no longer
// available, so there is nothing new to offer.
func (s *state) hold(a *agentState, res resources.Resources) {
	a.allocated = a.allocated.Add(res.Unallocate())
	s.markDirty(a)
}

// release gives res back to a and asks for a round, since the freed
// resources can be offered again.
func (s *state) release(a *agentState, res resources.Resources) {
	a.allocated = a.allocated.Subtract(res.Unallocate())
	s.touch(a)
}

// setTotal replaces a's total resources (at registration, or after a
// reservation or volume operation changed them) and asks for a round.
func (s *state) setTotal(a *agentState, total resources.Resources) {
	a.total = total
	s.touch(a)
}

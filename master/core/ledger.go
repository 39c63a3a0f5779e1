package core

import "github.com/corral-sched/corral/resources"

// The ledger is the only code that changes an agent's total or allocated
// resources, and a framework's allocation. Each change to an agent is
// paired with marking it dirty, so that the next round refreshes its share
// of the cluster-wide sums (dirty.go): a change without the mark leaves the
// allocator measuring against stale figures, which shows up as leaked or
// doubly offered resources. Each change to an agent's allocation is the
// same change to the allocation of the framework that holds it (what
// GET_FRAMEWORKS reports and DRF measures), so the two books cannot drift.
//
// Resources passed in are in allocated form (what tasks, executors and
// offers carry); the agent keeps them without allocation_info.

// hold charges res to agent a and to framework f in role (f may be nil:
// an executor whose framework is gone). It asks for no round: what is held
// is no longer available, so there is nothing new to offer.
func (s *state) hold(a *agentState, f *framework, role string, res resources.Resources) {
	a.allocated = a.allocated.Add(res.Unallocate())
	s.markDirty(a)
	if f != nil {
		f.allocated[role] = f.allocated[role].Add(res)
	}
}

// release gives res back to agent a and takes it off framework f's
// allocation in role; either may be nil (gone already). It asks for a
// round, since the freed resources can be offered again.
func (s *state) release(a *agentState, f *framework, role string, res resources.Resources) {
	if a != nil {
		a.allocated = a.allocated.Subtract(res.Unallocate())
		s.touch(a)
	}
	if f != nil {
		left := f.allocated[role].Subtract(res)
		if left.Empty() {
			delete(f.allocated, role)
		} else {
			f.allocated[role] = left
		}
	}
}

// setTotal replaces a's total resources (at registration, or after a
// reservation or volume operation changed them) and asks for a round.
func (s *state) setTotal(a *agentState, total resources.Resources) {
	a.total = total
	s.touch(a)
}

package pets

import (
	"fmt"
	"slices"
	"time"
)

// The planner is the framework's pure core: from a set's desired state
// and what its pets are doing, it decides which pets to place, launch and
// stop now, and why the others wait. It does no I/O and reads no clock;
// the framework executes its decisions on offers and ticks.

// planInput is one set as the planner sees it.
type planInput struct {
	Spec     *PetSet
	Revision int  // the spec's revision
	Deleting bool // the set is being deleted: every pet stops
	// Pets by ordinal; entries may be nil (never created), and there may
	// be more than Spec.Instances (scaled down).
	Pets []*Pet
	Now  time.Time
}

// plan is what to do now.
type plan struct {
	// Place lists ordinals that need new reserved resources.
	Place []int
	// Launch lists ordinals to launch on their placement now.
	Launch []int
	// Stop maps ordinals whose task must be killed to the reason.
	Stop map[int]string
	// Waiting says why a pet that should run is not launched.
	Waiting map[int]string
}

// Reasons a pet is stopped.
const (
	stopScaleDown = "scale down"
	stopDelete    = "set deleted"
	stopRestart   = "restart"
	stopReplace   = "replace"
	stopUpdate    = "rolling update"
)

func (in *planInput) pet(k int) *Pet {
	if k < len(in.Pets) {
		return in.Pets[k]
	}
	return nil
}

// targetRevision is the spec revision pet k runs when launched next.
// Under RollingUpdate, ordinals below the partition keep the revision
// they ran; under OnDelete every pet keeps its revision until it is
// restarted or replaced. A pet never launched gets the current one.
func (in *planInput) targetRevision(k int) int {
	p := in.pet(k)
	if p == nil || p.Revision == 0 || p.Restart || p.Replace {
		return in.Revision
	}
	u := in.Spec.UpdateStrategy
	if u.Type == OnDelete || k < u.Partition {
		return p.Revision
	}
	return in.Revision
}

// makePlan decides for one set.
func makePlan(in planInput) plan {
	out := plan{Stop: map[int]string{}, Waiting: map[int]string{}}
	n := in.Spec.Instances
	if in.Deleting {
		n = 0
	}
	ordered := in.Spec.PodManagementPolicy != Parallel

	// Pets beyond the wanted count stop, highest ordinal first; under
	// OrderedReady each waits until its successors are gone.
	var extras []int
	for k := len(in.Pets) - 1; k >= n; k-- {
		if in.pet(k).live() {
			extras = append(extras, k)
		}
	}
	why := stopScaleDown
	if in.Deleting {
		why = stopDelete
	}
	for i, k := range extras {
		if ordered && i > 0 {
			out.Waiting[k] = fmt.Sprintf("stopping after %s is gone", petName(in.Spec.ID, extras[0]))
			continue
		}
		if in.pet(k).Killing == "" {
			out.Stop[k] = why
		}
	}

	// Restarts and replacements asked for through the API stop the pet at
	// once; it comes back through the launch rules below.
	for k := range min(n, len(in.Pets)) {
		p := in.pet(k)
		if p.live() && p.Killing == "" && p.InDoubt == "" {
			switch {
			case p.Replace:
				out.Stop[k] = stopReplace
			case p.Restart:
				out.Stop[k] = stopRestart
			}
		}
	}

	// Every wanted pet is placed as soon as resources allow, whatever the
	// order: the pets' peers list is complete from the first launch.
	unplaced := -1
	for k := range n {
		p := in.pet(k)
		if p.live() {
			continue
		}
		if p == nil || p.Placement == nil {
			out.Place = append(out.Place, k)
			if unplaced < 0 {
				unplaced = k
			}
		}
	}

	// Launches: under OrderedReady ordinal k starts only once 0..k-1 are
	// running and ready, one at a time; under Parallel all at once.
	blocker := -1
	for k := range n {
		p := in.pet(k)
		if p.live() {
			if ordered && blocker < 0 && !p.ready() {
				blocker = k
			}
			continue
		}
		switch {
		case ordered && blocker >= 0:
			out.Waiting[k] = fmt.Sprintf("waiting for %s to be running and ready", petName(in.Spec.ID, blocker))
		case p == nil || p.Placement == nil:
			out.Waiting[k] = "waiting for resources to reserve"
		case in.Now.Before(p.NotBefore):
			out.Waiting[k] = fmt.Sprintf("backing off after %d failures, until %s", p.Failures, p.NotBefore.Format(time.RFC3339Nano))
		case p.Incarnation == 0 && unplaced >= 0:
			// A first launch waits until every peer has its address.
			out.Waiting[k] = fmt.Sprintf("waiting for %s to be placed, to know every peer's address", petName(in.Spec.ID, unplaced))
		default:
			out.Launch = append(out.Launch, k)
		}
		if ordered && blocker < 0 {
			blocker = k
		}
	}

	// Rolling update: once every wanted pet is ready and nothing else is
	// stopping, the highest ordinal at or above the partition that runs
	// an older revision is stopped (and relaunched with the new one).
	if in.Deleting || in.Spec.UpdateStrategy.Type != RollingUpdate || len(extras) > 0 || len(out.Stop) > 0 {
		return out
	}
	for k := range n {
		p := in.pet(k)
		if !p.ready() {
			return out
		}
	}
	for k := n - 1; k >= in.Spec.UpdateStrategy.Partition; k-- {
		if p := in.pet(k); p.Revision != in.Revision {
			out.Stop[k] = stopUpdate
			break
		}
	}
	return out
}

// sortedOrdinals lists a plan's stops in order of ordinal, highest first.
func (p plan) sortedStops() []int {
	var out []int
	for k := range p.Stop {
		out = append(out, k)
	}
	slices.Sort(out)
	slices.Reverse(out)
	return out
}

package pets

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/corral-sched/corral/frameworks/kit"
	"github.com/corral-sched/corral/frameworks/sdk"
	"github.com/corral-sched/corral/proto/mesospb"
	"github.com/corral-sched/corral/resources"
)

// offerWork is what offers can serve now: pets to launch on their
// placement (with the revision to run) and pets to place, in order.
type offerWork struct {
	launch map[string]int // pet name → revision
	place  []*Pet
}

func (f *Framework) work(now time.Time) offerWork {
	w := offerWork{launch: map[string]int{}}
	for _, id := range sortedKeys(f.sets) {
		s := f.sets[id]
		in := f.planInput(s, now)
		pl := makePlan(in)
		for _, k := range pl.Launch {
			w.launch[petName(id, k)] = in.targetRevision(k)
		}
		for _, k := range pl.Place {
			w.place = append(w.place, f.pet(id, k))
		}
	}
	return w
}

func (f *Framework) planInput(s *setState, now time.Time) planInput {
	return planInput{Spec: &s.Spec, Revision: s.Revision, Deleting: s.Deleting, Pets: f.petsOf(s.Spec.ID), Now: now}
}

// offers releases what is to be released, launches pets on their
// reserved resources and places pets that have none (RESERVE, CREATE),
// writes all of it down, and only then accepts. What is not used is
// declined. A call that fails is logged: what it carried is written down,
// and the handler must not end the subscription for it.
func (f *Framework) offers(ctx context.Context, offers []*mesospb.Offer) {
	f.mu.Lock()
	now := f.cfg.Now()
	w := f.work(now)
	var undo []func()
	ops := make([][]*mesospb.Offer_Operation, len(offers))
	reserving := make([]bool, len(offers))
	f.seen.Forget(now.Add(-f.cfg.SpreadMemory))
	for i, o := range offers {
		f.seen.Observe(o, now)
		role, agent := o.GetAllocationInfo().GetRole(), o.GetAgentId().GetValue()
		mine := f.byPlacement(o.GetResources())
		for _, id := range sortedKeys(mine) {
			r := f.releases[id]
			if r == nil && !f.knownPlacement(id) {
				r = f.orphan(id, o, mine[id], now)
				undo = append(undo, func() { delete(f.releases, id) })
			}
			if r != nil {
				ops[i] = append(ops[i], f.releaseOps(r, mine[id])...)
			}
		}
		for _, name := range sortedKeys(w.launch) {
			p := f.pets[name]
			pl := p.Placement
			if pl.AgentID != agent || pl.Role != role {
				continue
			}
			need := f.taskResources(pl, p.Set, p.Ordinal)
			if !resources.Resources(mine[pl.ID]).Contains(need) {
				f.waiting[name] = fmt.Sprintf("its reserved resources on %s are not all offered", pl.Hostname)
				continue
			}
			old := *p
			undo = append(undo, func() { delete(f.byTask, p.TaskID); *p = old })
			ops[i] = append(ops[i], sdk.LaunchOperation(f.launch(p, w.launch[name], o, need, now)))
			delete(w.launch, name)
		}
	}
	f.placePets(offers, w.place, now, &undo, ops, reserving)
	// What this round placed or launched makes more work at once (a
	// placed pet's launch, the next ordinal): the REVIVE asking for it
	// may reach the master before this round's declines, whose filters
	// must then be short.
	progress := slices.ContainsFunc(ops, func(o []*mesospb.Offer_Operation) bool { return len(o) > 0 })
	pending := progress || len(w.launch) > 0 || slices.ContainsFunc(w.place, func(p *Pet) bool { return p.Placement == nil })
	launched := make([][]*mesospb.TaskInfo, len(ops))
	for i := range ops {
		launched[i] = kit.LaunchedTasks(ops[i])
	}
	f.inFlight.Add(launched...)
	defer f.inFlight.Done(launched...)
	f.mu.Unlock()

	// Write before accepting: a restarted framework must know every
	// reservation and task it may have made.
	recorded := f.durable.FlushOrUndo(ctx, f.log, "could not record placements and launches; declining", func() {
		for i := len(undo) - 1; i >= 0; i-- {
			undo[i]()
		}
	})
	if !recorded {
		ops = make([][]*mesospb.Offer_Operation, len(offers))
	}
	var declined []*mesospb.OfferID
	for i, o := range offers {
		if len(ops[i]) == 0 {
			declined = append(declined, o.GetId())
			continue
		}
		// After a RESERVE the new reservation must come back at once for
		// the launch, so the rest of the offer is not filtered.
		refuse := 1.0
		if reserving[i] {
			refuse = 0
		}
		if err := f.sched.Accept(ctx, []*mesospb.OfferID{o.GetId()}, ops[i], refuse); err != nil {
			// Written down first: reconciliation (a second from now: the
			// master may yet be handling the call) and the next offers
			// say what became of it.
			f.log.Warn("offer operations not sent", "offer", o.GetId().GetValue(), "err", err)
			f.recon.Ask(f.cfg.Now().Add(time.Second), sdk.ReconcileLaunched(launched[i]...)...)
		}
	}
	if len(declined) > 0 {
		refuse := 30.0
		if pending {
			refuse = 2
		}
		if err := f.sched.Decline(ctx, declined, refuse); err != nil {
			f.log.Warn("decline not sent; the offers come back when they time out", "offers", len(declined), "err", err)
		}
	}
}

// knownPlacement reports whether a placement ID belongs to a pet.
func (f *Framework) knownPlacement(id string) bool {
	for _, p := range f.pets {
		if p.Placement != nil && p.Placement.ID == id {
			return true
		}
	}
	return false
}

// orphan records a reservation of ours that no pet owns any more (a
// placement dropped after its RESERVE was refused, then made after all),
// so that it is given back.
func (f *Framework) orphan(id string, o *mesospb.Offer, res []*mesospb.Resource, now time.Time) *Release {
	l := reservationLabels(res[0])
	ordinal, _ := strconv.Atoi(l[labelOrdinal])
	r := &Release{Set: l[labelSet], Ordinal: ordinal, Reason: "orphaned reservation", Created: now,
		Placement: Placement{ID: id, AgentID: o.GetAgentId().GetValue(), Hostname: o.GetHostname(), Role: o.GetAllocationInfo().GetRole(), Since: now}}
	f.releases[id] = r
	f.releaseRecords.Mark(id)
	f.log.Warn("releasing an orphaned reservation", "placement", id, "agent", r.Hostname)
	return r
}

// releaseOps destroys a placement's volumes and unreserves its resources.
func (f *Framework) releaseOps(r *Release, res []*mesospb.Resource) []*mesospb.Offer_Operation {
	var volumes, plain []*mesospb.Resource
	for _, x := range res {
		if resources.IsVolume(x) {
			volumes = append(volumes, x)
			plain = append(plain, resources.StripVolume(x))
		} else {
			plain = append(plain, x)
		}
	}
	var ops []*mesospb.Offer_Operation
	if len(volumes) > 0 {
		ops = append(ops, &mesospb.Offer_Operation{Type: mesospb.Offer_Operation_DESTROY.Enum(), Id: opID("destroy", r.ID),
			Destroy: &mesospb.Offer_Operation_Destroy{Volumes: volumes}})
	}
	return append(ops, &mesospb.Offer_Operation{Type: mesospb.Offer_Operation_UNRESERVE.Enum(), Id: opID("unreserve", r.ID),
		Unreserve: &mesospb.Offer_Operation_Unreserve{Resources: plain}})
}

func opID(kind, placement string) *mesospb.OperationID {
	return &mesospb.OperationID{Value: proto.String(kind + ":" + placement)}
}

// placementsOf lists where a set's other pets are placed, for
// constraints: a placement holds its agent whether the pet runs or not.
func (f *Framework) placementsOf(set string, except int) []sdk.Placement {
	var out []sdk.Placement
	for _, p := range f.pets {
		if p.Set == set && p.Ordinal != except && p.Placement != nil {
			out = append(out, sdk.Placement{AgentID: p.Placement.AgentID, Hostname: p.Placement.Hostname, Attributes: p.Placement.Attributes})
		}
	}
	return out
}

// envName turns a port name into an environment variable suffix.
func envName(s string) string {
	return strings.ToUpper(strings.ReplaceAll(s, "-", "_"))
}

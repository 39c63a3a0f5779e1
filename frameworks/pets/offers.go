package pets

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/corral-sched/corral/frameworks/sdk"
	"github.com/corral-sched/corral/internal/uuid"
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
// declined.
func (f *Framework) offers(ctx context.Context, offers []*mesospb.Offer) error {
	f.mu.Lock()
	now := f.cfg.Now()
	w := f.work(now)
	var undo []func()
	ops := make([][]*mesospb.Offer_Operation, len(offers))
	reserving := make([]bool, len(offers))
	for i, o := range offers {
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
		placed := f.placeInOffer(o, w.place, now, &undo, &ops[i])
		if placed > 0 {
			reserving[i] = true
			w.place = slices.DeleteFunc(w.place, func(p *Pet) bool { return p.Placement != nil })
		}
	}
	pending := len(w.launch) > 0 || len(w.place) > 0
	f.mu.Unlock()

	// Write before accepting: a restarted framework must know every
	// reservation and task it may have made.
	if err := f.flush(ctx); err != nil {
		f.log.Error("could not record placements and launches; declining", "err", err)
		f.mu.Lock()
		for i := len(undo) - 1; i >= 0; i-- {
			undo[i]()
		}
		f.mu.Unlock()
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
			return err
		}
	}
	if len(declined) > 0 {
		refuse := 30.0
		if pending {
			refuse = 2
		}
		return f.sched.Decline(ctx, declined, refuse)
	}
	return nil
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
	f.dirtyReleases[id] = true
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

// placeInOffer places as many waiting pets in the offer's unreserved
// resources as fit and their constraints allow, adding the RESERVE and
// CREATE operations. It returns how many it placed.
func (f *Framework) placeInOffer(o *mesospb.Offer, waiting []*Pet, now time.Time, undo *[]func(), ops *[]*mesospb.Offer_Operation) int {
	role := o.GetAllocationInfo().GetRole()
	usable := proto.CloneOf(o)
	usable.Resources = resources.Resources(o.GetResources()).Unreserved()
	space := sdk.NewSpace(usable)
	cand := sdk.PlacementOf(o)
	placed := 0
	for _, p := range waiting {
		s := f.sets[p.Set]
		if s == nil || s.Spec.Role != role {
			continue
		}
		spec := &s.Spec
		if p.AvoidAgent == cand.AgentID && now.Before(p.AvoidUntil) {
			continue
		}
		cs, _ := sdk.ParseConstraints(spec.Constraints)
		if c, ok := sdk.Satisfies(cs, cand, f.placementsOf(p.Set, p.Ordinal)); !ok {
			f.waiting[p.Name] = fmt.Sprintf("constraint %s not satisfied by offers", c)
			continue
		}
		disk := spec.Disk + spec.volumeDisk()
		wantPorts := make([]uint64, len(spec.Ports))
		if short := space.Shortfall(spec.CPUs, spec.Mem, disk, wantPorts); short != "" {
			f.waiting[p.Name] = "no offer has enough unreserved " + short
			continue
		}
		_, ports, ok := space.TakePorts(spec.CPUs, spec.Mem, disk, wantPorts)
		if !ok {
			f.waiting[p.Name] = "no offer has enough unreserved resources"
			continue
		}
		pl := &Placement{ID: uuid.New().String(), AgentID: cand.AgentID, Hostname: cand.Hostname, Attributes: cand.Attributes,
			Role: role, CPUs: spec.CPUs, Mem: spec.Mem, Disk: spec.Disk, Ports: ports, Since: now}
		for _, v := range spec.Volumes {
			pl.Volumes = append(pl.Volumes, PlacedVolume{ContainerPath: v.ContainerPath, Size: v.Size,
				PersistenceID: persistenceID(p.Name, v.ContainerPath, pl.ID)})
		}
		*undo = append(*undo, func() { p.Placement = nil })
		p.Placement = pl
		f.markPet(p)
		f.log.Info("placing pet", "pet", p.Name, "agent", pl.Hostname, "placement", pl.ID, "ports", pl.Ports)
		*ops = append(*ops, &mesospb.Offer_Operation{Type: mesospb.Offer_Operation_RESERVE.Enum(), Id: opID("reserve", pl.ID),
			Reserve: &mesospb.Offer_Operation_Reserve{Resources: f.reservedResources(pl, p.Set, p.Ordinal, true)}})
		if len(pl.Volumes) > 0 {
			*ops = append(*ops, &mesospb.Offer_Operation{Type: mesospb.Offer_Operation_CREATE.Enum(), Id: opID("create", pl.ID),
				Create: &mesospb.Offer_Operation_Create{Volumes: f.volumeResources(pl, p.Set, p.Ordinal)}})
		}
		placed++
	}
	return placed
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

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.SortFunc(out, func(a, b string) int { return cmp.Compare(a, b) })
	return out
}

// envName turns a port name into an environment variable suffix.
func envName(s string) string {
	return strings.ToUpper(strings.ReplaceAll(s, "-", "_"))
}

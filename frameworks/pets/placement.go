package pets

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/corral-sched/corral/frameworks/sdk"
	"github.com/corral-sched/corral/internal/uuid"
	"github.com/corral-sched/corral/proto/mesospb"
	"github.com/corral-sched/corral/resources"
)

// PlacementPolicy says how a set's pets spread over failure domains, so
// that losing one machine (or zone) does not take a quorum with it.
type PlacementPolicy struct {
	// Spread is preferred (the default: each pet goes where the set has
	// the fewest pets, sharing only after a bounded wait), required
	// (never two pets of the set in one domain) or none.
	Spread string `json:"spread"`
	// By is the domain: hostname (default) or an agent attribute, e.g.
	// zone.
	By string `json:"by"`
}

// UnmarshalJSON reads the object, or a bare mode as shorthand:
// "placement": "none" is {"spread": "none"}.
func (p *PlacementPolicy) UnmarshalJSON(b []byte) error {
	var mode string
	if json.Unmarshal(b, &mode) == nil {
		*p = PlacementPolicy{Spread: mode}
		return nil
	}
	// The set's decoder refuses unknown fields; a custom decoder must do
	// the same for its own.
	type plain PlacementPolicy
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var v plain
	if err := dec.Decode(&v); err != nil {
		if strings.HasPrefix(err.Error(), "json: unknown field") {
			return err
		}
		return errors.New("placement: want {\"spread\": preferred|required|none, \"by\": hostname|<attribute>} or one of preferred, required, none")
	}
	*p = PlacementPolicy(v)
	return nil
}

// normalize fills the defaults and reports unknown values.
func (p *PlacementPolicy) normalize(bad func(string, ...any)) *PlacementPolicy {
	out := PlacementPolicy{Spread: sdk.SpreadPreferred, By: "hostname"}
	if p != nil {
		if p.Spread != "" {
			out.Spread = p.Spread
		}
		if p.By != "" {
			out.By = p.By
		}
	}
	if err := (sdk.Spread{Mode: out.Spread, By: "hostname"}).Validate(); err != nil {
		bad("placement.%v", err)
	}
	if err := (sdk.Spread{Mode: sdk.SpreadNone, By: out.By}).Validate(); err != nil {
		bad("placement.by %q: use hostname or the name of an agent attribute (letters, digits, '.', '_' and '-')", out.By)
	}
	return &out
}

// spread is the set's rule; sets stored before the setting existed get
// the default.
func (s *PetSet) spread() sdk.Spread {
	if s.Placement == nil {
		return sdk.Spread{Mode: sdk.SpreadPreferred, By: "hostname"}
	}
	return sdk.Spread{Mode: s.Placement.Spread, By: s.Placement.By}
}

// spreading is what placing one waiting pet has met so far (not stored:
// a restarted framework starts the clocks again).
type spreading struct {
	since time.Time // first considered for placement
	held  time.Time // first held back by a preferred spread
	why   string    // why the latest offers could not place it
}

// placePets places the waiting pets, in order, each on the offered
// agent that suits it best: its role, constraints and resources met,
// then the set's spread (sdk.ChooseSpread) over every offer in hand, so
// that one round of offers from several agents is shared out rather
// than filled first come, first served. Pets placed earlier in the
// round count like running ones.
func (f *Framework) placePets(offers []*mesospb.Offer, waiting []*Pet, now time.Time, undo *[]func(), ops [][]*mesospb.Offer_Operation, reserving []bool) {
	f.trackSpreading(waiting, now)
	if len(waiting) == 0 {
		return
	}
	spaces := make([]*sdk.Space, len(offers))
	cands := make([]sdk.Placement, len(offers))
	inHand := make(map[string]bool, len(offers)) // agent ID and role
	for i, o := range offers {
		spaces[i] = sdk.NewSpace(unreserved(o))
		cands[i] = sdk.PlacementOf(o)
		inHand[cands[i].AgentID+" "+o.GetAllocationInfo().GetRole()] = true
	}
	for _, p := range waiting {
		s := f.sets[p.Set]
		if s == nil {
			continue
		}
		spec := &s.Spec
		st := f.spreading[p.Name]
		cs, _ := sdk.ParseConstraints(spec.Constraints)
		placed := f.placementsOf(p.Set, p.Ordinal)
		var hand []sdk.Placement
		var at []int
		for i, o := range offers {
			if o.GetAllocationInfo().GetRole() != spec.Role {
				continue
			}
			if why := unfit(p, spec, cs, placed, cands[i], spaces[i], now); why != "" {
				st.why = why
				continue
			}
			hand, at = append(hand, cands[i]), append(at, i)
		}
		ch := sdk.ChooseSpread(sdk.SpreadInput{
			Rule: spec.spread(), What: "pet of " + p.Set, Placed: placed, InHand: hand,
			Elsewhere: func() []sdk.Placement { return f.elsewhere(p, spec, cs, placed, inHand, now) },
			Since:     st.since, Settled: f.cfg.SpreadSettle, Watching: f.seen.Watching(spec.Role, now.Add(-f.cfg.SpreadMemory)),
			HeldSince: st.held, Wait: f.cfg.SpreadWait, Now: now,
		})
		if ch.Held && st.held.IsZero() {
			st.held = now
		}
		if ch.Reason != "" {
			st.why = ch.Reason
		}
		if ch.Index < 0 {
			if st.why != "" {
				f.waiting[p.Name] = st.why
			}
			continue
		}
		i := at[ch.Index]
		if f.reserve(p, spec, offers[i], spaces[i], now, undo, &ops[i]) {
			reserving[i] = true
			delete(f.spreading, p.Name)
		}
	}
}

// trackSpreading starts the clocks of newly waiting pets and forgets
// those no longer waiting.
func (f *Framework) trackSpreading(waiting []*Pet, now time.Time) {
	keep := make(map[string]bool, len(waiting))
	for _, p := range waiting {
		keep[p.Name] = true
		if f.spreading[p.Name] == nil {
			f.spreading[p.Name] = &spreading{since: now}
		}
	}
	for name := range f.spreading {
		if !keep[name] {
			delete(f.spreading, name)
		}
	}
}

// unreserved is the offer with its unreserved resources only: what a new
// placement may reserve.
func unreserved(o *mesospb.Offer) *mesospb.Offer {
	u := proto.CloneOf(o)
	u.Resources = resources.Resources(o.GetResources()).Unreserved()
	return u
}

// unfit says why pet p cannot be placed at cand, or "" if it can.
func unfit(p *Pet, spec *PetSet, cs []sdk.Constraint, placed []sdk.Placement, cand sdk.Placement, space *sdk.Space, now time.Time) string {
	if p.AvoidAgent == cand.AgentID && now.Before(p.AvoidUntil) {
		return fmt.Sprintf("kept off %s, which it was replaced from, until %s", cand.Hostname, p.AvoidUntil.Format(time.RFC3339))
	}
	if c, ok := sdk.Satisfies(cs, cand, placed); !ok {
		return fmt.Sprintf("constraint %s not satisfied by offers", c)
	}
	if short := space.Shortfall(spec.CPUs, spec.Mem, spec.Disk+spec.volumeDisk(), make([]uint64, len(spec.Ports))); short != "" {
		return "no offer has enough unreserved " + short
	}
	return ""
}

// elsewhere lists the agents not in hand, offered for the set's role
// within the last SpreadMemory, that could have taken the pet.
func (f *Framework) elsewhere(p *Pet, spec *PetSet, cs []sdk.Constraint, placed []sdk.Placement, inHand map[string]bool, now time.Time) []sdk.Placement {
	var out []sdk.Placement
	for _, a := range f.seen.Recent(spec.Role, now.Add(-f.cfg.SpreadMemory)) {
		if !inHand[a.AgentID+" "+a.Role] && unfit(p, spec, cs, placed, a.Placement, sdk.NewSpace(a.Unreserved), now) == "" {
			out = append(out, a.Placement)
		}
	}
	return out
}

// reserve places pet p in the offer: a placement with its ports, and the
// RESERVE and CREATE operations. It reports whether it did.
func (f *Framework) reserve(p *Pet, spec *PetSet, o *mesospb.Offer, space *sdk.Space, now time.Time, undo *[]func(), ops *[]*mesospb.Offer_Operation) bool {
	_, ports, ok := space.TakePorts(spec.CPUs, spec.Mem, spec.Disk+spec.volumeDisk(), make([]uint64, len(spec.Ports)))
	if !ok {
		f.waiting[p.Name] = "no offer has enough unreserved resources"
		return false
	}
	cand := sdk.PlacementOf(o)
	pl := &Placement{ID: uuid.New().String(), AgentID: cand.AgentID, Hostname: cand.Hostname, Attributes: cand.Attributes,
		Role: spec.Role, CPUs: spec.CPUs, Mem: spec.Mem, Disk: spec.Disk, Ports: ports, Since: now}
	for _, v := range spec.Volumes {
		pl.Volumes = append(pl.Volumes, PlacedVolume{ContainerPath: v.ContainerPath, Size: v.Size,
			PersistenceID: persistenceID(p.Name, v.ContainerPath, pl.ID)})
	}
	*undo = append(*undo, func() { p.Placement = nil })
	p.Placement = pl
	f.markPet(p)
	delete(f.waiting, p.Name)
	f.log.Info("placing pet", "pet", p.Name, "agent", pl.Hostname, "placement", pl.ID, "ports", pl.Ports)
	*ops = append(*ops, &mesospb.Offer_Operation{Type: mesospb.Offer_Operation_RESERVE.Enum(), Id: opID("reserve", pl.ID),
		Reserve: &mesospb.Offer_Operation_Reserve{Resources: f.reservedResources(pl, p.Set, p.Ordinal, true)}})
	if len(pl.Volumes) > 0 {
		*ops = append(*ops, &mesospb.Offer_Operation{Type: mesospb.Offer_Operation_CREATE.Enum(), Id: opID("create", pl.ID),
			Create: &mesospb.Offer_Operation_Create{Volumes: f.volumeResources(pl, p.Set, p.Ordinal)}})
	}
	return true
}

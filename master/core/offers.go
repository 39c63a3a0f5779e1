package core

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/corral-sched/corral/master/allocator"
	"github.com/corral-sched/corral/proto/mesospb"
	"github.com/corral-sched/corral/proto/schedulerpb"
	"github.com/corral-sched/corral/resources"
)

// offersPerEvent keeps each OFFERS record well under the 4 MiB mesos-go
// reads in one piece.
const offersPerEvent = 256

// allocate runs one allocation round and sends the resulting offers.
func (m *Core) allocate(s *state) {
	// Frameworks with work on draining machines hear about it whenever
	// offers are made (new tasks there, new frameworks, new agents).
	defer m.sendInverseOffers(s)
	s.allocationPending = false
	start := time.Now()
	now := m.cfg.Now()
	snap := allocator.Snapshot{Now: now, Roles: s.allocatorRoles()}
	snap.Agents, snap.Cluster = s.roundAgents()
	if len(snap.Agents) == 0 {
		return
	}
	// Map order is random but not uniformly so; shuffle explicitly so that
	// no agent is systematically first (Mesos shuffles too).
	m.rng.Shuffle(len(snap.Agents), func(i, j int) { snap.Agents[i], snap.Agents[j] = snap.Agents[j], snap.Agents[i] })
	for _, f := range s.frameworks {
		if f.conn == nil {
			continue
		}
		for agentID, fls := range f.filters {
			if fls = slices.DeleteFunc(fls, func(fl allocator.Filter) bool { return !now.Before(fl.Expires) }); len(fls) == 0 {
				delete(f.filters, agentID)
			} else {
				f.filters[agentID] = fls
			}
		}
		snap.Frameworks = append(snap.Frameworks, allocator.Framework{
			ID: f.id, Roles: f.roles, Suppressed: f.suppressed, Allocated: f.allocated,
			Filters: f.filters, Capabilities: allocator.Capabilities{GPUResources: f.caps.gpu},
		})
	}
	if len(snap.Frameworks) == 0 {
		return
	}
	slices.SortFunc(snap.Frameworks, func(a, b allocator.Framework) int { return strings.Compare(a.ID, b.ID) })
	result := m.alloc.Allocate(&snap)
	m.metrics.allocationSeconds.Observe(time.Since(start).Seconds())
	m.recordUnoffered(s, &snap, result.Skips)

	byFramework := make(map[string][]*mesospb.Offer)
	for _, ao := range result.Offers {
		f, a := s.frameworks[ao.FrameworkID], s.agents[ao.AgentID]
		if f == nil || a == nil || ao.Resources.Empty() {
			continue
		}
		o := m.createOffer(s, f, a, ao.Role, ao.Resources)
		byFramework[f.id] = append(byFramework[f.id], m.offerMessage(s, f, a, o))
	}
	for id, offers := range byFramework {
		f := s.frameworks[id]
		for chunk := range slices.Chunk(offers, offersPerEvent) {
			m.sendToFramework(f, &schedulerpb.Event{
				Type:   schedulerpb.Event_OFFERS.Enum(),
				Offers: &schedulerpb.Event_Offers{Offers: chunk},
			})
		}
	}
}

// recordUnoffered keeps the round's reasons for the operator API and the
// metrics.
func (m *Core) recordUnoffered(s *state, snap *allocator.Snapshot, skips []allocator.Skip) {
	for _, f := range snap.Frameworks {
		if fw := s.frameworks[f.ID]; fw != nil {
			fw.unoffered = fw.unoffered[:0]
		}
	}
	s.unofferedByReason = make(map[allocator.Reason]int)
	for _, sk := range skips {
		if fw := s.frameworks[sk.FrameworkID]; fw != nil {
			fw.unoffered = append(fw.unoffered, sk)
		}
		s.unofferedByReason[sk.Reason]++
	}
}

func (m *Core) createOffer(s *state, f *framework, a *agentState, role string, res resources.Resources) *offer {
	s.nextOffer++
	o := &offer{
		id:          fmt.Sprintf("%s-O%d", m.term, s.nextOffer),
		frameworkID: f.id,
		agentID:     a.id,
		role:        role,
		resources:   res.Allocate(role),
		created:     m.cfg.Now(),
	}
	s.offers[o.id] = o
	f.offers[o.id] = o
	a.offers[o.id] = o
	s.hold(a, f, role, o.resources)
	if m.cfg.OfferTimeout > 0 {
		id := o.id
		o.timer = m.cfg.AfterFunc(m.cfg.OfferTimeout, func() {
			m.post(func(s *state) {
				if cur := s.offers[id]; cur != nil {
					m.log.Debug("offer timed out", "offer", id, "framework", cur.frameworkID)
					m.removeOffer(s, cur, true)
					// As if declined: without a filter the next round would
					// offer it straight back to the same framework (it sorts
					// first on a tie), and the neighbours would never see it.
					if f := s.frameworks[cur.frameworkID]; f != nil {
						m.addFilter(f, cur.agentID, cur.resources, nil)
					}
				}
			})
		})
	}
	return o
}

// removeOffer takes an offer back and returns its resources to the agent;
// with rescind the framework is told.
func (m *Core) removeOffer(s *state, o *offer, rescind bool) {
	if s.offers[o.id] != o {
		return
	}
	delete(s.offers, o.id)
	if o.timer != nil {
		o.timer.Stop()
	}
	f, a := s.frameworks[o.frameworkID], s.agents[o.agentID]
	s.release(a, f, o.role, o.resources)
	if a != nil {
		delete(a.offers, o.id)
	}
	if f != nil {
		delete(f.offers, o.id)
		if rescind {
			m.sendToFramework(f, &schedulerpb.Event{
				Type:    schedulerpb.Event_RESCIND.Enum(),
				Rescind: &schedulerpb.Event_Rescind{OfferId: &mesospb.OfferID{Value: proto.String(o.id)}},
			})
		}
	}
	s.allocationPending = true
}

// offerMessage renders an offer in the shape the framework's capabilities
// ask for (MESOS-V1-API.md §9.2).
func (m *Core) offerMessage(s *state, f *framework, a *agentState, o *offer) *mesospb.Offer {
	msg := &mesospb.Offer{
		Id:          &mesospb.OfferID{Value: proto.String(o.id)},
		FrameworkId: f.info.GetId(),
		AgentId:     &mesospb.AgentID{Value: proto.String(a.id)},
		Hostname:    proto.String(a.info.GetHostname()),
		Resources:   formatResources(o.resources, f.caps),
		Attributes:  a.info.GetAttributes(),
		ExecutorIds: a.executorIDs(f.id),
	}
	if u := s.maint.window(a); u != nil {
		msg.Unavailability = proto.CloneOf(u)
	}
	if f.caps.multiRole {
		msg.AllocationInfo = &mesospb.Resource_AllocationInfo{Role: proto.String(o.role)}
	}
	if port := a.info.GetPort(); port > 0 {
		msg.Url = &mesospb.URL{
			Scheme:  proto.String("http"),
			Address: &mesospb.Address{Hostname: proto.String(a.info.GetHostname()), Port: proto.Int32(port)},
		}
		if a.conn != nil && a.conn.ip != "" {
			msg.Url.Address.Ip = proto.String(a.conn.ip)
		}
	}
	return msg
}

// formatResources converts offered resources to the framework's shape:
// without MULTI_ROLE there is no allocation_info, and without
// RESERVATION_REFINEMENT reservations use the old role/reservation fields.
func formatResources(res resources.Resources, caps capabilities) []*mesospb.Resource {
	out := make([]*mesospb.Resource, len(res))
	for i, r := range res {
		r = proto.CloneOf(r)
		if !caps.multiRole {
			r.AllocationInfo = nil
		}
		if !caps.refinement {
			role := "*"
			if n := len(r.Reservations); n > 0 {
				last := r.Reservations[n-1]
				role = last.GetRole()
				if last.GetType() == mesospb.Resource_ReservationInfo_DYNAMIC {
					r.Reservation = &mesospb.Resource_ReservationInfo{Principal: last.Principal, Labels: last.Labels}
				}
			}
			r.Role = proto.String(role)
			r.Reservations = nil
		}
		out[i] = r
	}
	return out
}

// normalizeResources turns resources a framework sent back into the
// master's shape: post-refinement reservations and allocation_info set to
// the role of the offers they come from.
func normalizeResources(in []*mesospb.Resource, role string) resources.Resources {
	out := make(resources.Resources, len(in))
	for i, r := range in {
		r = resources.Normalize(r)
		if r.AllocationInfo == nil {
			r.AllocationInfo = &mesospb.Resource_AllocationInfo{Role: proto.String(role)}
		}
		out[i] = r
	}
	return out
}

// refuseDuration applies Mesos' rules to Filters.refuse_seconds.
func refuseDuration(f *mesospb.Filters) time.Duration {
	secs := DefaultRefuseSeconds
	if f != nil && f.RefuseSeconds != nil {
		secs = f.GetRefuseSeconds()
	}
	if math.IsNaN(secs) || secs < 0 {
		secs = DefaultRefuseSeconds
	}
	secs = min(secs, maxRefuseSeconds)
	return time.Duration(secs * float64(time.Second))
}

// addFilter keeps res on agent from being offered to f for the filter's
// duration.
func (m *Core) addFilter(f *framework, agentID string, res resources.Resources, filters *mesospb.Filters) {
	d := refuseDuration(filters)
	if d <= 0 || res.Empty() {
		return
	}
	if f.filters == nil {
		f.filters = make(map[string][]allocator.Filter)
	}
	f.filters[agentID] = append(f.filters[agentID], allocator.Filter{
		AgentID:   agentID,
		Resources: res.Unallocate(),
		Expires:   m.cfg.Now().Add(d),
	})
}

func (m *Core) decline(s *state, f *framework, ids []*mesospb.OfferID, filters *mesospb.Filters) {
	for _, id := range ids {
		o := f.offers[id.GetValue()]
		if o == nil {
			continue // unknown or already gone: nothing to give back
		}
		m.removeOffer(s, o, false)
		m.addFilter(f, o.agentID, o.resources, filters)
	}
}

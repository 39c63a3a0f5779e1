package core

import (
	"fmt"

	"google.golang.org/protobuf/proto"

	"github.com/corral-sched/corral/proto/agentpb"
	"github.com/corral-sched/corral/proto/mesospb"
	"github.com/corral-sched/corral/proto/schedulerpb"
	"github.com/corral-sched/corral/resources"
)

// Operations on resources (RESERVE, UNRESERVE, CREATE, DESTROY) change an
// agent's total: the master applies them to its books and sends the agent
// its new checkpointed resources, which the agent persists (and for
// volumes, creates or deletes the directories) before anything runs on
// them.

// conversion validates a resource operation and returns what it does, in
// the form of res (allocated to role when role is not "", as in offers;
// unallocated for operator calls). principal is the caller's, if known.
func (m *Core) conversion(a *agentState, op mesospb.Offer_Operation_Type, res resources.Resources, principal string) (resources.Conversion, string) {
	if len(res) == 0 {
		return resources.Conversion{}, fmt.Sprintf("%v names no resources", op)
	}
	// A reservation to "*" (or to no role) would be a resource that looks
	// unreserved to nobody: it could never be offered or merged again.
	if err := res.Validate(); err != nil {
		return resources.Conversion{}, fmt.Sprintf("%v: %v", op, err)
	}
	var (
		c   resources.Conversion
		err error
	)
	switch op {
	case mesospb.Offer_Operation_RESERVE:
		for _, x := range res {
			rs := x.GetReservations()
			if n := len(rs); n > 0 && principal != "" && rs[n-1].GetPrincipal() != "" && rs[n-1].GetPrincipal() != principal {
				return c, fmt.Sprintf("RESERVE: reservation principal %q does not match the framework's principal %q", rs[n-1].GetPrincipal(), principal)
			}
			if role := x.GetAllocationInfo().GetRole(); role != "" && resources.ReservedRole(x) != role {
				return c, fmt.Sprintf("RESERVE: the reservation role %q does not match the offer's role %q", resources.ReservedRole(x), role)
			}
		}
		c, err = resources.Reserve(res)
	case mesospb.Offer_Operation_UNRESERVE:
		c, err = resources.Unreserve(res)
	case mesospb.Offer_Operation_CREATE:
		if c, err = resources.Create(res); err == nil {
			for _, v := range res {
				id := v.GetDisk().GetPersistence().GetId()
				if p := v.GetDisk().GetPersistence().GetPrincipal(); principal != "" && p != "" && p != principal {
					return c, fmt.Sprintf("CREATE: volume %s's principal %q does not match the framework's %q", id, p, principal)
				}
				if existing := findVolume(a.total, resources.ReservedRole(v), id); existing != nil {
					return c, fmt.Sprintf("CREATE: persistent volume %s already exists on agent %s", id, a.id)
				}
			}
		}
	case mesospb.Offer_Operation_DESTROY:
		if c, err = resources.Destroy(res); err == nil {
			for _, v := range res {
				if t := volumeUser(a, v); t != nil {
					return c, fmt.Sprintf("DESTROY: persistent volume %s is in use by task %s", v.GetDisk().GetPersistence().GetId(), t.info.GetTaskId().GetValue())
				}
			}
		}
	default:
		return c, fmt.Sprintf("operation %v is not a resource operation", op)
	}
	if err != nil {
		return c, fmt.Sprintf("%v: %v", op, err)
	}
	return c, ""
}

// findVolume returns the volume of role with persistence ID id in r.
func findVolume(r resources.Resources, role, id string) *mesospb.Resource {
	for _, x := range r {
		if resources.IsVolume(x) && x.GetDisk().GetPersistence().GetId() == id && resources.ReservedRole(x) == role {
			return x
		}
	}
	return nil
}

// volumeUser returns a live task on a that uses volume v.
func volumeUser(a *agentState, v *mesospb.Resource) *task {
	for _, t := range a.tasks {
		if t.released || mesospb.IsTerminal(t.state) {
			continue
		}
		if findVolume(t.resources, resources.ReservedRole(v), v.GetDisk().GetPersistence().GetId()) != nil {
			return t
		}
	}
	return nil
}

func unallocated(c resources.Conversion) resources.Conversion {
	return resources.Conversion{Consumed: c.Consumed.Unallocate(), Converted: c.Converted.Unallocate()}
}

// applyToAgent changes a's total and sends it its checkpointed resources.
func (m *Core) applyToAgent(s *state, a *agentState, c resources.Conversion) error {
	total, err := a.total.Apply(unallocated(c))
	if err != nil {
		return err
	}
	s.setTotal(a, total)
	m.sendToAgent(a, &agentpb.Event{
		Type:                agentpb.Event_CHECKPOINT_RESOURCES.Enum(),
		CheckpointResources: &agentpb.Event_CheckpointResources{Resources: total.Checkpointed()},
	})
	return nil
}

// offerOperation applies a resource operation of an ACCEPT to what the
// offers hold, and returns what they hold after it.
func (m *Core) offerOperation(s *state, f *framework, a *agentState, role string, op *mesospb.Offer_Operation, remaining resources.Resources) resources.Resources {
	var res []*mesospb.Resource
	switch op.GetType() {
	case mesospb.Offer_Operation_RESERVE:
		res = op.GetReserve().GetResources()
	case mesospb.Offer_Operation_UNRESERVE:
		res = op.GetUnreserve().GetResources()
	case mesospb.Offer_Operation_CREATE:
		res = op.GetCreate().GetVolumes()
	case mesospb.Offer_Operation_DESTROY:
		res = op.GetDestroy().GetVolumes()
	}
	msg := m.authorizeResourceOp(f.info.GetPrincipal(), op.GetType(), res)
	var c resources.Conversion
	if msg == "" {
		c, msg = m.conversion(a, op.GetType(), normalizeResources(res, role), f.info.GetPrincipal())
	}
	if msg == "" {
		next, err := remaining.Apply(c)
		if err != nil {
			msg = fmt.Sprintf("%v needs resources the offers do not hold: %v", op.GetType(), err)
		} else if err := m.applyToAgent(s, a, c); err != nil {
			msg = fmt.Sprintf("%v does not fit the agent: %v", op.GetType(), err)
		} else {
			m.log.Info("resource operation", "framework", f.id, "agent", a.id, "type", op.GetType().String(),
				"consumed", c.Consumed.String(), "converted", c.Converted.String())
			m.operationStatus(f, a, op, mesospb.OperationState_OPERATION_FINISHED, "")
			return next
		}
	}
	m.log.Info("resource operation refused", "framework", f.id, "agent", a.id, "type", op.GetType().String(), "reason", msg)
	m.operationStatus(f, a, op, mesospb.OperationState_OPERATION_ERROR, msg)
	return remaining
}

// operationStatus tells the framework how an operation with an ID ended;
// operations without one get no feedback, as in Mesos.
func (m *Core) operationStatus(f *framework, a *agentState, op *mesospb.Offer_Operation, st mesospb.OperationState, msg string) {
	if op.GetId().GetValue() == "" {
		return
	}
	m.sendToFramework(f, &schedulerpb.Event{
		Type: schedulerpb.Event_UPDATE_OPERATION_STATUS.Enum(),
		UpdateOperationStatus: &schedulerpb.Event_UpdateOperationStatus{Status: &mesospb.OperationStatus{
			OperationId: op.GetId(),
			State:       st.Enum(),
			Message:     optionalString(msg),
			AgentId:     &mesospb.AgentID{Value: proto.String(a.id)},
		}},
	})
}

// operatorOperation runs an operator's RESERVE_RESOURCES,
// UNRESERVE_RESOURCES, CREATE_VOLUMES or DESTROY_VOLUMES on an agent's
// unused resources; offers on the agent are rescinded first so that they
// can be used.
func (m *Core) operatorOperation(s *state, agentID string, op mesospb.Offer_Operation_Type, res []*mesospb.Resource) Result {
	a := s.agents[agentID]
	switch {
	case agentID == "":
		return badRequest("Expecting 'agent_id' to be present")
	case a == nil:
		return Result{Code: NotFound, Msg: "Agent " + agentID + " is not known to this master"}
	case a.health != agentActive || a.conn == nil:
		return Result{Code: Conflict, Msg: "Agent " + agentID + " is not connected; its resources cannot change now"}
	}
	norm := make(resources.Resources, len(res))
	for i, x := range res {
		if err := resources.Resources([]*mesospb.Resource{x}).Validate(); err != nil {
			return badRequest("Invalid resources: %v", err)
		}
		x = resources.Normalize(x)
		x.AllocationInfo = nil
		norm[i] = x
	}
	c, msg := m.conversion(a, op, norm, "")
	if msg != "" {
		return badRequest("%s", msg)
	}
	for _, o := range a.offers {
		m.removeOffer(s, o, true)
	}
	if !a.available().Contains(c.Consumed) {
		return Result{Code: Conflict, Msg: fmt.Sprintf("%v: agent %s does not have %s unused (it has %s)", op, a.id, c.Consumed, a.available())}
	}
	if err := m.applyToAgent(s, a, c); err != nil {
		return Result{Code: Conflict, Msg: fmt.Sprintf("%v: %v", op, err)}
	}
	m.log.Info("operator resource operation", "agent", a.id, "type", op.String(), "consumed", c.Consumed.String(), "converted", c.Converted.String())
	s.allocationPending = true
	return Result{}
}

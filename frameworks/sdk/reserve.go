package sdk

import (
	"maps"
	"slices"

	"google.golang.org/protobuf/proto"

	"github.com/corral-sched/corral/proto/mesospb"
	"github.com/corral-sched/corral/resources"
)

// Reservations and persistent volumes are for frameworks with the
// MULTI_ROLE and RESERVATION_REFINEMENT capabilities, the form every
// helper here writes: a stack of reservations and the allocation's role.

// Reserve returns res dynamically reserved for role by principal, with
// labels (nil for none), in the shape a RESERVE operation takes and later
// offers to role show. Reserved resources are offered to role alone, and
// come back to it when its tasks end, until they are unreserved.
func Reserve(res resources.Resources, role, principal string, labels map[string]string) resources.Resources {
	ri := &mesospb.Resource_ReservationInfo{Type: mesospb.Resource_ReservationInfo_DYNAMIC.Enum(), Role: proto.String(role)}
	if principal != "" {
		ri.Principal = proto.String(principal)
	}
	if len(labels) > 0 {
		ri.Labels = &mesospb.Labels{}
		for _, k := range slices.Sorted(maps.Keys(labels)) {
			ri.Labels.Labels = append(ri.Labels.Labels, &mesospb.Label{Key: proto.String(k), Value: proto.String(labels[k])})
		}
	}
	out := make(resources.Resources, 0, len(res))
	for _, r := range res {
		r = proto.CloneOf(r)
		r.Role, r.Reservation = nil, nil
		r.Reservations = append(r.Reservations, proto.CloneOf(ri))
		r.AllocationInfo = &mesospb.Resource_AllocationInfo{Role: proto.String(role)}
		out = append(out, r)
	}
	return out
}

// Volume makes reserved disk (a scalar "disk" resource from Reserve) a
// persistent volume: id names it (unique on its agent), and tasks that use
// it see it read-write at containerPath, a path relative to their sandbox.
// A volume outlives the tasks that use it and is offered, as a whole, to
// its role until destroyed.
func Volume(disk *mesospb.Resource, id, containerPath, principal string) *mesospb.Resource {
	v := proto.CloneOf(disk)
	v.Disk = &mesospb.Resource_DiskInfo{
		Persistence: &mesospb.Resource_DiskInfo_Persistence{Id: proto.String(id)},
		Volume:      &mesospb.Volume{ContainerPath: proto.String(containerPath), Mode: mesospb.Volume_RW.Enum()},
	}
	if principal != "" {
		v.Disk.Persistence.Principal = proto.String(principal)
	}
	return v
}

// ReserveOperation reserves resources (from Reserve) of an offer.
func ReserveOperation(res resources.Resources) *mesospb.Offer_Operation {
	return &mesospb.Offer_Operation{Type: mesospb.Offer_Operation_RESERVE.Enum(), Reserve: &mesospb.Offer_Operation_Reserve{Resources: res}}
}

// UnreserveOperation gives reserved resources back to the agent's
// unreserved pool.
func UnreserveOperation(res resources.Resources) *mesospb.Offer_Operation {
	return &mesospb.Offer_Operation{Type: mesospb.Offer_Operation_UNRESERVE.Enum(), Unreserve: &mesospb.Offer_Operation_Unreserve{Resources: res}}
}

// CreateOperation creates persistent volumes (from Volume) on reserved
// disk; it may follow the RESERVE of that disk in the same ACCEPT.
func CreateOperation(volumes ...*mesospb.Resource) *mesospb.Offer_Operation {
	return &mesospb.Offer_Operation{Type: mesospb.Offer_Operation_CREATE.Enum(), Create: &mesospb.Offer_Operation_Create{Volumes: volumes}}
}

// DestroyOperation destroys persistent volumes and their data; their disk
// stays reserved.
func DestroyOperation(volumes ...*mesospb.Resource) *mesospb.Offer_Operation {
	return &mesospb.Offer_Operation{Type: mesospb.Offer_Operation_DESTROY.Enum(), Destroy: &mesospb.Offer_Operation_Destroy{Volumes: volumes}}
}

// LaunchGroupOperation launches tasks as one group under executor (a
// DEFAULT executor, or a CUSTOM one that speaks the v1 executor API): they
// start together and, if one fails, the others are killed.
func LaunchGroupOperation(executor *mesospb.ExecutorInfo, tasks ...*mesospb.TaskInfo) *mesospb.Offer_Operation {
	return &mesospb.Offer_Operation{Type: mesospb.Offer_Operation_LAUNCH_GROUP.Enum(),
		LaunchGroup: &mesospb.Offer_Operation_LaunchGroup{Executor: executor, TaskGroup: &mesospb.TaskGroupInfo{Tasks: tasks}}}
}

// Labeled keeps the resources whose own (last) reservation carries label
// key=value: how a framework finds, in an offer, what it reserved for one
// purpose.
func Labeled(res []*mesospb.Resource, key, value string) resources.Resources {
	var out resources.Resources
	for _, r := range res {
		rs := r.GetReservations()
		if len(rs) == 0 {
			continue
		}
		for _, l := range rs[len(rs)-1].GetLabels().GetLabels() {
			if l.GetKey() == key && l.GetValue() == value {
				out = append(out, r)
				break
			}
		}
	}
	return out
}

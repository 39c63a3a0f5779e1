package pets

import (
	"strconv"
	"strings"

	"google.golang.org/protobuf/proto"

	"github.com/corral-sched/corral/proto/mesospb"
	"github.com/corral-sched/corral/resources"
)

// A pet's resources are dynamically reserved for its set's role, with
// labels naming the framework, the set, the ordinal and the placement. The
// placement label is what a relaunch looks for in offers: resources
// reserved for anything else are never taken for a pet's.

// Reservation labels.
const (
	labelFramework = "corral.pets.framework"
	labelSet       = "corral.pets.set"
	labelOrdinal   = "corral.pets.ordinal"
	labelPlacement = "corral.pets.placement"
)

func (f *Framework) reservationInfo(pl *Placement, set string, ordinal int) *mesospb.Resource_ReservationInfo {
	label := func(k, v string) *mesospb.Label { return &mesospb.Label{Key: proto.String(k), Value: proto.String(v)} }
	return &mesospb.Resource_ReservationInfo{
		Type:      mesospb.Resource_ReservationInfo_DYNAMIC.Enum(),
		Role:      proto.String(pl.Role),
		Principal: proto.String(f.cfg.Principal),
		Labels: &mesospb.Labels{Labels: []*mesospb.Label{
			label(labelFramework, f.cfg.Name), label(labelSet, set),
			label(labelOrdinal, strconv.Itoa(ordinal)), label(labelPlacement, pl.ID),
		}},
	}
}

// reservedResources is what a placement reserves (in the shape offers
// and operations use): cpus, mem, disk for the sandbox and the volumes,
// and the pet's ports.
func (f *Framework) reservedResources(pl *Placement, set string, ordinal int, withVolumeDisk bool) resources.Resources {
	ri := f.reservationInfo(pl, set, ordinal)
	shape := func(r *mesospb.Resource) *mesospb.Resource {
		r.Reservations = []*mesospb.Resource_ReservationInfo{proto.CloneOf(ri)}
		r.AllocationInfo = &mesospb.Resource_AllocationInfo{Role: proto.String(pl.Role)}
		return r
	}
	var out resources.Resources
	if pl.CPUs > 0 {
		out = append(out, shape(resources.Scalar("cpus", pl.CPUs)))
	}
	if pl.Mem > 0 {
		out = append(out, shape(resources.Scalar("mem", pl.Mem)))
	}
	disk := pl.Disk
	if withVolumeDisk {
		for _, v := range pl.Volumes {
			disk += v.Size
		}
	}
	if disk > 0 {
		out = append(out, shape(resources.Scalar("disk", disk)))
	}
	if len(pl.Ports) > 0 {
		var ranges []*mesospb.Value_Range
		for _, p := range pl.Ports {
			ranges = append(ranges, &mesospb.Value_Range{Begin: proto.Uint64(p), End: proto.Uint64(p)})
		}
		out = append(out, shape(&mesospb.Resource{Name: proto.String("ports"), Type: mesospb.Value_RANGES.Enum(),
			Ranges: &mesospb.Value_Ranges{Range: ranges}}))
	}
	return out
}

// volumeResources is a placement's persistent volumes.
func (f *Framework) volumeResources(pl *Placement, set string, ordinal int) resources.Resources {
	ri := f.reservationInfo(pl, set, ordinal)
	var out resources.Resources
	for _, v := range pl.Volumes {
		r := resources.Scalar("disk", v.Size)
		r.Reservations = []*mesospb.Resource_ReservationInfo{proto.CloneOf(ri)}
		r.AllocationInfo = &mesospb.Resource_AllocationInfo{Role: proto.String(pl.Role)}
		r.Disk = &mesospb.Resource_DiskInfo{
			Persistence: &mesospb.Resource_DiskInfo_Persistence{Id: proto.String(v.PersistenceID), Principal: proto.String(f.cfg.Principal)},
			Volume:      &mesospb.Volume{ContainerPath: proto.String(v.ContainerPath), Mode: mesospb.Volume_RW.Enum()},
		}
		out = append(out, r)
	}
	return out
}

// taskResources is what a pet's task uses: everything of its placement.
func (f *Framework) taskResources(pl *Placement, set string, ordinal int) resources.Resources {
	return append(f.reservedResources(pl, set, ordinal, false), f.volumeResources(pl, set, ordinal)...)
}

// reservationLabels returns the labels of a resource's own (last)
// reservation.
func reservationLabels(r *mesospb.Resource) map[string]string {
	rs := resources.Normalize(r).GetReservations()
	if len(rs) == 0 {
		return nil
	}
	out := map[string]string{}
	for _, l := range rs[len(rs)-1].GetLabels().GetLabels() {
		out[l.GetKey()] = l.GetValue()
	}
	return out
}

// byPlacement groups an offer's resources reserved by this framework by
// placement ID.
func (f *Framework) byPlacement(offered []*mesospb.Resource) map[string]resources.Resources {
	out := map[string]resources.Resources{}
	for _, r := range offered {
		l := reservationLabels(r)
		if l[labelFramework] != f.cfg.Name || l[labelPlacement] == "" {
			continue
		}
		out[l[labelPlacement]] = append(out[l[labelPlacement]], r)
	}
	return out
}

// persistenceID names a pet's volume: set, ordinal and path, made unique
// per placement so that a replaced pet never meets its old data.
func persistenceID(name, containerPath, placementID string) string {
	path := strings.Map(func(r rune) rune {
		if r == '/' || r == '.' {
			return '_'
		}
		return r
	}, containerPath)
	return name + "-" + path + "-" + placementID[:8]
}

package sdk

import (
	"fmt"

	"google.golang.org/protobuf/proto"

	"github.com/corral-sched/corral/proto/mesospb"
	"github.com/corral-sched/corral/resources"
)

// Space tracks what is left of an offer while tasks are packed into it.
type Space struct {
	// Offer is the offer being packed; Space never modifies it.
	Offer *mesospb.Offer
	role  string
	left  resources.Resources
}

// NewSpace starts packing offer.
func NewSpace(offer *mesospb.Offer) *Space {
	role := offer.GetAllocationInfo().GetRole()
	if role == "" && len(offer.GetResources()) > 0 {
		role = offer.GetResources()[0].GetAllocationInfo().GetRole()
	}
	return &Space{Offer: offer, role: role, left: resources.Resources(offer.GetResources()).Clone()}
}

// Left returns what has not been taken yet.
func (s *Space) Left() resources.Resources { return s.left.Clone() }

// Take reserves cpus, mem and disk (those above zero) and n ports from the
// offer, returning the task's resources in the offer's shape, or false if
// they do not fit.
func (s *Space) Take(cpus, mem, disk float64, ports int) (resources.Resources, bool) {
	need := s.scalars(cpus, mem, disk)
	if ports > 0 {
		picked := pickPorts(s.left.Ranges("ports"), ports)
		if picked == nil {
			return nil, false
		}
		need = append(need, s.shape(&mesospb.Resource{
			Name: proto.String("ports"), Type: mesospb.Value_RANGES.Enum(),
			Ranges: &mesospb.Value_Ranges{Range: picked},
		}))
	}
	if !s.left.Contains(need) {
		return nil, false
	}
	s.left = s.left.Subtract(need)
	return need, true
}

// Shortfall names the first resource of cpus, mem, disk and ports (each
// entry a wanted port, 0 for any) the space cannot give, or "" if it can.
func (s *Space) Shortfall(cpus, mem, disk float64, ports []uint64) string {
	for _, q := range []struct {
		name string
		v    float64
	}{{"cpus", cpus}, {"mem", mem}, {"disk", disk}} {
		if q.v > 0 && s.left.ScalarValue(q.name) < q.v-1e-9 {
			return q.name
		}
	}
	if len(ports) > 0 && pickSpecificPorts(s.left.Ranges("ports"), ports) == nil {
		return "ports"
	}
	return ""
}

// scalars are cpus, mem and disk (those above zero) in the offer's shape.
func (s *Space) scalars(cpus, mem, disk float64) resources.Resources {
	var need resources.Resources
	for _, q := range []struct {
		name string
		v    float64
	}{{"cpus", cpus}, {"mem", mem}, {"disk", disk}} {
		if q.v > 0 {
			need = append(need, s.shape(resources.Scalar(q.name, q.v)))
		}
	}
	return need
}

// TakePorts is Take with particular ports: each entry of ports is a port
// the task needs, or 0 for any free one. The picked ports are returned in
// the order asked (a ports resource cannot keep an order).
func (s *Space) TakePorts(cpus, mem, disk float64, ports []uint64) (resources.Resources, []uint64, bool) {
	need := s.scalars(cpus, mem, disk)
	var picked []uint64
	if len(ports) > 0 {
		picked = pickSpecificPorts(s.left.Ranges("ports"), ports)
		if picked == nil {
			return nil, nil, false
		}
		var ranges []*mesospb.Value_Range
		for _, p := range picked {
			ranges = append(ranges, &mesospb.Value_Range{Begin: proto.Uint64(p), End: proto.Uint64(p)})
		}
		need = append(need, s.shape(&mesospb.Resource{
			Name: proto.String("ports"), Type: mesospb.Value_RANGES.Enum(),
			Ranges: &mesospb.Value_Ranges{Range: ranges},
		}))
	}
	if !s.left.Contains(need) {
		return nil, nil, false
	}
	s.left = s.left.Subtract(need)
	return need, picked, true
}

// pickSpecificPorts returns, for each wanted port, that port if it is in
// ranges, or for 0 the lowest free port not otherwise taken; nil if any
// cannot be had.
func pickSpecificPorts(ranges []*mesospb.Value_Range, want []uint64) []uint64 {
	in := func(p uint64) bool {
		for _, r := range ranges {
			if p >= r.GetBegin() && p <= r.GetEnd() {
				return true
			}
		}
		return false
	}
	taken := make(map[uint64]bool, len(want))
	out := make([]uint64, len(want))
	for i, p := range want {
		if p == 0 {
			continue
		}
		if !in(p) || taken[p] {
			return nil
		}
		taken[p] = true
		out[i] = p
	}
	next := 0 // index into ranges
	var cur uint64
	for i, p := range want {
		if p != 0 {
			continue
		}
		for {
			if next >= len(ranges) {
				return nil
			}
			r := ranges[next]
			if cur < r.GetBegin() {
				cur = r.GetBegin()
			}
			if cur > r.GetEnd() {
				next++
				continue
			}
			if taken[cur] {
				cur++
				continue
			}
			break
		}
		out[i] = cur
		taken[cur] = true
		cur++
	}
	return out
}

// shape gives r the offer's allocation role and the old-style role field
// when the offer uses it, so that the master matches it to the offer.
func (s *Space) shape(r *mesospb.Resource) *mesospb.Resource {
	if s.role != "" {
		r.AllocationInfo = &mesospb.Resource_AllocationInfo{Role: proto.String(s.role)}
	}
	for _, o := range s.Offer.GetResources() {
		if o.Role != nil {
			r.Role = proto.String("*")
			break
		}
	}
	return r
}

// pickPorts takes the first n ports of the ranges, or nil if there are not
// enough.
func pickPorts(ranges []*mesospb.Value_Range, n int) []*mesospb.Value_Range {
	var out []*mesospb.Value_Range
	for _, r := range ranges {
		if n == 0 {
			break
		}
		count := r.GetEnd() - r.GetBegin() + 1
		take := min(count, uint64(n))
		out = append(out, &mesospb.Value_Range{Begin: proto.Uint64(r.GetBegin()), End: proto.Uint64(r.GetBegin() + take - 1)})
		n -= int(take)
	}
	if n > 0 {
		return nil
	}
	return out
}

// CommandTask builds a task running a shell command.
func CommandTask(name, id string, offer *mesospb.Offer, cmd string, res resources.Resources) *mesospb.TaskInfo {
	return &mesospb.TaskInfo{
		Name:      proto.String(name),
		TaskId:    &mesospb.TaskID{Value: proto.String(id)},
		AgentId:   offer.GetAgentId(),
		Resources: res,
		Command:   &mesospb.CommandInfo{Value: proto.String(cmd), Shell: proto.Bool(true)},
	}
}

// Terminal reports whether a task state is final.
func Terminal(s mesospb.TaskState) bool { return mesospb.IsTerminal(s) }

// Describe formats a status for logs and errors.
func Describe(st *mesospb.TaskStatus) string {
	s := fmt.Sprintf("%s %s", st.GetTaskId().GetValue(), st.GetState())
	if st.Reason != nil {
		s += " (" + st.GetReason().String() + ")"
	}
	if m := st.GetMessage(); m != "" {
		s += ": " + m
	}
	return s
}

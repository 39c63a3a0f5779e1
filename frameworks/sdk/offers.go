package sdk

import (
	"fmt"

	"google.golang.org/protobuf/proto"

	"github.com/corral-sched/corral/proto/mesospb"
	"github.com/corral-sched/corral/resources"
)

// Space tracks what is left of an offer while tasks are packed into it.
type Space struct {
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
	var need resources.Resources
	for _, q := range []struct {
		name string
		v    float64
	}{{"cpus", cpus}, {"mem", mem}, {"disk", disk}} {
		if q.v > 0 {
			need = append(need, s.shape(resources.Scalar(q.name, q.v)))
		}
	}
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

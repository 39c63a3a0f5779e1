// Package resources does arithmetic on Mesos resources: the cpus, mem,
// disk and ports an agent has, a task needs, or an offer holds.
//
// A Resources value is a bag of mesospb.Resource entries. Entries of the
// same kind (name, type, reservations, allocation role, disk identity,
// revocable, shared, provider) combine: scalars add up (in fixed point with
// three decimals, as Mesos keeps them), ranges merge, sets unite. Entries of
// different kinds stay apart, so "cpus:2" and "cpus(eng):2" are two entries.
// Persistent volumes are atomic: they never merge or split.
//
// Every operation returns a new value and leaves its inputs alone.
package resources

import (
	"cmp"
	"math"
	"slices"
	"strings"

	"google.golang.org/protobuf/proto"

	"github.com/corral-sched/corral/proto/mesospb"
)

// Resources is a bag of resources. The zero value is empty.
type Resources []*mesospb.Resource

// Scalar returns an unreserved scalar resource.
func Scalar(name string, v float64) *mesospb.Resource {
	return &mesospb.Resource{
		Name:   proto.String(name),
		Type:   mesospb.Value_SCALAR.Enum(),
		Scalar: &mesospb.Value_Scalar{Value: proto.Float64(v)},
	}
}

// Range returns an unreserved ranges resource holding [begin, end].
func Range(name string, begin, end uint64) *mesospb.Resource {
	return &mesospb.Resource{
		Name: proto.String(name),
		Type: mesospb.Value_RANGES.Enum(),
		Ranges: &mesospb.Value_Ranges{Range: []*mesospb.Value_Range{
			{Begin: proto.Uint64(begin), End: proto.Uint64(end)},
		}},
	}
}

// Set returns an unreserved set resource.
func Set(name string, items ...string) *mesospb.Resource {
	return &mesospb.Resource{
		Name: proto.String(name),
		Type: mesospb.Value_SET.Enum(),
		Set:  &mesospb.Value_Set{Item: slices.Clone(items)},
	}
}

// milli converts a scalar to the fixed point Mesos uses.
func milli(v float64) int64 { return int64(math.Round(v * 1000)) }

func fromMilli(m int64) float64 { return float64(m) / 1000 }

// Add returns r plus o.
func (r Resources) Add(o Resources) Resources {
	out := r.Clone()
	for _, x := range o {
		out = out.addOne(x)
	}
	return out.sorted()
}

// Subtract returns r minus o. Amounts never go below zero: subtracting
// more than r holds leaves nothing of that kind (use Contains first when
// that matters).
func (r Resources) Subtract(o Resources) Resources {
	out := r.Clone()
	for _, x := range o {
		out = out.subtractOne(x)
	}
	return out.sorted()
}

// Contains reports whether o can be subtracted from r exactly.
func (r Resources) Contains(o Resources) bool {
	if contains, ok := r.containsDistinct(o); ok {
		return contains
	}
	return r.containsBySubtracting(o)
}

// containsDistinct answers Contains without copying either side when each
// kind of resource occurs once in o and none is atomic (a volume, a shared
// resource): then no check can be affected by another's subtraction. That
// is the allocator's case, a candidate offer against each filter, where
// the copies cost more than the checks. ok is false otherwise.
func (r Resources) containsDistinct(o Resources) (contains, ok bool) {
	var buf [8]string
	keys := buf[:0]
	for _, x := range o {
		if atomic(x) {
			return false, false
		}
		k := kindKey(x)
		if slices.Contains(keys, k) {
			return false, false
		}
		keys = append(keys, k)
	}
	for i, x := range o {
		j := r.findKey(keys[i])
		switch {
		case j < 0 && isEmptyValue(x):
		case j < 0 || !containsValue(r[j], x):
			return false, true
		}
	}
	return true, true
}

// containsBySubtracting is Contains in general: o normalized, each entry
// checked against and then taken from a copy of r.
func (r Resources) containsBySubtracting(o Resources) bool {
	left := r.Clone()
	for _, x := range normalizeAll(o) {
		i := left.find(x)
		if i < 0 {
			if isEmptyValue(x) {
				continue
			}
			return false
		}
		if !containsValue(left[i], x) {
			return false
		}
		left = left.subtractOne(x)
	}
	return true
}

// Equal reports whether r and o hold the same resources.
func (r Resources) Equal(o Resources) bool { return r.Contains(o) && o.Contains(r) }

// Empty reports whether r holds nothing.
func (r Resources) Empty() bool {
	for _, x := range r {
		if !isEmptyValue(x) {
			return false
		}
	}
	return true
}

// Clone returns a deep copy of r in normal form.
func (r Resources) Clone() Resources {
	out := make(Resources, 0, len(r))
	for _, x := range r {
		out = out.addOne(x)
	}
	return out
}

// ScalarValue returns the sum of all scalar entries named name.
func (r Resources) ScalarValue(name string) float64 {
	var m int64
	for _, x := range r {
		if x.GetName() == name && x.GetType() == mesospb.Value_SCALAR {
			m += milli(x.GetScalar().GetValue())
		}
	}
	return fromMilli(m)
}

// Ranges returns the merged ranges of every entry named name.
func (r Resources) Ranges(name string) []*mesospb.Value_Range {
	var all []*mesospb.Value_Range
	for _, x := range r {
		if x.GetName() == name && x.GetType() == mesospb.Value_RANGES {
			all = append(all, x.GetRanges().GetRange()...)
		}
	}
	return mergeRanges(all)
}

// Quantities sums the scalars of r by name, whatever their reservations.
func (r Resources) Quantities() map[string]float64 {
	q := make(map[string]int64)
	for _, x := range r {
		switch x.GetType() {
		case mesospb.Value_SCALAR:
			q[x.GetName()] += milli(x.GetScalar().GetValue())
		case mesospb.Value_RANGES:
			// Ports and the like count as how many they are, which is what
			// shares and metrics need.
			for _, rg := range x.GetRanges().GetRange() {
				q[x.GetName()] += int64(rg.GetEnd()-rg.GetBegin()+1) * 1000
			}
		}
	}
	out := make(map[string]float64, len(q))
	for k, v := range q {
		out[k] = fromMilli(v)
	}
	return out
}

// Names returns the distinct resource names in r, sorted.
func (r Resources) Names() []string {
	var names []string
	for _, x := range r {
		if !slices.Contains(names, x.GetName()) {
			names = append(names, x.GetName())
		}
	}
	slices.Sort(names)
	return names
}

// Filter returns the entries of r for which keep is true.
func (r Resources) Filter(keep func(*mesospb.Resource) bool) Resources {
	var out Resources
	for _, x := range r {
		if keep(x) {
			out = append(out, proto.CloneOf(x))
		}
	}
	return out
}

// Allocate returns r with allocation_info.role set to role on every entry.
func (r Resources) Allocate(role string) Resources {
	out := make(Resources, 0, len(r))
	for _, x := range r {
		x = proto.CloneOf(x)
		x.AllocationInfo = &mesospb.Resource_AllocationInfo{Role: proto.String(role)}
		out = out.addOne(x)
	}
	return out.sorted()
}

// Unallocate returns r without allocation_info.
func (r Resources) Unallocate() Resources {
	out := make(Resources, 0, len(r))
	for _, x := range r {
		x = proto.CloneOf(x)
		x.AllocationInfo = nil
		out = out.addOne(x)
	}
	return out.sorted()
}

// Unreserved returns the entries of r that carry no reservation.
func (r Resources) Unreserved() Resources {
	return r.Filter(func(x *mesospb.Resource) bool { return ReservedRole(x) == "" })
}

// Reserved returns the entries of r reserved (last) to role.
func (r Resources) Reserved(role string) Resources {
	return r.Filter(func(x *mesospb.Resource) bool { return ReservedRole(x) == role })
}

// AllocatableTo returns what of r a framework in role may be offered:
// unreserved entries and those reserved to role or one of its ancestors.
func (r Resources) AllocatableTo(role string) Resources {
	return r.Filter(func(x *mesospb.Resource) bool {
		rr := ReservedRole(x)
		return rr == "" || rr == role || IsAncestor(rr, role)
	})
}

// ReservedRole returns the role x is reserved to (the most refined
// reservation), or "" when it is unreserved.
func ReservedRole(x *mesospb.Resource) string {
	if n := len(x.GetReservations()); n > 0 {
		return x.GetReservations()[n-1].GetRole()
	}
	if x.Role != nil && x.GetRole() != "*" {
		return x.GetRole()
	}
	return ""
}

// String formats r in the text syntax Parse reads.
func (r Resources) String() string { return Format(r) }

func (r Resources) sorted() Resources {
	slices.SortStableFunc(r, func(a, b *mesospb.Resource) int {
		if c := cmp.Compare(a.GetName(), b.GetName()); c != 0 {
			return c
		}
		return strings.Compare(kindKey(a), kindKey(b))
	})
	return r
}

package resources

import (
	"slices"
	"strconv"
	"strings"

	"google.golang.org/protobuf/proto"

	"github.com/corral-sched/corral/proto/mesospb"
)

// Normalize returns a copy of x in the post-refinement shape, which is the
// one this package works in: a pre-refinement role/reservation becomes a
// one-entry reservations stack; ranges are merged, set items sorted and
// scalars rounded to Mesos' three decimals.
func Normalize(x *mesospb.Resource) *mesospb.Resource {
	x = proto.CloneOf(x)
	if len(x.Reservations) == 0 && x.Role != nil && x.GetRole() != "*" {
		res := &mesospb.Resource_ReservationInfo{
			Type: mesospb.Resource_ReservationInfo_STATIC.Enum(),
			Role: x.Role,
		}
		if x.Reservation != nil {
			res.Type = mesospb.Resource_ReservationInfo_DYNAMIC.Enum()
			res.Principal, res.Labels = x.Reservation.Principal, x.Reservation.Labels
		}
		x.Reservations = []*mesospb.Resource_ReservationInfo{res}
	}
	x.Role, x.Reservation = nil, nil
	if x.GetType() == mesospb.Value_RANGES && x.Ranges != nil {
		x.Ranges.Range = mergeRanges(x.Ranges.Range)
	}
	if x.GetType() == mesospb.Value_SET && x.Set != nil {
		x.Set.Item = sortedUnique(x.Set.Item)
	}
	if x.GetType() == mesospb.Value_SCALAR && x.Scalar != nil {
		x.Scalar.Value = proto.Float64(fromMilli(milli(x.Scalar.GetValue())))
	}
	return x
}

func normalizeAll(r Resources) Resources {
	out := make(Resources, 0, len(r))
	for _, x := range r {
		out = out.addOne(x)
	}
	return out
}

// kindKey identifies what may combine with what. Two entries with the same
// key are the same kind of resource.
func kindKey(x *mesospb.Resource) string {
	var b strings.Builder
	b.WriteString(x.GetName())
	b.WriteByte(0)
	b.WriteString(x.GetType().String())
	reservations := x.GetReservations()
	if len(reservations) == 0 && x.Role != nil && x.GetRole() != "*" {
		reservations = Normalize(x).GetReservations()
	}
	for _, r := range reservations {
		b.WriteString("\x00r:")
		b.WriteString(r.GetType().String())
		b.WriteByte('/')
		b.WriteString(r.GetRole())
		b.WriteByte('/')
		b.WriteString(r.GetPrincipal())
		for _, l := range r.GetLabels().GetLabels() {
			b.WriteString("/" + l.GetKey() + "=" + l.GetValue())
		}
	}
	if x.AllocationInfo != nil {
		b.WriteString("\x00a:" + x.GetAllocationInfo().GetRole())
	}
	if x.Disk != nil {
		d, _ := proto.MarshalOptions{Deterministic: true}.Marshal(x.Disk)
		b.WriteString("\x00d:")
		b.Write(d)
	}
	if x.Revocable != nil {
		b.WriteString("\x00revocable")
	}
	if x.Shared != nil {
		b.WriteString("\x00shared")
	}
	if x.ProviderId != nil {
		b.WriteString("\x00p:" + x.GetProviderId().GetValue())
	}
	return b.String()
}

// atomic entries (persistent volumes, shared resources) are added and
// removed whole.
func atomic(x *mesospb.Resource) bool {
	return x.GetDisk().GetPersistence().GetId() != "" || x.Shared != nil
}

func (r Resources) find(x *mesospb.Resource) int { return r.findKey(kindKey(x)) }

// findKey is the index of the first entry of kind k, or -1.
func (r Resources) findKey(k string) int {
	for i, y := range r {
		if kindKey(y) == k {
			return i
		}
	}
	return -1
}

func (r Resources) addOne(x *mesospb.Resource) Resources {
	x = Normalize(x)
	if isEmptyValue(x) && !atomic(x) {
		return r
	}
	if atomic(x) {
		return append(r, x)
	}
	i := r.find(x)
	if i < 0 {
		return append(r, x)
	}
	y := r[i]
	switch x.GetType() {
	case mesospb.Value_SCALAR:
		y.Scalar.Value = proto.Float64(fromMilli(milli(y.Scalar.GetValue()) + milli(x.Scalar.GetValue())))
	case mesospb.Value_RANGES:
		y.Ranges.Range = mergeRanges(append(y.Ranges.Range, x.Ranges.Range...))
	case mesospb.Value_SET:
		y.Set.Item = sortedUnique(append(y.Set.Item, x.Set.Item...))
	default:
		return append(r, x)
	}
	return r
}

func (r Resources) subtractOne(x *mesospb.Resource) Resources {
	x = Normalize(x)
	i := r.find(x)
	if i < 0 {
		return r
	}
	y := r[i]
	if atomic(x) {
		if proto.Equal(y, x) {
			return slices.Delete(r, i, i+1)
		}
		return r
	}
	switch x.GetType() {
	case mesospb.Value_SCALAR:
		left := max(milli(y.Scalar.GetValue())-milli(x.Scalar.GetValue()), 0)
		y.Scalar.Value = proto.Float64(fromMilli(left))
	case mesospb.Value_RANGES:
		y.Ranges.Range = subtractRanges(y.Ranges.Range, x.Ranges.Range)
	case mesospb.Value_SET:
		y.Set.Item = slices.DeleteFunc(y.Set.Item, func(s string) bool { return slices.Contains(x.Set.Item, s) })
	default:
		if proto.Equal(y, x) {
			return slices.Delete(r, i, i+1)
		}
		return r
	}
	if isEmptyValue(y) {
		return slices.Delete(r, i, i+1)
	}
	return r
}

func isEmptyValue(x *mesospb.Resource) bool {
	switch x.GetType() {
	case mesospb.Value_SCALAR:
		return milli(x.GetScalar().GetValue()) <= 0
	case mesospb.Value_RANGES:
		return len(x.GetRanges().GetRange()) == 0
	case mesospb.Value_SET:
		return len(x.GetSet().GetItem()) == 0
	}
	return false
}

// containsValue reports whether y (of the same kind) holds at least x.
func containsValue(y, x *mesospb.Resource) bool {
	if atomic(x) {
		return proto.Equal(Normalize(y), Normalize(x))
	}
	switch x.GetType() {
	case mesospb.Value_SCALAR:
		return milli(y.GetScalar().GetValue()) >= milli(x.GetScalar().GetValue())
	case mesospb.Value_RANGES:
		return len(subtractRanges(x.GetRanges().GetRange(), y.GetRanges().GetRange())) == 0
	case mesospb.Value_SET:
		for _, s := range x.GetSet().GetItem() {
			if !slices.Contains(y.GetSet().GetItem(), s) {
				return false
			}
		}
		return true
	}
	return proto.Equal(y, x)
}

func sortedUnique(items []string) []string {
	out := slices.Clone(items)
	slices.Sort(out)
	return slices.Compact(out)
}

// mergeRanges sorts ranges and coalesces overlapping and adjacent ones.
func mergeRanges(in []*mesospb.Value_Range) []*mesospb.Value_Range {
	type span struct{ b, e uint64 }
	spans := make([]span, 0, len(in))
	for _, r := range in {
		if r.GetBegin() <= r.GetEnd() {
			spans = append(spans, span{r.GetBegin(), r.GetEnd()})
		}
	}
	slices.SortFunc(spans, func(a, b span) int {
		switch {
		case a.b < b.b:
			return -1
		case a.b > b.b:
			return 1
		}
		return 0
	})
	var out []*mesospb.Value_Range
	for _, s := range spans {
		if n := len(out); n > 0 {
			last := out[n-1]
			if s.b <= last.GetEnd() || (last.GetEnd() != ^uint64(0) && s.b == last.GetEnd()+1) {
				if s.e > last.GetEnd() {
					last.End = proto.Uint64(s.e)
				}
				continue
			}
		}
		out = append(out, &mesospb.Value_Range{Begin: proto.Uint64(s.b), End: proto.Uint64(s.e)})
	}
	return out
}

// subtractRanges returns a minus b.
func subtractRanges(a, b []*mesospb.Value_Range) []*mesospb.Value_Range {
	out := mergeRanges(a)
	for _, cut := range mergeRanges(b) {
		var next []*mesospb.Value_Range
		cb, ce := cut.GetBegin(), cut.GetEnd()
		for _, r := range out {
			rb, re := r.GetBegin(), r.GetEnd()
			if ce < rb || cb > re {
				next = append(next, r)
				continue
			}
			if cb > rb {
				next = append(next, &mesospb.Value_Range{Begin: proto.Uint64(rb), End: proto.Uint64(cb - 1)})
			}
			if ce < re {
				next = append(next, &mesospb.Value_Range{Begin: proto.Uint64(ce + 1), End: proto.Uint64(re)})
			}
		}
		out = next
	}
	return out
}

func formatScalar(v float64) string { return strconv.FormatFloat(fromMilli(milli(v)), 'f', -1, 64) }

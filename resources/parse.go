package resources

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/corral-sched/corral/proto/mesospb"
)

// Parse reads resources in the syntax of a Mesos agent's --resources flag:
// entries "name(role):value" separated by ';', where the value is a scalar
// ("4", "0.5"), ranges ("[31000-32000, 33000-33010]") or a set ("{a,b}").
// An entry without a role, or with role "*", belongs to defaultRole
// (unreserved when that is "" or "*"); any other role makes a static
// reservation. A text starting with '[' is read as a JSON array of
// Resource objects instead.
func Parse(text, defaultRole string) (Resources, error) {
	text = strings.TrimSpace(text)
	if strings.HasPrefix(text, "[") {
		return parseJSON(text)
	}
	var out Resources
	for _, entry := range strings.Split(text, ";") {
		entry = strings.TrimSpace(entry)
		if entry == "" {
			continue
		}
		r, err := parseEntry(entry, defaultRole)
		if err != nil {
			return nil, err
		}
		if err := validateOne(r); err != nil {
			return nil, fmt.Errorf("resources: %q: %w", entry, err)
		}
		out = out.addOne(r)
	}
	if err := out.Validate(); err != nil {
		return nil, err
	}
	return out.sorted(), nil
}

func parseEntry(entry, defaultRole string) (*mesospb.Resource, error) {
	key, value, ok := strings.Cut(entry, ":")
	if !ok {
		return nil, fmt.Errorf("resources: %q: expecting name:value", entry)
	}
	key, value = strings.TrimSpace(key), strings.TrimSpace(value)
	name, role := key, defaultRole
	if i := strings.IndexByte(key, '('); i >= 0 {
		if !strings.HasSuffix(key, ")") {
			return nil, fmt.Errorf("resources: %q: unclosed role in %q", entry, key)
		}
		name, role = strings.TrimSpace(key[:i]), strings.TrimSpace(key[i+1:len(key)-1])
	}
	if name == "" {
		return nil, fmt.Errorf("resources: %q: empty name", entry)
	}
	if strings.ContainsAny(name, ":;()[]{},\"\t\n ") {
		// Such a name could not be written back in this syntax.
		return nil, fmt.Errorf("resources: %q: the name %q may not contain spaces or any of : ; ( ) [ ] { } , \"", entry, name)
	}
	var r *mesospb.Resource
	switch {
	case strings.HasPrefix(value, "["):
		ranges, err := parseRanges(value)
		if err != nil {
			return nil, fmt.Errorf("resources: %q: %w", entry, err)
		}
		r = &mesospb.Resource{Name: proto.String(name), Type: mesospb.Value_RANGES.Enum(),
			Ranges: &mesospb.Value_Ranges{Range: ranges}}
	case strings.HasPrefix(value, "{"):
		if !strings.HasSuffix(value, "}") {
			return nil, fmt.Errorf("resources: %q: unclosed set", entry)
		}
		var items []string
		for _, it := range strings.Split(value[1:len(value)-1], ",") {
			if it = strings.TrimSpace(it); it != "" {
				items = append(items, it)
			}
		}
		r = Set(name, items...)
	default:
		v, err := strconv.ParseFloat(value, 64)
		if err != nil {
			return nil, fmt.Errorf("resources: %q: %q is not a number, ranges or a set", entry, value)
		}
		r = Scalar(name, v)
	}
	if role != "" && role != "*" {
		if err := ValidateRole(role); err != nil {
			return nil, fmt.Errorf("resources: %q: %w", entry, err)
		}
		r.Reservations = []*mesospb.Resource_ReservationInfo{{
			Type: mesospb.Resource_ReservationInfo_STATIC.Enum(),
			Role: proto.String(role),
		}}
	}
	return r, nil
}

func parseRanges(value string) ([]*mesospb.Value_Range, error) {
	if !strings.HasSuffix(value, "]") {
		return nil, errors.New("unclosed ranges")
	}
	var out []*mesospb.Value_Range
	for _, part := range strings.Split(value[1:len(value)-1], ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		lo, hi, ok := strings.Cut(part, "-")
		if !ok {
			hi = lo
		}
		b, err1 := strconv.ParseUint(strings.TrimSpace(lo), 10, 64)
		e, err2 := strconv.ParseUint(strings.TrimSpace(hi), 10, 64)
		if err1 != nil || err2 != nil {
			return nil, fmt.Errorf("bad range %q", part)
		}
		if b > e {
			return nil, fmt.Errorf("range %q begins after it ends", part)
		}
		out = append(out, &mesospb.Value_Range{Begin: proto.Uint64(b), End: proto.Uint64(e)})
	}
	return out, nil
}

func parseJSON(text string) (Resources, error) {
	// Wrap the array as the resources of an AgentInfo so protojson reads it.
	wrapped := `{"hostname":"","resources":` + text + `}`
	var info mesospb.AgentInfo
	if err := (protojson.UnmarshalOptions{DiscardUnknown: true, AllowPartial: true}).Unmarshal([]byte(wrapped), &info); err != nil {
		return nil, fmt.Errorf("resources: JSON: %w", err)
	}
	out := Resources(info.GetResources()).Clone()
	if err := out.Validate(); err != nil {
		return nil, err
	}
	return out.sorted(), nil
}

// Format writes r in the syntax Parse reads. Allocation and dynamic
// reservation details do not appear in it.
func Format(r Resources) string {
	parts := make([]string, 0, len(r))
	for _, x := range r {
		key := x.GetName()
		if role := ReservedRole(x); role != "" {
			key += "(" + role + ")"
		}
		var value string
		switch x.GetType() {
		case mesospb.Value_SCALAR:
			value = formatScalar(x.GetScalar().GetValue())
		case mesospb.Value_RANGES:
			spans := make([]string, 0, len(x.GetRanges().GetRange()))
			for _, rg := range x.GetRanges().GetRange() {
				spans = append(spans, fmt.Sprintf("%d-%d", rg.GetBegin(), rg.GetEnd()))
			}
			value = "[" + strings.Join(spans, ",") + "]"
		case mesospb.Value_SET:
			value = "{" + strings.Join(x.GetSet().GetItem(), ",") + "}"
		default:
			value = x.GetType().String()
		}
		parts = append(parts, key+":"+value)
	}
	return strings.Join(parts, ";")
}

// Validate reports the first malformed entry of r.
func (r Resources) Validate() error {
	for _, x := range r {
		if err := validateOne(x); err != nil {
			return fmt.Errorf("resources: invalid resource %q: %w", x.GetName(), err)
		}
	}
	return nil
}

// MaxScalar bounds a scalar resource: sums of thousands of agents' worth
// stay exact to the thousandth (Mesos keeps scalars as fixed-point
// thousandths in 64 bits) and can never overflow to infinity.
const MaxScalar = 1e12

func validateOne(x *mesospb.Resource) error {
	if x.GetName() == "" {
		return errors.New("empty name")
	}
	has := map[mesospb.Value_Type]bool{
		mesospb.Value_SCALAR: x.Scalar != nil,
		mesospb.Value_RANGES: x.Ranges != nil,
		mesospb.Value_SET:    x.Set != nil,
	}
	if x.Type == nil {
		return errors.New("no type")
	}
	for t, present := range has {
		if present != (t == x.GetType()) {
			return fmt.Errorf("type %v does not match its value fields", x.GetType())
		}
	}
	switch x.GetType() {
	case mesospb.Value_SCALAR:
		v := x.GetScalar().GetValue()
		if math.IsNaN(v) || math.IsInf(v, 0) || v < 0 {
			return fmt.Errorf("scalar %v must be a finite number that is not negative", v)
		}
		if v > MaxScalar {
			return fmt.Errorf("scalar %v exceeds %v", v, float64(MaxScalar))
		}
	case mesospb.Value_RANGES:
		for _, rg := range x.GetRanges().GetRange() {
			if rg.GetBegin() > rg.GetEnd() {
				return fmt.Errorf("range [%d-%d] begins after it ends", rg.GetBegin(), rg.GetEnd())
			}
		}
	case mesospb.Value_SET:
		seen := make(map[string]bool)
		for _, it := range x.GetSet().GetItem() {
			if seen[it] {
				return fmt.Errorf("set item %q appears twice", it)
			}
			seen[it] = true
		}
	default:
		return fmt.Errorf("type %v is not a resource type", x.GetType())
	}
	for _, res := range x.GetReservations() {
		if err := ValidateRole(res.GetRole()); err != nil {
			return fmt.Errorf("reservation: %w", err)
		}
	}
	if x.Role != nil && x.GetRole() != "*" {
		if err := ValidateRole(x.GetRole()); err != nil {
			return err
		}
	}
	return nil
}

// ValidateRole checks a role name by Mesos' rules. "*" (the unreserved
// role) is not a valid name for a reservation and is refused here;
// callers that accept it check for it first.
func ValidateRole(role string) error {
	switch {
	case role == "":
		return errors.New("role name is empty")
	case role == "*":
		return errors.New(`role "*" cannot be named here`)
	case strings.HasPrefix(role, "/") || strings.HasSuffix(role, "/"):
		return fmt.Errorf("role %q starts or ends with '/'", role)
	}
	for _, part := range strings.Split(role, "/") {
		switch {
		case part == "":
			return fmt.Errorf("role %q has an empty component", role)
		case part == "." || part == "..":
			return fmt.Errorf("role %q has a component '.' or '..'", role)
		case strings.HasPrefix(part, "-"):
			return fmt.Errorf("role %q has a component starting with '-'", role)
		case strings.ContainsAny(part, "*\\"):
			return fmt.Errorf("role %q contains '*' or '\\'", role)
		}
		for _, c := range part {
			if c <= ' ' || c == 0x7f {
				return fmt.Errorf("role %q contains whitespace or control characters", role)
			}
		}
	}
	return nil
}

// IsAncestor reports whether ancestor is a proper ancestor of role in the
// role tree: "eng" is an ancestor of "eng/backend".
func IsAncestor(ancestor, role string) bool {
	return ancestor != "" && strings.HasPrefix(role, ancestor+"/")
}

package sdk

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/corral-sched/corral/proto/mesospb"
)

// Constraint operators, in Marathon's vocabulary.
const (
	OpUnique  = "UNIQUE"
	OpCluster = "CLUSTER"
	OpGroupBy = "GROUP_BY"
	OpLike    = "LIKE"
	OpUnlike  = "UNLIKE"
	OpMaxPer  = "MAX_PER"
	OpIs      = "IS"
)

// Constraint is one placement rule: [field, operator, value]. Field is
// "hostname" or an agent attribute's name.
type Constraint struct {
	// Field is "hostname" or an attribute's name, Operator one of the Op
	// constants, and Value its argument ("" for UNIQUE, and for CLUSTER
	// and GROUP_BY without one).
	Field, Operator, Value string

	re  *regexp.Regexp // LIKE, UNLIKE
	max int            // MAX_PER; GROUP_BY's expected number of values
}

// ParseConstraint validates a Marathon-style constraint triple (or pair,
// for operators that take no value) and returns it ready to evaluate.
func ParseConstraint(parts []string) (Constraint, error) {
	if len(parts) < 2 || len(parts) > 3 {
		return Constraint{}, fmt.Errorf("constraint %q: want [field, operator] or [field, operator, value]", parts)
	}
	c := Constraint{Field: parts[0], Operator: parts[1]}
	if len(parts) == 3 {
		c.Value = parts[2]
	}
	if c.Field == "" {
		return Constraint{}, fmt.Errorf("constraint %q: the field is empty", parts)
	}
	needsValue := func() error {
		if len(parts) != 3 || c.Value == "" {
			return fmt.Errorf("constraint %q: %s needs a value", parts, c.Operator)
		}
		return nil
	}
	switch c.Operator {
	case OpUnique:
		if c.Value != "" {
			return Constraint{}, fmt.Errorf("constraint %q: UNIQUE takes no value", parts)
		}
	case OpCluster:
		// An empty value clusters on wherever the first instance lands.
	case OpIs:
		if err := needsValue(); err != nil {
			return Constraint{}, err
		}
	case OpLike, OpUnlike:
		if err := needsValue(); err != nil {
			return Constraint{}, err
		}
		re, err := regexp.Compile("^(?:" + c.Value + ")$")
		if err != nil {
			return Constraint{}, fmt.Errorf("constraint %q: the value is not a regular expression: %w", parts, err)
		}
		c.re = re
	case OpMaxPer:
		if err := needsValue(); err != nil {
			return Constraint{}, err
		}
		n, err := strconv.Atoi(c.Value)
		if err != nil || n < 1 {
			return Constraint{}, fmt.Errorf("constraint %q: MAX_PER needs a positive integer", parts)
		}
		c.max = n
	case OpGroupBy:
		if c.Value != "" {
			n, err := strconv.Atoi(c.Value)
			if err != nil || n < 1 {
				return Constraint{}, fmt.Errorf("constraint %q: GROUP_BY's value is the number of groups, a positive integer", parts)
			}
			c.max = n
		}
	default:
		return Constraint{}, fmt.Errorf("constraint %q: unknown operator %q (want one of UNIQUE, CLUSTER, GROUP_BY, LIKE, UNLIKE, MAX_PER, IS)", parts, c.Operator)
	}
	return c, nil
}

// ParseConstraints parses a list of constraint triples.
func ParseConstraints(list [][]string) ([]Constraint, error) {
	out := make([]Constraint, 0, len(list))
	for _, parts := range list {
		c, err := ParseConstraint(parts)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, nil
}

// String formats the constraint as Marathon writes it.
func (c Constraint) String() string {
	if c.Value == "" {
		return fmt.Sprintf("[%s, %s]", c.Field, c.Operator)
	}
	return fmt.Sprintf("[%s, %s, %s]", c.Field, c.Operator, c.Value)
}

// Placement is where an instance runs, or could run: an agent and what
// constraints can look at.
type Placement struct {
	// AgentID and Hostname name the agent.
	AgentID, Hostname string
	// Attributes are the agent's attributes as text (AttributeValue).
	Attributes map[string]string
}

// PlacementOf describes an offer's agent.
func PlacementOf(o *mesospb.Offer) Placement {
	p := Placement{AgentID: o.GetAgentId().GetValue(), Hostname: o.GetHostname(), Attributes: make(map[string]string)}
	for _, a := range o.GetAttributes() {
		p.Attributes[a.GetName()] = AttributeValue(a)
	}
	return p
}

// AttributeValue renders an attribute's value as text (scalars without
// trailing zeros, ranges as [a-b,...], sets as {a,b}).
func AttributeValue(a *mesospb.Attribute) string {
	switch a.GetType() {
	case mesospb.Value_SCALAR:
		return strconv.FormatFloat(a.GetScalar().GetValue(), 'f', -1, 64)
	case mesospb.Value_RANGES:
		var parts []string
		for _, r := range a.GetRanges().GetRange() {
			parts = append(parts, fmt.Sprintf("%d-%d", r.GetBegin(), r.GetEnd()))
		}
		return "[" + strings.Join(parts, ",") + "]"
	case mesospb.Value_SET:
		return "{" + strings.Join(a.GetSet().GetItem(), ",") + "}"
	default:
		return a.GetText().GetValue()
	}
}

// field is the constraint's field at p, and whether p has it.
func (c Constraint) field(p Placement) (string, bool) {
	if c.Field == "hostname" {
		return p.Hostname, true
	}
	v, ok := p.Attributes[c.Field]
	return v, ok
}

// Allows reports whether an instance may be placed at candidate given
// where the other instances of the same app (or set, or job) run.
func (c Constraint) Allows(candidate Placement, placed []Placement) bool {
	v, ok := c.field(candidate)
	switch c.Operator {
	case OpUnlike:
		// An agent without the attribute is not like the value.
		return !ok || !c.re.MatchString(v)
	case OpLike:
		return ok && c.re.MatchString(v)
	}
	if !ok {
		return false
	}
	same := 0
	values := make(map[string]int)
	for _, p := range placed {
		pv, pok := c.field(p)
		if !pok {
			continue
		}
		values[pv]++
		if pv == v {
			same++
		}
	}
	switch c.Operator {
	case OpIs:
		return v == c.Value
	case OpUnique:
		return same == 0
	case OpCluster:
		if c.Value != "" {
			return v == c.Value
		}
		// Without a value, every instance goes where the first one went.
		return len(values) == 0 || same > 0
	case OpMaxPer:
		return same < c.max
	case OpGroupBy:
		// Spread evenly: a value may take another instance only while no
		// other value has fewer. Values not yet used count as zero when
		// the number of groups is known.
		least := -1
		for _, n := range values {
			if least < 0 || n < least {
				least = n
			}
		}
		if c.max > 0 && len(values) < c.max {
			least = 0
		}
		if _, seen := values[v]; !seen {
			return true
		}
		return least < 0 || same <= least
	}
	return false
}

// Satisfies checks every constraint and returns the first one candidate
// breaks, if any.
func Satisfies(cs []Constraint, candidate Placement, placed []Placement) (Constraint, bool) {
	for _, c := range cs {
		if !c.Allows(candidate, placed) {
			return c, false
		}
	}
	return Constraint{}, true
}

package sdk

import (
	"strings"
	"testing"
)

func TestParseConstraintRejectsWhatMarathonRejects(t *testing.T) {
	for _, tc := range []struct {
		parts []string
		want  string
	}{
		{[]string{"hostname"}, "want [field, operator]"},
		{[]string{"hostname", "NEAR", "x"}, "unknown operator"},
		{[]string{"hostname", "LIKE"}, "needs a value"},
		{[]string{"hostname", "LIKE", "("}, "not a regular expression"},
		{[]string{"hostname", "MAX_PER", "0"}, "positive integer"},
		{[]string{"rack", "GROUP_BY", "x"}, "number of groups"},
		{[]string{"hostname", "UNIQUE", "x"}, "takes no value"},
		{[]string{"", "UNIQUE"}, "field is empty"},
	} {
		_, err := ParseConstraint(tc.parts)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ParseConstraint(%q) = %v, want an error containing %q", tc.parts, err, tc.want)
		}
	}
}

func TestConstraintsAllow(t *testing.T) {
	at := func(host, rack string) Placement {
		return Placement{Hostname: host, Attributes: map[string]string{"rack": rack}}
	}
	placed := []Placement{at("a", "r1"), at("b", "r1"), at("c", "r2")}
	for _, tc := range []struct {
		parts []string
		cand  Placement
		want  bool
	}{
		{[]string{"hostname", "UNIQUE"}, at("a", "r1"), false},
		{[]string{"hostname", "UNIQUE"}, at("d", "r1"), true},
		{[]string{"rack", "CLUSTER", "r2"}, at("d", "r1"), false},
		{[]string{"rack", "CLUSTER", "r2"}, at("d", "r2"), true},
		{[]string{"rack", "CLUSTER"}, at("d", "r3"), false},
		{[]string{"rack", "LIKE", "r[12]"}, at("d", "r3"), false},
		{[]string{"rack", "LIKE", "r[12]"}, at("d", "r1"), true},
		{[]string{"rack", "UNLIKE", "r1"}, at("d", "r1"), false},
		{[]string{"zone", "UNLIKE", "z1"}, at("d", "r1"), true},
		{[]string{"zone", "LIKE", "z1"}, at("d", "r1"), false},
		{[]string{"rack", "MAX_PER", "2"}, at("d", "r1"), false},
		{[]string{"rack", "MAX_PER", "2"}, at("d", "r2"), true},
		{[]string{"rack", "GROUP_BY"}, at("d", "r1"), false},
		{[]string{"rack", "GROUP_BY"}, at("d", "r2"), true},
		{[]string{"rack", "GROUP_BY", "3"}, at("d", "r2"), false},
		{[]string{"rack", "GROUP_BY", "3"}, at("d", "r3"), true},
		{[]string{"rack", "IS", "r2"}, at("d", "r1"), false},
		{[]string{"rack", "IS", "r2"}, at("d", "r2"), true},
	} {
		c, err := ParseConstraint(tc.parts)
		if err != nil {
			t.Fatal(err)
		}
		if got := c.Allows(tc.cand, placed); got != tc.want {
			t.Errorf("%v allows %s/%s = %v, want %v", c, tc.cand.Hostname, tc.cand.Attributes["rack"], got, tc.want)
		}
	}
	if c, err := ParseConstraint([]string{"rack", "CLUSTER"}); err != nil || !c.Allows(at("x", "r9"), nil) {
		t.Errorf("CLUSTER without a value must allow the first instance anywhere: %v", err)
	}
}

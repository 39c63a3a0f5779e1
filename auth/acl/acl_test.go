package acl

import (
	"strings"
	"testing"
)

const example = `{
  "permissive": false,
  "register_frameworks": [
    {"principals": {"values": ["analytics"]}, "roles": {"values": ["analytics", "shared"]}},
    {"principals": {"type": "ANY"}, "roles": {"values": ["shared"]}},
    {"principals": {"type": "ANY"}, "roles": {"type": "NONE"}}
  ],
  "run_tasks": [
    {"principals": {"values": ["analytics"]}, "users": {"type": "ANY"}},
    {"principals": {"type": "ANY"}, "users": {"values": ["nobody"]}}
  ],
  "mark_agents_gone": [
    {"principals": {"values": ["ops"]}, "agents": {"type": "ANY"}}
  ],
  "view_tasks": [
    {"principals": {"values": ["ops"]}, "users": {"type": "ANY"}},
    {"principals": {"values": ["web"]}, "users": {"values": ["www"]}}
  ],
  "get_endpoints": [{"principals": {"values": ["ops"]}, "paths": {"values": ["/metrics/snapshot"]}}],
  "access_mesos_logs": [{"principals": {"type": "ANY"}, "logs": {"type": "ANY"}}]
}`

func TestAllowed(t *testing.T) {
	a, err := Parse([]byte(example))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		principal string
		action    Action
		object    string
		want      bool
	}{
		{"analytics", RegisterFrameworks, "analytics", true},
		{"analytics", RegisterFrameworks, "shared", true},
		{"analytics", RegisterFrameworks, "prod", false}, // first rule does not match prod; the catch-all NONE denies
		{"web", RegisterFrameworks, "shared", true},
		{"web", RegisterFrameworks, "analytics", false},
		{"", RegisterFrameworks, "shared", true}, // unauthenticated: ANY subject, allowed by the ANY rule
		{"", RegisterFrameworks, "analytics", false},
		{"analytics", RunTasks, "root", true},
		{"web", RunTasks, "nobody", true},
		{"web", RunTasks, "root", false}, // no rule matches: not permissive
		{"ops", MarkAgentsGone, Any, true},
		{"web", MarkAgentsGone, Any, false},
		{"ops", ViewTasks, "www", true},
		{"web", ViewTasks, "www", true},
		{"web", ViewTasks, "root", false},
		{"web", ViewTasks, Any, false}, // SOME never grants ANY
		{"web", TeardownFrameworks, "x", false},
		{"ops", GetEndpoints, "/metrics", true}, // Mesos' /metrics/snapshot is corral's /metrics
		{"web", GetEndpoints, "/metrics", false},
	} {
		if got := a.Allowed(c.principal, c.action, c.object); got != c.want {
			t.Errorf("Allowed(%q, %s, %q) = %v, want %v", c.principal, c.action, c.object, got, c.want)
		}
	}
	if got := a.Unenforced(); len(got) != 1 || got[0] != "access_mesos_logs" {
		t.Errorf("Unenforced = %v, want [access_mesos_logs]", got)
	}
	if !a.Enforced(TeardownFrameworks) {
		t.Error("a non-permissive file enforces every action")
	}
}

func TestPermissiveDefault(t *testing.T) {
	a, err := Parse([]byte(`{"teardown_frameworks": [{"principals": {"values": ["ops"]}, "framework_principals": {"type": "ANY"}},
		{"principals": {"type": "ANY"}, "framework_principals": {"type": "NONE"}}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if !a.Allowed("anyone", RunTasks, "root") {
		t.Error("an action without rules falls to permissive (true by default)")
	}
	if a.Enforced(RunTasks) || !a.Enforced(TeardownFrameworks) {
		t.Error("Enforced: only actions with rules are enforced in a permissive file")
	}
	if !a.Allowed("ops", TeardownFrameworks, "fw") || a.Allowed("dev", TeardownFrameworks, "fw") {
		t.Error("teardown rules not applied in order")
	}
	var none *ACLs
	if !none.Allowed("", TeardownFrameworks, Any) || none.Enforced(RunTasks) {
		t.Error("no ACLs allow everything")
	}
}

func TestParseErrors(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{`[]`, "not a JSON object"},
		{`{"permissive": "no"}`, "permissive"},
		{`{"permissive": null}`, "want true or false, got null"},
		{`{"regster_frameworks": []}`, `unknown action "regster_frameworks"`},
		{`{"run_tasks": {}}`, "want a list"},
		{`{"run_tasks": [{"principals": {"type": "ANY"}}]}`, "run_tasks[0].users: missing"},
		{`{"run_tasks": [{"users": {"type": "ANY"}}]}`, "run_tasks[0].principals: missing"},
		{`{"run_tasks": [{"principals": {"type": "ANY"}, "roles": {"type": "ANY"}}]}`, `unknown key "roles"`},
		{`{"run_tasks": [{"principals": {"type": "ALL"}, "users": {"type": "ANY"}}]}`, `unknown type "ALL"`},
		{`{"run_tasks": [{"principals": {"values": []}, "users": {"type": "ANY"}}]}`, "no values"},
		{`{"run_tasks": [{"principals": {"type": "ANY", "values": ["a"]}, "users": {"type": "ANY"}}]}`, "takes no values"},
		{`{"run_tasks": [{"principals": {"value": ["a"]}, "users": {"type": "ANY"}}]}`, "unknown field"},
		{`{"run_tasks": [{"principals": {"values": [""]}, "users": {"type": "ANY"}}]}`, "empty value"},
		{`{"set_quotas": [{"principals": {"type": "ANY"}, "roles": {"type": "ANY"}}]}`, "set_quotas: Mesos deprecated set_quotas; corral authorizes SET_QUOTA and UPDATE_QUOTA with update_quotas"},
		{`{"remove_quotas": []}`, "move these rules there"},
	} {
		_, err := Parse([]byte(c.in))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Parse(%s) = %v, want an error containing %q", c.in, err, c.want)
		}
	}
}

// Every action a file may name is exactly one of: enforced (Actions), not
// applicable (NotApplicable), or refused; none falls in between.
func TestEveryActionHasOneFate(t *testing.T) {
	fate := make(map[string]string)
	for _, a := range Actions() {
		fate[string(a)] = "enforced"
		if _, ok := objectKey[a]; !ok {
			t.Errorf("%s is listed as enforced but has no object key", a)
		}
	}
	for _, name := range NotApplicable() {
		if fate[name] != "" {
			t.Errorf("%s is both %s and not applicable", name, fate[name])
		}
		fate[name] = "not applicable"
	}
	for name := range refused {
		if fate[name] != "" {
			t.Errorf("%s is both %s and refused", name, fate[name])
		}
	}
	for _, name := range NotApplicable() {
		if _, err := Parse([]byte(`{"` + name + `": [{"principals": {"type": "ANY"}, "x": {"type": "ANY"}}]}`)); err != nil {
			t.Errorf("a not-applicable action is refused: %v", err)
		}
	}
}

package acl

import (
	"encoding/json"
	"testing"
)

// FuzzParse reads ACL files and asks every action of the result: nothing
// may panic, a file Parse accepts names only actions it knows, and an
// action that is not Enforced denies nobody (callers skip their checks on
// that promise).
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		`{"permissive": false, "register_frameworks": [{"principals": {"values": ["analytics"]}, "roles": {"values": ["analytics"]}},
		  {"principals": {"type": "ANY"}, "roles": {"type": "NONE"}}]}`,
		`{"run_tasks": [{"principals": {"values": ["web"]}, "users": {"values": ["nobody", "www"]}}],
		  "teardown_frameworks": [{"principals": {"values": ["ops"]}, "framework_principals": {"type": "ANY"}}]}`,
		`{"access_sandboxes": [{"principals": {"type": "ANY"}, "users": {"values": ["root"]}}], "view_tasks": [{"principals": {"type": "NONE"}, "users": {"type": "ANY"}}],
		  "set_quotas": [], "permissive": true}`,
		`{"mark_agents_gone": [{"principals": {"values": ["ops"]}, "agents": {"type": "ANY"}}], "update_weights": [{"principals": {"values": ["ops"]}, "roles": {"values": ["web", "web/a"]}}]}`,
		`{}`, `[]`, `{"permissive": null}`, `{"run_tasks": [{"principals": {"values": []}, "users": {"type": "ANY"}}]}`,
	} {
		f.Add([]byte(s), "web", "nobody")
	}
	f.Add([]byte(`{"permissive": false}`), "", Any)
	f.Fuzz(func(t *testing.T, b []byte, principal, object string) {
		a, err := Parse(b)
		if err != nil {
			return
		}
		var top map[string]json.RawMessage
		if err := json.Unmarshal(b, &top); err != nil {
			t.Fatalf("accepted a file that is not a JSON object: %v", err)
		}
		for k := range top {
			if _, known := objectKey[Action(k)]; !known && k != "permissive" && !notApplicable[k] {
				t.Fatalf("accepted unknown action %q", k)
			}
		}
		for action := range objectKey {
			for _, obj := range []string{object, Any} {
				got := a.Allowed(principal, action, obj)
				if !a.Enforced(action) && !got {
					t.Fatalf("%s is not enforced, yet %q may not do it to %q", action, principal, obj)
				}
				if again := a.Allowed(principal, action, obj); again != got {
					t.Fatalf("%s: two answers for the same request", action)
				}
			}
		}
		_ = a.Unenforced()
	})
}

// Package acl decides what an authenticated principal may do, from access
// control lists in Mesos' ACL JSON (the file given to --acls).
//
// The file maps actions to ordered rules; each rule names its subjects
// (principals) and its objects (roles, users, framework principals...):
//
//	{
//	  "permissive": false,
//	  "register_frameworks": [
//	    {"principals": {"values": ["analytics"]}, "roles": {"values": ["analytics"]}},
//	    {"principals": {"type": "ANY"}, "roles": {"type": "NONE"}}
//	  ]
//	}
//
// For a request the first rule whose subjects and objects both match
// decides; when none matches, "permissive" (default true) does. Matching
// follows Mesos' local authorizer: a rule entity of type ANY or NONE matches
// every request, SOME matches requests for one of its values; the matching
// rule then allows the request only if neither of its entities is NONE and
// every SOME entity lists the request's value. A request made without a
// principal (authentication off) or about any object at all (such as
// marking some agent gone) is a request for ANY, which only ANY allows.
package acl

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"slices"
	"sort"
	"strings"

	"github.com/corral-sched/corral/auth"
)

// Action is one of Mesos' authorizable actions, named as in the ACL file.
type Action string

// The actions corral enforces, with the object each one's rules name.
// Where each is asked is in docs/security.md.
const (
	RegisterFrameworks         Action = "register_frameworks"          // roles
	RunTasks                   Action = "run_tasks"                    // users
	TeardownFrameworks         Action = "teardown_frameworks"          // framework_principals
	ReserveResources           Action = "reserve_resources"            // roles
	UnreserveResources         Action = "unreserve_resources"          // reserver_principals
	CreateVolumes              Action = "create_volumes"               // roles
	DestroyVolumes             Action = "destroy_volumes"              // creator_principals
	GetQuotas                  Action = "get_quotas"                   // roles
	UpdateQuotas               Action = "update_quotas"                // roles
	UpdateWeights              Action = "update_weights"               // roles
	ViewFrameworks             Action = "view_frameworks"              // users
	ViewTasks                  Action = "view_tasks"                   // users
	ViewExecutors              Action = "view_executors"               // users
	ViewRoles                  Action = "view_roles"                   // roles
	ViewFlags                  Action = "view_flags"                   // flags
	AccessSandboxes            Action = "access_sandboxes"             // users
	MarkAgentsGone             Action = "mark_agents_gone"             // agents
	RegisterAgents             Action = "register_agents"              // agents
	StartMaintenances          Action = "start_maintenances"           // machines
	StopMaintenances           Action = "stop_maintenances"            // machines
	GetMaintenanceSchedules    Action = "get_maintenance_schedules"    // machines
	UpdateMaintenanceSchedules Action = "update_maintenance_schedules" // machines
	GetMaintenanceStatuses     Action = "get_maintenance_statuses"     // machines
	GetEndpoints               Action = "get_endpoints"                // paths
	ViewContainers             Action = "view_containers"              // users
	SetLogLevel                Action = "set_log_level"                // level (ANY)
	// Attaching to containers and running sessions in them (the agent's
	// v1 API); objects are the users the containers' tasks run as.
	AttachContainersInput         Action = "attach_containers_input"          // users
	AttachContainersOutput        Action = "attach_containers_output"         // users
	LaunchNestedContainerSessions Action = "launch_nested_container_sessions" // users
	WaitNestedContainers          Action = "wait_nested_containers"           // users
	KillNestedContainers          Action = "kill_nested_containers"           // users
)

// objectKey is the JSON key of each action's objects.
var objectKey = map[Action]string{
	RegisterFrameworks:            "roles",
	RunTasks:                      "users",
	TeardownFrameworks:            "framework_principals",
	ReserveResources:              "roles",
	UnreserveResources:            "reserver_principals",
	CreateVolumes:                 "roles",
	DestroyVolumes:                "creator_principals",
	GetQuotas:                     "roles",
	UpdateQuotas:                  "roles",
	UpdateWeights:                 "roles",
	ViewFrameworks:                "users",
	ViewTasks:                     "users",
	ViewExecutors:                 "users",
	ViewRoles:                     "roles",
	ViewFlags:                     "flags",
	AccessSandboxes:               "users",
	MarkAgentsGone:                "agents",
	RegisterAgents:                "agents",
	StartMaintenances:             "machines",
	StopMaintenances:              "machines",
	GetMaintenanceSchedules:       "machines",
	UpdateMaintenanceSchedules:    "machines",
	GetMaintenanceStatuses:        "machines",
	GetEndpoints:                  "paths",
	ViewContainers:                "users",
	SetLogLevel:                   "level",
	AttachContainersInput:         "users",
	AttachContainersOutput:        "users",
	LaunchNestedContainerSessions: "users",
	WaitNestedContainers:          "users",
	KillNestedContainers:          "users",
}

// notApplicable are the actions Mesos knows that guard features corral
// does not have at all (resource providers, nested containers other than
// sessions, standalone containers, the agent's and master's own log
// files, image pruning, volume resizing): a file written for Mesos may carry them, so
// they are accepted and reported at start rather than refused. This is the
// one list of them; docs/security.md repeats it. Every other action is
// enforced where corral has the feature it guards (see Actions), or
// refused at start (refused).
var notApplicable = map[string]bool{
	"access_mesos_logs": true, "view_resource_providers": true,
	"launch_nested_containers": true, "modify_resource_provider_configs": true, "prune_images": true,
	"resize_volumes": true, "view_standalone_containers": true,
	"launch_standalone_containers": true, "kill_standalone_containers": true,
	"remove_standalone_containers": true, "wait_standalone_containers": true,
	"register_agents_with_unknown": true, "create_block_disks": true, "destroy_block_disks": true,
	"create_mount_disks": true, "destroy_mount_disks": true,
	"create_raw_disks": true, "destroy_raw_disks": true, "mark_resource_providers_gone": true,
}

// refused are Mesos actions for features corral has but guards with
// another action: accepting their rules would leave them silently
// unapplied, so a file setting them is an error saying where the rules
// belong.
var refused = map[string]string{
	"set_quotas":    "Mesos deprecated set_quotas; corral authorizes SET_QUOTA and UPDATE_QUOTA with update_quotas (objects: roles): move these rules there",
	"remove_quotas": "Mesos deprecated remove_quotas; corral authorizes REMOVE_QUOTA with update_quotas (objects: roles): move these rules there",
}

// endpointAliases are Mesos endpoint paths that name a corral endpoint
// under another path in get_endpoints rules: Mesos' metrics snapshot is
// corral's Prometheus /metrics.
var endpointAliases = map[string]string{"/metrics/snapshot": "/metrics"}

// Any, given as the object of a request, asks about every object of the
// kind at once (Mesos' ANY request): only a rule allowing ANY grants it.
const Any = "\x00ANY"

type kind int

const (
	some kind = iota
	anyEntity
	none
)

type entity struct {
	kind   kind
	values []string
}

type rule struct{ subjects, objects entity }

// ACLs are parsed access control lists. A nil *ACLs allows everything:
// without --acls there is nothing to enforce.
type ACLs struct {
	permissive bool
	rules      map[Action][]rule
	unenforced []string
}

// Load reads an ACL file.
func Load(path string) (*ACLs, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("acl: %w", err)
	}
	a, err := Parse(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return a, nil
}

// maxFileBytes bounds an ACL file: far beyond any real one, short of
// letting a mistaken path fill memory.
const maxFileBytes = 8 << 20

// Parse reads ACLs in Mesos' JSON shape. Unknown actions, entities
// without values or type, and rules missing their principals or objects
// are errors: a typo must not silently leave an action unguarded.
func Parse(b []byte) (*ACLs, error) {
	if len(b) > maxFileBytes {
		return nil, fmt.Errorf("acl: the file is %d bytes; at most %d are read", len(b), maxFileBytes)
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(b, &top); err != nil {
		return nil, fmt.Errorf("acl: not a JSON object of actions: %w", err)
	}
	a := &ACLs{permissive: true, rules: make(map[Action][]rule)}
	keys := make([]string, 0, len(top))
	for k := range top {
		keys = append(keys, k)
	}
	sort.Strings(keys) // errors name the first bad key deterministically
	for _, k := range keys {
		raw := top[k]
		if k == "permissive" {
			var p *bool // null must not read as the default
			if err := json.Unmarshal(raw, &p); err != nil || p == nil {
				return nil, fmt.Errorf("acl: permissive: want true or false, got %s", raw)
			}
			a.permissive = *p
			continue
		}
		if notApplicable[k] {
			a.unenforced = append(a.unenforced, k)
			continue
		}
		if why, ok := refused[k]; ok {
			return nil, fmt.Errorf("acl: %s: %s", k, why)
		}
		action := Action(k)
		objKey, ok := objectKey[action]
		if !ok {
			return nil, fmt.Errorf("acl: unknown action %q (known: %s)", k, strings.Join(knownActions(), ", "))
		}
		rules, err := parseRules(raw, action, objKey)
		if err != nil {
			return nil, err
		}
		a.rules[action] = rules
	}
	return a, nil
}

func parseRules(raw json.RawMessage, action Action, objKey string) ([]rule, error) {
	var list []map[string]json.RawMessage
	if err := json.Unmarshal(raw, &list); err != nil {
		return nil, fmt.Errorf("acl: %s: want a list of {\"principals\": ..., %q: ...} rules: %w", action, objKey, err)
	}
	rules := make([]rule, 0, len(list))
	for i, r := range list {
		for k := range r {
			if k != "principals" && k != objKey {
				return nil, fmt.Errorf("acl: %s[%d]: unknown key %q (want \"principals\" and %q)", action, i, k, objKey)
			}
		}
		var (
			out rule
			err error
		)
		if out.subjects, err = parseEntity(r["principals"]); err != nil {
			return nil, fmt.Errorf("acl: %s[%d].principals: %w", action, i, err)
		}
		if out.objects, err = parseEntity(r[objKey]); err != nil {
			return nil, fmt.Errorf("acl: %s[%d].%s: %w", action, i, objKey, err)
		}
		if action == GetEndpoints {
			for i, v := range out.objects.values {
				if to, ok := endpointAliases[v]; ok {
					out.objects.values[i] = to
				}
			}
		}
		rules = append(rules, out)
	}
	return rules, nil
}

func parseEntity(raw json.RawMessage) (entity, error) {
	if raw == nil {
		return entity{}, fmt.Errorf("missing")
	}
	var e struct {
		Type   *string  `json:"type"`
		Values []string `json:"values"`
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&e); err != nil {
		return entity{}, fmt.Errorf("want {\"values\": [...]} or {\"type\": \"ANY\"|\"NONE\"}: %w", err)
	}
	t := "SOME"
	if e.Type != nil {
		t = *e.Type
	}
	switch t {
	case "ANY", "NONE":
		if len(e.Values) > 0 {
			return entity{}, fmt.Errorf("type %s takes no values", t)
		}
		if t == "ANY" {
			return entity{kind: anyEntity}, nil
		}
		return entity{kind: none}, nil
	case "SOME":
		if len(e.Values) == 0 {
			return entity{}, fmt.Errorf("no values (an entity of type SOME needs at least one; use {\"type\": \"NONE\"} for nobody)")
		}
		for _, v := range e.Values {
			if v == "" {
				return entity{}, fmt.Errorf("an empty value")
			}
		}
		return entity{kind: some, values: slices.Clone(e.Values)}, nil
	default:
		return entity{}, fmt.Errorf("unknown type %q (want SOME, ANY or NONE)", t)
	}
}

func knownActions() []string {
	out := make([]string, 0, len(objectKey))
	for a := range objectKey {
		out = append(out, string(a))
	}
	sort.Strings(out)
	return out
}

// Actions lists, sorted, every action corral enforces: each guards a call,
// an endpoint or a view somewhere in the master or the agent.
func Actions() []Action {
	out := make([]Action, 0, len(objectKey))
	for a := range objectKey {
		out = append(out, a)
	}
	slices.Sort(out)
	return out
}

// Objects is the JSON key naming the objects of a's rules ("roles",
// "users"...), "" for an action corral does not enforce.
func (a Action) Objects() string { return objectKey[a] }

// Refused lists, sorted, the Mesos actions a file may not set: corral
// guards their features with another action (Parse says which).
func Refused() []string {
	out := make([]string, 0, len(refused))
	for a := range refused {
		out = append(out, a)
	}
	sort.Strings(out)
	return out
}

// NotApplicable lists, sorted, the Mesos actions a file may set that guard
// features corral does not have: accepted, logged at start, never asked.
func NotApplicable() []string {
	out := make([]string, 0, len(notApplicable))
	for a := range notApplicable {
		out = append(out, a)
	}
	sort.Strings(out)
	return out
}

// Allowed reports whether principal may perform action on object.
// principal "" is an unauthenticated request; object Any asks for every
// object of the action's kind.
func (a *ACLs) Allowed(principal string, action Action, object string) bool {
	if a == nil {
		return true
	}
	subject := principal
	if subject == "" {
		subject = Any
	}
	for _, r := range a.rules[action] {
		if r.subjects.matches(subject) && r.objects.matches(object) {
			return r.subjects.allows(subject) && r.objects.allows(object)
		}
	}
	return a.permissive
}

// Enforced reports whether any rule or a non-permissive default governs
// action; callers use it to skip per-object work when nothing can deny.
func (a *ACLs) Enforced(action Action) bool {
	return a != nil && (!a.permissive || len(a.rules[action]) > 0)
}

// Unenforced lists the actions the file set that guard features corral
// does not have (NotApplicable; logged at start).
func (a *ACLs) Unenforced() []string {
	if a == nil {
		return nil
	}
	return slices.Clone(a.unenforced)
}

func (e entity) matches(v string) bool {
	switch e.kind {
	case anyEntity, none:
		return true
	default:
		return v != Any && slices.Contains(e.values, v)
	}
}

func (e entity) allows(v string) bool {
	switch e.kind {
	case anyEntity:
		return true
	case none:
		return false
	default:
		return v != Any && slices.Contains(e.values, v)
	}
}

// Endpoint guards h, the GET endpoint at path, with get_endpoints for the
// principal the request authenticated as ("" when it did not: ANY).
// Denied, it answers 403 saying which action refused it.
func (a *ACLs) Endpoint(path string, h http.Handler) http.Handler {
	if a == nil {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		principal := auth.Principal(r.Context())
		if a.Allowed(principal, GetEndpoints, path) {
			h.ServeHTTP(w, r)
			return
		}
		who := fmt.Sprintf("Principal %q", principal)
		if principal == "" {
			who = "An unauthenticated request"
		}
		http.Error(w, who+" is not authorized to GET "+path+" (get_endpoints)", http.StatusForbidden)
	})
}

package service

import (
	"strings"
	"testing"
)

func appWith(t *testing.T, body string) *App {
	t.Helper()
	a, err := DecodeApp(strings.NewReader(body))
	if err == nil {
		err = a.Normalize()
	}
	if err != nil {
		t.Fatalf("%s: %v", body, err)
	}
	return a
}

// Marathon's clients send "dependencies": null on every app; relative
// dependencies resolve against the app's group.
func TestDependenciesAcceptNullAndResolveRelativePaths(t *testing.T) {
	if a := appWith(t, `{"id": "/t", "cmd": "sleep 100", "cpus": 0.1, "mem": 32, "dependencies": null, "ports": null}`); a.Dependencies != nil {
		t.Errorf("null dependencies = %q, want none", a.Dependencies)
	}
	if a := appWith(t, `{"id": "/t", "cmd": "sleep 100", "dependencies": []}`); a.Dependencies != nil {
		t.Errorf("[] dependencies = %q, want none", a.Dependencies)
	}
	a := appWith(t, `{"id": "/prod/web", "cmd": "x", "dependencies": ["db", "../shared/cache", "/prod/db", "./queue"]}`)
	if got := strings.Join(a.Dependencies, " "); got != "/prod/db /prod/queue /shared/cache" {
		t.Errorf("dependencies = %q", got)
	}
	for _, bad := range []string{`["../../x"]`, `["Bad_Name"]`, `["/t"]`, `[""]`} {
		a, err := DecodeApp(strings.NewReader(`{"id": "/t", "cmd": "x", "dependencies": ` + bad + `}`))
		if err == nil {
			err = a.Normalize()
		}
		if err == nil || !strings.Contains(err.Error(), "/dependencies/0") {
			t.Errorf("dependencies %s: %v, want an error at /dependencies/0", bad, err)
		}
	}
}

func graphOf(apps map[string][]string, groups map[string][]string) depGraph {
	g := depGraph{apps: map[string]*App{}, groups: map[string]*groupSpec{}}
	for id, deps := range apps {
		g.apps[id] = &App{ID: id, Dependencies: deps}
	}
	for id, deps := range groups {
		g.groups[id] = &groupSpec{ID: id, Dependencies: deps}
	}
	return g
}

func TestDependencyCyclesAndMissingTargetsAreRefusedByName(t *testing.T) {
	g := graphOf(map[string][]string{"/a": {"/b"}, "/b": {"/c"}, "/c": {"/a"}, "/d": nil}, nil)
	err := g.check()
	if err == nil || !strings.Contains(err.Error(), "dependency cycle: /a → /b → /c → /a") {
		t.Fatalf("cycle: %v", err)
	}
	// Through a group: /g depends on /db, which depends on an app in /g.
	g = graphOf(map[string][]string{"/g/web": nil, "/db": {"/g"}}, map[string][]string{"/g": {"/db"}})
	if err := g.check(); err == nil || !strings.Contains(err.Error(), "dependency cycle: /db → /g/web → /db") {
		t.Fatalf("cycle through a group: %v", err)
	}
	g = graphOf(map[string][]string{"/web": {"/nowhere"}}, nil)
	if err := g.check(); err == nil || !strings.Contains(err.Error(), "/web depends on /nowhere, which is neither an app nor a group") {
		t.Fatalf("missing dependency: %v", err)
	}
	g = graphOf(map[string][]string{"/web": {"/back"}, "/back/db": nil, "/back/cache": {"/back/db"}}, nil)
	if err := g.check(); err != nil {
		t.Fatalf("a valid graph: %v", err)
	}
}

// Starts go dependencies first, stops dependents first, and apps of one
// step go side by side.
func TestPlanStepsFollowDependencies(t *testing.T) {
	g := graphOf(map[string][]string{
		"/s/db": nil, "/s/cache": nil, "/s/api": {"/s/db", "/s/cache"}, "/s/web": {"/s/api"}, "/s/batch": nil,
	}, map[string][]string{"/s/front": {"/s/db"}})
	g.apps["/s/front/ui"] = &App{ID: "/s/front/ui"}
	members := []string{"/s/db", "/s/cache", "/s/api", "/s/web", "/s/batch", "/s/front/ui"}
	start := g.steps(members, false)
	want := map[string]int{"/s/db": 1, "/s/cache": 1, "/s/batch": 1, "/s/api": 2, "/s/front/ui": 2, "/s/web": 3}
	for id, s := range want {
		if start[id] != s {
			t.Errorf("start: %s in step %d, want %d (%v)", id, start[id], s, start)
		}
	}
	stop := g.steps(members, true)
	want = map[string]int{"/s/web": 1, "/s/batch": 1, "/s/front/ui": 1, "/s/api": 2, "/s/db": 3, "/s/cache": 3}
	for id, s := range want {
		if stop[id] != s {
			t.Errorf("stop: %s in step %d, want %d (%v)", id, stop[id], s, stop)
		}
	}
}

func TestGroupsFlattenWithRelativeIDs(t *testing.T) {
	spec, err := DecodeGroup([]byte(`{"id": "shop", "dependencies": ["/infra"], "apps": [{"id": "web", "cmd": "x", "dependencies": ["db"]}],
		"groups": [{"id": "back", "apps": [{"id": "/shop/back/db", "cmd": "y", "dependencies": null}], "groups": null, "dependencies": null}]}`))
	if err != nil {
		t.Fatal(err)
	}
	c, err := spec.flatten("/", "v1")
	if err != nil {
		t.Fatal(err)
	}
	if c.apps["/shop/web"] == nil || c.apps["/shop/back/db"] == nil || len(c.apps) != 2 {
		t.Fatalf("apps %v", c.apps)
	}
	if got := c.apps["/shop/web"].Dependencies; len(got) != 1 || got[0] != "/shop/db" {
		t.Errorf("web's dependencies %q", got)
	}
	if c.groups["/shop"] == nil || c.groups["/shop/back"] == nil || c.groups["/shop"].Dependencies[0] != "/infra" {
		t.Errorf("groups %+v", c.groups)
	}
	for body, want := range map[string]string{
		`{"id": "g", "apps": [{"id": "/elsewhere/x", "cmd": "x"}]}`: "/apps/0/id",
		`{"id": "g", "groups": [{"id": "/other"}]}`:                 "/groups/0/id",
		`{"id": "g", "apps": [{"id": "x", "cmd": "x", "gpus": 1}]}`: "/apps/0/gpus",
		`{"id": "g", "pods": [{}]}`:                                 "/pods",
	} {
		spec, err := DecodeGroup([]byte(body))
		if err == nil {
			_, err = spec.flatten("/", "v1")
		}
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want an error at %s", body, err, want)
		}
	}
}

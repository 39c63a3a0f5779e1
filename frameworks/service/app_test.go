package service

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestMarathonAppFixturesDeployUnchanged decodes apps written as
// Marathon's documentation writes them.
func TestMarathonAppFixturesDeployUnchanged(t *testing.T) {
	files, _ := filepath.Glob("testdata/apps/*.json")
	if len(files) < 3 {
		t.Fatalf("found %d fixtures", len(files))
	}
	for _, name := range files {
		if strings.HasSuffix(name, "resident.json") {
			continue // see TestResidentAppsAreReferredToPets
		}
		f, err := os.Open(name)
		if err != nil {
			t.Fatal(err)
		}
		app, err := DecodeApp(f)
		f.Close()
		if err == nil {
			err = app.Normalize()
		}
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if !strings.HasPrefix(app.ID, "/") || app.instances() < 1 || app.UpgradeStrategy.MinimumHealthCapacity == nil {
			t.Errorf("%s: not normalized: %+v", name, app)
		}
	}
}

func TestInvalidAppsAreRejectedNamingTheField(t *testing.T) {
	for file, want := range map[string]string{
		"unknown-field.json":       `/executor: unknown field "executor"`,
		"docker.json":              "/container/docker/privileged: corral does not run privileged containers",
		"bad-id.json":              "/id:",
		"bad-constraint.json":      `/constraints: constraint ["hostname" "NEAR" "a"]: unknown operator "NEAR"`,
		"bad-strategy.json":        "/upgradeStrategy/minimumHealthCapacity: must be between 0 and 1, got 1.5",
		"marathon-http-check.json": "/healthChecks/0/protocol: HTTP checks run by the framework are not supported; use MESOS_HTTP",
		"wrong-type.json":          "/instances: expected int, got JSON string",
		"no-cmd.json":              "/cmd: an app needs cmd or args",
		"root-id.json":             `/id: "/" is a group, not an app id`,
		"nested-unknown.json":      `unknown field "speed"`,
	} {
		f, err := os.Open(filepath.Join("testdata/bad", file))
		if err != nil {
			t.Fatal(err)
		}
		app, err := DecodeApp(f)
		f.Close()
		if err == nil {
			err = app.Normalize()
		}
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %v, want it to contain %q", file, err, want)
		}
	}
}

func TestResidentAppsAreReferredToPets(t *testing.T) {
	f, err := os.Open("testdata/apps/resident.json")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	app, err := DecodeApp(f)
	if err != nil {
		t.Fatal(err)
	}
	if err := app.Normalize(); err == nil || !strings.Contains(err.Error(), "pets framework") {
		t.Fatalf("a persistent volume gave %v, want a 422 pointing to the pets framework", err)
	}
}

func TestDefaultsAreMarathons(t *testing.T) {
	app, err := DecodeApp(strings.NewReader(`{"id":"a/b","cmd":"x"}`))
	if err != nil {
		t.Fatal(err)
	}
	if err := app.Normalize(); err != nil {
		t.Fatal(err)
	}
	if app.ID != "/a/b" || app.CPUs != 1 || app.Mem != 128 || app.instances() != 1 || *app.BackoffSeconds != 1 ||
		*app.BackoffFactor != 1.15 || *app.MaxLaunchDelaySeconds != 300 || app.KillSelection != "YOUNGEST_FIRST" ||
		*app.UpgradeStrategy.MinimumHealthCapacity != 1 || *app.UpgradeStrategy.MaximumOverCapacity != 1 || app.Role != "*" {
		t.Fatalf("defaults: %+v", app)
	}
}

func TestSameRuntimeIgnoresOnlyTheCount(t *testing.T) {
	a := &App{ID: "/a", Cmd: "x"}
	_ = a.Normalize()
	b := *a
	n := 7
	b.Instances = &n
	if !sameRuntime(a, &b) {
		t.Fatal("a change of instances needs a restart")
	}
	c := *a
	c.Env = map[string]string{"A": "1"}
	if sameRuntime(a, &c) {
		t.Fatal("a change of env does not restart")
	}
}

func FuzzDecodeApp(f *testing.F) {
	for _, s := range []string{`{"id":"/","cmd":"x"}`, `{"id":"/a","cmd":"x"}`, `{"id":"x","args":["a"],"instances":2,"constraints":[["hostname","UNIQUE"]]}`, `{}`, `[]`, `{"unreachableStrategy":"disabled"}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		app, err := DecodeApp(strings.NewReader(s))
		if err != nil {
			if _, ok := err.(*ValidationError); !ok {
				t.Fatalf("decode error of type %T: %v", err, err)
			}
			return
		}
		err = app.Normalize()
		if err != nil {
			if _, ok := err.(*ValidationError); !ok {
				t.Fatalf("normalize error of type %T: %v", err, err)
			}
			return
		}
		// A valid app has its defaults filled in.
		if app.instances() < 0 || app.Role == "" {
			t.Fatalf("normalized app %+v", app)
		}
	})
}

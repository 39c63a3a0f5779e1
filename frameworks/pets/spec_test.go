package pets

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/corral-sched/corral/store"
)

func TestSpecValidation(t *testing.T) {
	for _, tc := range []struct {
		json, wantErr string
	}{
		{`{"id":"db","cmd":"x","cpus":1}`, ""},
		{`{"id":"Db","cmd":"x","cpus":1}`, `id "Db"`},
		{`{"id":"db","cmd":"x","cpus":1,"instances":-1}`, "instances must be between 0"},
		{`{"id":"db","cpus":1}`, "cmd or args is required"},
		{`{"id":"db","image":"127.0.0.1:5000/db:1","cpus":1}`, ""},
		{`{"id":"db","cmd":"x"}`, "cpus or mem must be positive"},
		{`{"id":"db","cmd":"x","cpus":1,"ports":["a","a"]}`, "appears twice"},
		{`{"id":"db","cmd":"x","cpus":1,"volumes":[{"containerPath":"/abs","size":1}]}`, "must be relative"},
		{`{"id":"db","cmd":"x","cpus":1,"volumes":[{"containerPath":"d","size":0}]}`, "size must be a positive"},
		{`{"id":"db","cmd":"x","cpus":1,"podManagementPolicy":"Random"}`, "use OrderedReady or Parallel"},
		{`{"id":"db","cmd":"x","cpus":1,"updateStrategy":{"type":"Recreate"}}`, "use RollingUpdate or OnDelete"},
		{`{"id":"db","cmd":"x","cpus":1,"updateStrategy":{"type":"RollingUpdate","partition":-1}}`, "partition must not be negative"},
		{`{"id":"db","cmd":"x","cpus":1,"constraints":[["hostname","NEAR"]]}`, "unknown operator"},
		{`{"id":"db","cmd":"x","cpus":1,"env":{"CORRAL_PET_NAME":"x"}}`, "set by the framework"},
		{`{"id":"db","cmd":"x","cpus":1,"healthChecks":[{"protocol":"HTTP","portIndex":0}]}`, "portIndex 0: the set has 0 ports"},
		{`{"id":"db","cmd":"x","cpus":1,"healthChecks":[{"protocol":"COMMAND","command":"true"}],"readinessChecks":[{"protocol":"COMMAND","command":"true"}]}`, "cannot be combined"},
		{`{"id":"db","cmd":"x","cpus":1,"role":"*"}`, "not a valid role"},
		{`{"id":"db","cmd":"x","cpus":1,"placement":{"spread":"required","by":"zone"}}`, ""},
		{`{"id":"db","cmd":"x","cpus":1,"placement":{"spread":"none"}}`, ""},
		{`{"id":"db","cmd":"x","cpus":1,"placement":"required"}`, ""},
		{`{"id":"db","cmd":"x","cpus":1,"placement":{"spread":"always"}}`, `placement.spread "always": use preferred, required or none`},
		{`{"id":"db","cmd":"x","cpus":1,"placement":{"by":"rack id"}}`, `placement.by "rack id"`},
		{`{"id":"db","cmd":"x","cpus":1,"network":"corral-net"}`, ""},
		{`{"id":"db","cmd":"x","cpus":1,"network":"../etc"}`, `network "../etc"`},
	} {
		s := &PetSet{}
		if err := json.Unmarshal([]byte(tc.json), s); err != nil {
			t.Fatalf("%s: %v", tc.json, err)
		}
		err := s.normalize()
		switch {
		case tc.wantErr == "" && err != nil:
			t.Errorf("%s: %v", tc.json, err)
		case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
			t.Errorf("%s: error %v, want one saying %q", tc.json, err, tc.wantErr)
		}
	}
	s := &PetSet{ID: "db", Cmd: "x", CPUs: 1}
	if err := s.normalize(); err != nil || s.PodManagementPolicy != OrderedReady || s.UpdateStrategy.Type != RollingUpdate || s.Role != DefaultRole ||
		s.Placement == nil || *s.Placement != (PlacementPolicy{Spread: "preferred", By: "hostname"}) {
		t.Errorf("defaults: %+v %v", s, err)
	}
}

func TestPortsAreACountOrNames(t *testing.T) {
	var s PetSet
	if err := json.Unmarshal([]byte(`{"ports":2}`), &s); err != nil || len(s.Ports) != 2 {
		t.Errorf("ports 2: %v %v", s.Ports, err)
	}
	if b, _ := json.Marshal(s.Ports); string(b) != "2" {
		t.Errorf("unnamed ports encode as %s, want 2", b)
	}
	if err := json.Unmarshal([]byte(`{"ports":["client","peer"]}`), &s); err != nil || s.Ports[1] != "peer" {
		t.Errorf("named ports: %v %v", s.Ports, err)
	}
	if err := json.Unmarshal([]byte(`{"ports":1.5}`), &s); err == nil {
		t.Error("ports 1.5 accepted")
	}
}

// The API answers bad input with 4xx naming the problem, before any
// cluster is involved.
func TestAPIRejectsBadInput(t *testing.T) {
	st, err := store.OpenLocal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	f, err := New(context.Background(), Config{Master: "127.0.0.1:1", Store: st})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(f.Handler(nil))
	defer srv.Close()
	for _, tc := range []struct {
		method, path, body string
		status             int
		want               string
	}{
		{"POST", "/v1/petsets", `{"id":"db","cmd":"x","cpus":1,"replicas":3}`, 422, `unknown field \"replicas\"`},
		{"POST", "/v1/petsets", `{"id":"db","cmd":"x","cpus":"one"}`, 422, `field \"cpus\"`},
		{"POST", "/v1/petsets", `{"id":"db","cmd":"x","cpus":1,"ports":-1}`, 422, "ports"},
		{"POST", "/v1/petsets", `{"id":"db",`, 400, "invalid pet set JSON"},
		{"POST", "/v1/petsets", `{"id":"db_1","cmd":"x","cpus":1}`, 422, `id \"db_1\"`},
		{"POST", "/v1/petsets", `{"id":"db","cmd":"x","cpus":1,"placement":{"spread":"sometimes"}}`, 422, `placement.spread \"sometimes\": use preferred, required or none`},
		{"POST", "/v1/petsets", `{"id":"db","cmd":"x","cpus":1,"placement":{"spread":"required","zone":"a"}}`, 422, `unknown field \"zone\"`},
		{"POST", "/v1/petsets", `{"id":"db","cmd":"x","cpus":1,"placement":"never"}`, 422, `placement.spread \"never\"`},
		{"POST", "/v1/petsets", `{"id":"db","cmd":"x","cpus":1,"placement":3}`, 422, `placement: want {`},
		{"POST", "/v1/petsets", `{"id":"db","cmd":"x","cpus":1,"instances":2}`, 201, `"instances": 2`},
		{"POST", "/v1/petsets", `{"id":"db","cmd":"x","cpus":1}`, 409, "exists"},
		{"PUT", "/v1/petsets/db", `{"id":"db","cmd":"x","cpus":2}`, 422, "cpus cannot change"},
		{"PUT", "/v1/petsets/other", `{"id":"db","cmd":"x","cpus":1}`, 400, "does not match"},
		{"POST", "/v1/petsets/db/scale", `{"instances":-2}`, 422, "instances is required"},
		{"POST", "/v1/petsets/db/scale", `{"replicas":2}`, 422, "unknown field"},
		{"POST", "/v1/petsets/db/pets/7/restart", ``, 404, "has no pet 7"},
		{"POST", "/v1/petsets/db/pets/x/replace", ``, 400, "ordinal"},
		{"GET", "/v1/petsets/nope", ``, 404, "does not exist"},
		{"DELETE", "/v1/petsets/db?purge=maybe", ``, 400, "purge"},
		{"POST", "/v1/petsets/db/scale", `{"instances":1}`, 200, `"instances": 1`},
		{"GET", "/v1/petsets/db", ``, 200, `"podManagementPolicy": "OrderedReady"`},
		{"GET", "/v1/petsets/db", ``, 200, `"spread": "preferred"`},
	} {
		req, _ := http.NewRequest(tc.method, srv.URL+tc.path, strings.NewReader(tc.body))
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.status || !strings.Contains(string(b), tc.want) {
			t.Errorf("%s %s %s: %d %s, want %d with %q", tc.method, tc.path, tc.body, resp.StatusCode, b, tc.status, tc.want)
		}
	}
}

package pets

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// FuzzReadSpec feeds pet set specs through readSpec, the decoding and
// validation of POST and PUT /v1/petsets: nothing may panic, a refusal is
// a 4xx, and an accepted spec is accepted again as it is stored.
func FuzzReadSpec(f *testing.F) {
	for _, s := range []string{
		`{"id":"zk","instances":3,"cmd":"run-zk","cpus":0.5,"mem":256,"ports":["client","peer","election"],"volumes":[{"containerPath":"data","size":100}]}`,
		`{"id":"db","args":["/bin/db","--port","$PORT0"],"mem":64,"ports":1,"env":{"A":"1"},"labels":{"k":"v"},"constraints":[["hostname","UNIQUE"]]}`,
		`{"id":"web","cmd":"x","cpus":1,"ports":["http"],"healthChecks":[{"protocol":"HTTP","path":"/health","portName":"http","maxConsecutiveFailures":2}],"readinessChecks":[{"protocol":"TCP","portIndex":0}]}`,
		`{"id":"p","cmd":"x","cpus":1,"podManagementPolicy":"Parallel","updateStrategy":{"type":"RollingUpdate","partition":2},"role":"pets/p","killGracePeriodSeconds":5}`,
		`{"id":"p","cmd":"x","cpus":1,"readinessChecks":[{"protocol":"COMMAND","command":"true"}],"updateStrategy":{"type":"OnDelete"}}`,
		`{"id":"p","cmd":"x","cpus":1,"ports":2,"healthChecks":[{"protocol":"TCP","portIndex":5}]}`,
		`{"id":"p","cmd":"x","cpus":1,"volumes":[{"containerPath":"../x","size":1}]}`,
		`{}`, `[]`, `null`, `{"ports":1e9}`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		s, status := readSpecBody(body)
		if s == nil {
			if status < 400 || status >= 500 {
				t.Fatalf("refused with %d", status)
			}
			return
		}
		if !setID.MatchString(s.ID) || s.Instances < 0 || s.Instances > MaxInstances || s.Role == "" || s.UpdateStrategy == nil {
			t.Fatalf("accepted spec %+v", s)
		}
		for _, hc := range s.HealthChecks {
			if hc.Protocol != "COMMAND" {
				if p := checkPort(hc.PortName, hc.PortIndex, s.Ports); p < 0 || p >= len(s.Ports) {
					t.Fatalf("accepted a health check on port %d of %d", p, len(s.Ports))
				}
			}
		}
		_, _ = s.volumeDisk(), s.template()
		stored, err := json.Marshal(s)
		if err != nil {
			t.Fatalf("encoding an accepted spec: %v", err)
		}
		again, status := readSpecBody(string(stored))
		if again == nil {
			t.Fatalf("the stored form of an accepted spec is refused (%d): %s", status, stored)
		}
		if changes := shapeChanges(s, again); len(changes) > 0 {
			t.Fatalf("storing the spec changed %v: %s", changes, stored)
		}
	})
}

func readSpecBody(body string) (*PetSet, int) {
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodPost, "/v1/petsets", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	s, ok := readSpec(rec, req)
	if !ok {
		return nil, rec.Code
	}
	return s, http.StatusOK
}

package batch

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// FuzzReadJob feeds job submissions through readJob, the decoding and
// validation every POST and PUT of /v1/jobs runs: nothing may panic, a
// refusal is a 4xx, and an accepted job is accepted again as it is stored.
func FuzzReadJob(f *testing.F) {
	for _, s := range []string{
		`{"id":"nightly","cmd":"echo hi","cpus":0.1,"mem":32}`,
		`{"id":"etl","args":["/bin/true"],"cpus":1,"mem":128,"completions":5,"parallelism":2,"retries":3,"backoffSeconds":2,"backoffFactor":1.5,"maxBackoffSeconds":60}`,
		`{"id":"cron","cmd":"date","mem":16,"schedule":{"cron":"*/5 * * * *","timeZone":"Europe/Paris","concurrencyPolicy":"Forbid","startingDeadlineSeconds":30}}`,
		`{"id":"child","cmd":"x","cpus":1,"dependsOn":["parent"],"constraints":[["hostname","UNIQUE"],["rack","LIKE","a|b"]],"env":{"A":"1"},"labels":{"k":"v"},"role":"batch/etl"}`,
		`{"id":"x","cmd":"x","cpus":1,"schedule":{"cron":"@every 1h"}}`,
		`{"id":"x","cmd":"x","cpus":1,"constraints":[["host","LIKE"]]}`,
		`{"id":"x","cmd":"x","cpus":1,"activeDeadlineSeconds":1e308,"ttlSecondsAfterFinished":60}`,
		`{}`, `[]`, `null`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		j, status := readJobBody(body)
		if j == nil {
			if status < 400 || status >= 500 {
				t.Fatalf("refused with %d", status)
			}
			return
		}
		if !jobID.MatchString(j.ID) || j.Completions < 1 || j.Parallelism < 1 || j.Role == "" || j.BackoffFactor < 1 {
			t.Fatalf("accepted job %+v", j)
		}
		if j.Schedule != nil {
			if _, err := j.Schedule.parse(); err != nil {
				t.Fatalf("accepted a schedule that does not parse: %v", err)
			}
		}
		_ = j.backoff(j.Retries + 1)
		stored, err := json.Marshal(j)
		if err != nil {
			t.Fatalf("encoding an accepted job: %v", err)
		}
		if again, status := readJobBody(string(stored)); again == nil {
			t.Fatalf("the stored form of an accepted job is refused (%d): %s", status, stored)
		}
	})
}

func readJobBody(body string) (*Job, int) {
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodPost, "/v1/jobs", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	j, ok := readJob(rec, req)
	if !ok {
		return nil, rec.Code
	}
	return j, http.StatusOK
}

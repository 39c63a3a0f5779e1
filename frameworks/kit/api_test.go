package kit

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/corral-sched/corral/auth"
)

func get(t *testing.T, h http.Handler, path string, user, secret string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, path, nil)
	if user != "" {
		req.SetBasicAuth(user, secret)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	return w
}

// /health and the open paths answer without credentials, for probes;
// everything else, /metrics included, wants them.
func TestAPIServesHealthAndMetricsBehindCredentials(t *testing.T) {
	var mu sync.Mutex
	jobs := 3
	g := NewGauges(&mu)
	g.Gauge("corral_test_jobs", "Jobs.", func() int { return jobs })
	mux := http.NewServeMux()
	mux.HandleFunc("GET /ping", func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("pong")) })
	mux.HandleFunc("GET /v1/jobs", func(w http.ResponseWriter, r *http.Request) { WriteJSON(w, http.StatusOK, []int{}) })
	api := API{FrameworkID: func() string { return "fw-1" }, Metrics: g, Credentials: auth.Credentials{"ops": "s3cret"}, Open: []string{"/ping"}}
	h := api.Handler(mux)

	if w := get(t, h, "/health", "", ""); w.Code != http.StatusOK || w.Body.String() != "{\n  \"framework_id\": \"fw-1\",\n  \"healthy\": true\n}\n" {
		t.Errorf("/health: %d %q", w.Code, w.Body.String())
	}
	if w := get(t, h, "/ping", "", ""); w.Code != http.StatusOK {
		t.Errorf("/ping without credentials: %d", w.Code)
	}
	for _, path := range []string{"/metrics", "/v1/jobs"} {
		if w := get(t, h, path, "", ""); w.Code != http.StatusUnauthorized {
			t.Errorf("%s without credentials: %d, want 401", path, w.Code)
		}
	}
	w := get(t, h, "/metrics", "ops", "s3cret")
	if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), "corral_test_jobs 3") {
		t.Errorf("/metrics: %d %q", w.Code, w.Body.String())
	}
}

// A labelled gauge exports every label value read, an empty one
// included; a gauge without labels exports one series.
func TestGaugesExportWhatTheyRead(t *testing.T) {
	var mu sync.Mutex
	g := NewGauges(&mu)
	g.Gauge("corral_test_sets", "Sets.", func() int { return 2 })
	g.ByLabel("corral_test_tasks", "Tasks by state.", "state", func() map[string]int {
		return map[string]int{"TASK_RUNNING": 4, "": 1}
	})
	h := API{FrameworkID: func() string { return "" }, Metrics: g}.Handler(http.NewServeMux())
	body := get(t, h, "/metrics", "", "").Body.String()
	for _, want := range []string{"corral_test_sets 2", `corral_test_tasks{state="TASK_RUNNING"} 4`, `corral_test_tasks{state=""} 1`} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q:\n%s", want, body)
		}
	}
}

package service

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/corral-sched/corral/auth"
	"github.com/corral-sched/corral/store"
)

// With APICredentials the REST API answers 401 without credentials or
// with wrong ones, and serves valid ones; probes stay open.
func TestRESTAPIRequiresCredentials(t *testing.T) {
	st, err := store.OpenLocal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	f, err := New(context.Background(), Config{Master: "127.0.0.1:1", Store: st, Logger: testLogger(),
		APICredentials: auth.Credentials{"ops": "s3cret"}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(f.Handler(nil))
	defer srv.Close()
	do := func(method, path, body string, creds ...string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		if len(creds) == 2 {
			req.SetBasicAuth(creds[0], creds[1])
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	for _, c := range []struct {
		method, path, body string
		ok                 int
	}{
		{"POST", "/v2/apps", `{"id":"/web","cmd":"sleep 60","cpus":0.1,"mem":16,"instances":0}`, 201},
		{"GET", "/v2/apps", "", 200},
		{"GET", "/v2/apps/web", "", 200},
		{"PUT", "/v2/apps/web?force=true", `{"id":"/web","cmd":"sleep 60","cpus":0.1,"mem":16,"instances":0}`, 200},
		{"GET", "/v2/deployments", "", 200},
		{"GET", "/v2/queue", "", 200},
		{"GET", "/v2/info", "", 200},
		{"GET", "/metrics", "", 200},
		{"DELETE", "/v2/apps/web?force=true", "", 200},
	} {
		for _, creds := range [][]string{nil, {"ops", "wrong"}, {"eve", "s3cret"}} {
			if status, body := do(c.method, c.path, c.body, creds...); status != http.StatusUnauthorized {
				t.Errorf("%s %s with %v: %d %q, want 401", c.method, c.path, creds, status, body)
			}
		}
		if status, body := do(c.method, c.path, c.body, "ops", "s3cret"); status != c.ok {
			t.Errorf("%s %s with valid credentials: %d %q, want %d", c.method, c.path, status, body, c.ok)
		}
	}
	for _, probe := range []string{"/health", "/ping"} {
		if status, body := do("GET", probe, ""); status != http.StatusOK {
			t.Errorf("%s without credentials: %d %q", probe, status, body)
		}
	}
}

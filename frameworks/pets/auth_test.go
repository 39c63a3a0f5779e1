package pets

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/corral-sched/corral/auth"
	"github.com/corral-sched/corral/store"
)

// With APICredentials the REST API answers 401 without credentials or
// with wrong ones, and serves valid ones; /health stays open.
func TestRESTAPIRequiresCredentials(t *testing.T) {
	st, err := store.OpenLocal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	f, err := New(context.Background(), Config{Master: "127.0.0.1:1", Store: st, Logger: slog.New(slog.DiscardHandler),
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
		{"POST", "/v1/petsets", `{"id":"db","cmd":"x","cpus":1,"instances":1}`, 201},
		{"GET", "/v1/petsets", "", 200},
		{"GET", "/v1/petsets/db", "", 200},
		{"GET", "/v1/petsets/db/pets", "", 200},
		{"POST", "/v1/petsets/db/scale", `{"instances":2}`, 200},
		{"GET", "/v1/releases", "", 200},
		{"DELETE", "/v1/petsets/db", "", 202},
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
	if status, body := do("GET", "/health", ""); status != http.StatusOK {
		t.Errorf("/health without credentials: %d %q", status, body)
	}
}

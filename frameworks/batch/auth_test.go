package batch

import (
	"context"
	"log/slog"
	"net/http/httptest"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/corral-sched/corral/auth"
	"github.com/corral-sched/corral/internal/testkit/authtest"
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
	srv := httptest.NewServer(f.Handler(prometheus.NewRegistry()))
	defer srv.Close()
	authtest.Matrix(t, srv.URL, "ops", "s3cret", []authtest.Call{
		{Method: "POST", Path: "/v1/jobs", Body: `{"id":"nightly","cmd":"true","cpus":0.1}`, OK: 201},
		{Method: "GET", Path: "/v1/jobs", OK: 200},
		{Method: "GET", Path: "/v1/jobs/nightly", OK: 200},
		{Method: "POST", Path: "/v1/jobs/nightly/trigger", OK: 201},
		{Method: "GET", Path: "/v1/jobs/nightly/runs", OK: 200},
		{Method: "GET", Path: "/metrics", OK: 200},
		{Method: "DELETE", Path: "/v1/jobs/nightly", OK: 204},
	}, "/health")
}

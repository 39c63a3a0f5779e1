package service

import (
	"context"
	"net/http/httptest"
	"testing"

	"github.com/corral-sched/corral/auth"
	"github.com/corral-sched/corral/internal/testkit/authtest"
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
	authtest.Matrix(t, srv.URL, "ops", "s3cret", []authtest.Call{
		{Method: "POST", Path: "/v2/apps", Body: `{"id":"/web","cmd":"sleep 60","cpus":0.1,"mem":16,"instances":0}`, OK: 201},
		{Method: "GET", Path: "/v2/apps", OK: 200},
		{Method: "GET", Path: "/v2/apps/web", OK: 200},
		{Method: "PUT", Path: "/v2/apps/web?force=true", Body: `{"id":"/web","cmd":"sleep 60","cpus":0.1,"mem":16,"instances":0}`, OK: 200},
		{Method: "GET", Path: "/v2/deployments", OK: 200},
		{Method: "GET", Path: "/v2/queue", OK: 200},
		{Method: "GET", Path: "/v2/info", OK: 200},
		{Method: "GET", Path: "/metrics", OK: 200},
		{Method: "DELETE", Path: "/v2/apps/web?force=true", OK: 200},
	}, "/health", "/ping")
}

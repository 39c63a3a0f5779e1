package pets

import (
	"context"
	"log/slog"
	"net/http/httptest"
	"testing"

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
	srv := httptest.NewServer(f.Handler(nil))
	defer srv.Close()
	authtest.Matrix(t, srv.URL, "ops", "s3cret", []authtest.Call{
		{Method: "POST", Path: "/v1/petsets", Body: `{"id":"db","cmd":"x","cpus":1,"instances":1}`, OK: 201},
		{Method: "GET", Path: "/v1/petsets", OK: 200},
		{Method: "GET", Path: "/v1/petsets/db", OK: 200},
		{Method: "GET", Path: "/v1/petsets/db/pets", OK: 200},
		{Method: "POST", Path: "/v1/petsets/db/scale", Body: `{"instances":2}`, OK: 200},
		{Method: "GET", Path: "/v1/releases", OK: 200},
		{Method: "DELETE", Path: "/v1/petsets/db", OK: 202},
	}, "/health")
}

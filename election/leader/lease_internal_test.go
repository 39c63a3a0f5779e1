package leader

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/corral-sched/corral/election"
)

// A term whose lease ran out answers nothing as leader: its handler is
// not called, and clients are told to retry.
func TestNoAnswerAsLeaderOnceTheLeaseRanOut(t *testing.T) {
	r := New(Config{Noun: "master"})
	var h http.Handler = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "leader") })
	r.current.Store(&h)

	r.lease.Store(nil) // a term not elected through ZooKeeper: no lease to run out
	if w := serve(r); w.Code != http.StatusOK || w.Body.String() != "leader" {
		t.Fatalf("without a lease: %d %q", w.Code, w.Body)
	}
	r.lease.Store(&election.Lease{}) // never confirmed: run out
	if w := serve(r); w.Code != http.StatusServiceUnavailable || w.Body.String() == "leader" || w.Header().Get("Retry-After") == "" {
		t.Fatalf("with the lease run out: %d %q", w.Code, w.Body)
	}
}

func serve(r *Runner) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	r.Handler().ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/api/v1", nil))
	return w
}

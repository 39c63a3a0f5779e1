package sdktest

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/corral-sched/corral/proto/schedulerpb"
)

// SlowAccepts is a proxy in front of a master that holds every ACCEPT for
// a while before passing it on, as a congested link or a master busy
// elsewhere would, and notes every RECONCILE that names a task whose
// launching ACCEPT it holds or has passed on unanswered: the master does
// not know such a task yet. A framework connects to Addr instead of the
// master; everything else passes unchanged (the subscription streams).
type SlowAccepts struct {
	// Addr is the proxy's host:port, for the framework's Master.
	Addr string

	mu       sync.Mutex
	inFlight map[string]int // task IDs of ACCEPTs not answered yet
	early    []string       // task IDs reconciled while in flight
}

// NewSlowAccepts starts a proxy to masterURL that holds ACCEPTs for hold;
// it stops when the test ends.
func NewSlowAccepts(t TB, masterURL string, hold time.Duration) *SlowAccepts {
	t.Helper()
	target, err := url.Parse(masterURL)
	if err != nil {
		t.Fatalf("sdktest: master URL %q: %v", masterURL, err)
	}
	proxy := httputil.NewSingleHostReverseProxy(target)
	proxy.FlushInterval = -1 // the subscription is a stream
	s := &SlowAccepts{inFlight: make(map[string]int)}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		call := s.peek(r)
		switch call.GetType() {
		case schedulerpb.Call_ACCEPT:
			ids := launchedIDs(call)
			s.track(ids, 1)
			defer s.track(ids, -1) // once the master has answered
			time.Sleep(hold)
		case schedulerpb.Call_RECONCILE:
			s.check(call.GetReconcile().GetTasks())
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	s.Addr = strings.TrimPrefix(srv.URL, "http://")
	return s
}

// ReconciledInFlight lists the task IDs a RECONCILE named while their
// ACCEPT was still on its way, in order.
func (s *SlowAccepts) ReconciledInFlight() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.early...)
}

// peek decodes a scheduler call in protobuf, leaving the body to be read
// again; anything else is nil.
func (s *SlowAccepts) peek(r *http.Request) *schedulerpb.Call {
	if r.Method != http.MethodPost || !strings.HasSuffix(r.URL.Path, "/scheduler") {
		return nil
	}
	body, err := io.ReadAll(r.Body)
	r.Body = io.NopCloser(bytes.NewReader(body))
	var call schedulerpb.Call
	if err != nil || proto.Unmarshal(body, &call) != nil {
		return nil
	}
	return &call
}

func (s *SlowAccepts) track(ids []string, d int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, id := range ids {
		if s.inFlight[id] += d; s.inFlight[id] <= 0 {
			delete(s.inFlight, id)
		}
	}
}

func (s *SlowAccepts) check(tasks []*schedulerpb.Call_Reconcile_Task) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, rt := range tasks {
		if id := rt.GetTaskId().GetValue(); s.inFlight[id] > 0 {
			s.early = append(s.early, id)
		}
	}
}

func launchedIDs(call *schedulerpb.Call) []string {
	var ids []string
	for _, op := range call.GetAccept().GetOperations() {
		for _, ti := range op.GetLaunch().GetTaskInfos() {
			ids = append(ids, ti.GetTaskId().GetValue())
		}
	}
	return ids
}

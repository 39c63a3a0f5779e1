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

// AcceptProxy is a proxy in front of a master that mistreats ACCEPTs
// as a congested link, a master busy elsewhere or one failing over would:
// it holds each for a while before passing it on (NewSlowAccepts), or
// loses some that launch tasks (NewLostAccepts). It notes every
// RECONCILE that names a task whose launching ACCEPT it holds or has
// passed on unanswered: the master does not know such a task yet. A
// framework connects to Addr instead of the master; everything else
// passes unchanged (the subscription streams).
type AcceptProxy struct {
	// Addr is the proxy's host:port, for the framework's Master.
	Addr string

	mu       sync.Mutex
	hold     time.Duration
	lose     int            // ACCEPTs still to lose
	lost     []string       // task IDs of the ACCEPTs lost
	inFlight map[string]int // task IDs of ACCEPTs not answered yet
	early    []string       // task IDs reconciled while in flight
}

// NewSlowAccepts starts a proxy to masterURL that holds every ACCEPT for
// hold; it stops when the test ends.
func NewSlowAccepts(t TB, masterURL string, hold time.Duration) *AcceptProxy {
	t.Helper()
	return newAcceptProxy(t, masterURL, &AcceptProxy{hold: hold})
}

// NewLostAccepts starts a proxy to masterURL that loses the first n
// ACCEPTs that launch tasks: it answers 503, as a master that fails over
// before handling them does, and never passes them on. It stops when the
// test ends.
func NewLostAccepts(t TB, masterURL string, n int) *AcceptProxy {
	t.Helper()
	return newAcceptProxy(t, masterURL, &AcceptProxy{lose: n})
}

func newAcceptProxy(t TB, masterURL string, s *AcceptProxy) *AcceptProxy {
	t.Helper()
	target, err := url.Parse(masterURL)
	if err != nil {
		t.Fatalf("sdktest: master URL %q: %v", masterURL, err)
	}
	proxy := httputil.NewSingleHostReverseProxy(target)
	proxy.FlushInterval = -1 // the subscription is a stream
	s.inFlight = make(map[string]int)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		call := s.peek(r)
		switch call.GetType() {
		case schedulerpb.Call_ACCEPT:
			ids := launchedIDs(call)
			if len(ids) > 0 && s.loseOne(ids) {
				http.Error(w, "Master is failing over (sdktest lost this ACCEPT)", http.StatusServiceUnavailable)
				return
			}
			s.track(ids, 1)
			defer s.track(ids, -1) // once the master has answered
			time.Sleep(s.hold)
		case schedulerpb.Call_RECONCILE:
			s.check(call.GetReconcile().GetTasks())
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	s.Addr = strings.TrimPrefix(srv.URL, "http://")
	return s
}

// Lost lists the task IDs of the ACCEPTs the proxy lost, in order.
func (s *AcceptProxy) Lost() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.lost...)
}

func (s *AcceptProxy) loseOne(ids []string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.lose <= 0 {
		return false
	}
	s.lose--
	s.lost = append(s.lost, ids...)
	return true
}

// ReconciledInFlight lists the task IDs a RECONCILE named while their
// ACCEPT was still on its way, in order.
func (s *AcceptProxy) ReconciledInFlight() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.early...)
}

// peek decodes a scheduler call in protobuf, leaving the body to be read
// again; anything else is nil.
func (s *AcceptProxy) peek(r *http.Request) *schedulerpb.Call {
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

func (s *AcceptProxy) track(ids []string, d int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, id := range ids {
		if s.inFlight[id] += d; s.inFlight[id] <= 0 {
			delete(s.inFlight, id)
		}
	}
}

func (s *AcceptProxy) check(tasks []*schedulerpb.Call_Reconcile_Task) {
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

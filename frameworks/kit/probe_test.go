package kit

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestPollCallsReadyOnceTheCheckPasses(t *testing.T) {
	var calls atomic.Int32
	readied := make(chan struct{})
	Poll(context.Background(), time.Millisecond, func(context.Context) bool { return calls.Add(1) == 3 }, func() { close(readied) })
	select {
	case <-readied:
	default:
		t.Fatal("ready was not called")
	}
	if n := calls.Load(); n != 3 {
		t.Errorf("checked %d times, want 3 (until the first pass)", n)
	}
}

func TestPollStopsWithItsContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	var checks atomic.Int32
	go func() {
		Poll(ctx, time.Millisecond, func(context.Context) bool { checks.Add(1); return false }, func() { t.Error("ready called") })
		close(done)
	}()
	deadline := time.Now().Add(10 * time.Second)
	for checks.Load() < 2 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond) // polling for the prober to have run
	}
	cancel()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Poll went on after its context ended")
	}
}

func TestHTTPAndTCPReadiness(t *testing.T) {
	var status atomic.Int32
	status.Store(http.StatusServiceUnavailable)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(int(status.Load())) }))
	defer srv.Close()
	ok2xx := func(code int) bool { return code >= 200 && code < 300 }
	ctx := context.Background()
	if HTTPReady(ctx, srv.Client(), srv.URL, 5*time.Second, ok2xx) {
		t.Error("a 503 counted as ready")
	}
	status.Store(http.StatusOK)
	if !HTTPReady(ctx, srv.Client(), srv.URL, 5*time.Second, ok2xx) {
		t.Error("a 200 did not count as ready")
	}
	if HTTPReady(ctx, srv.Client(), "http://bad host/", 5*time.Second, ok2xx) {
		t.Error("a malformed URL counted as ready")
	}
	addr := srv.Listener.Addr().String()
	if !TCPReady(ctx, addr, 5*time.Second) {
		t.Error("a listening port did not count as ready")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	ln.Close()
	if TCPReady(ctx, closed, 5*time.Second) {
		t.Error("a closed port counted as ready")
	}
}

// A probe that passes runs ready under the framework's lock, is
// forgotten and pokes the loop; one stopped never runs ready.
func TestProbesReadyOnceAndStop(t *testing.T) {
	var mu sync.Mutex
	poked := make(chan struct{}, 1)
	probes := NewProbes(&mu, func() { poked <- struct{}{} })
	var passing atomic.Bool
	lockHeld := make(chan bool, 1)

	mu.Lock()
	probes.Start(context.Background(), "t1", time.Millisecond, func(context.Context) bool { return passing.Load() }, func() {
		lockHeld <- !mu.TryLock()
	})
	probes.Start(context.Background(), "t2", time.Millisecond, func(context.Context) bool { return passing.Load() }, func() {
		t.Error("a stopped probe ran ready")
	})
	if !probes.Running("t1") || !probes.Running("t2") {
		t.Fatal("started probes are not running")
	}
	probes.Stop("t2")
	mu.Unlock()

	passing.Store(true)
	select {
	case held := <-lockHeld:
		if !held {
			t.Error("ready ran without the lock")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("ready did not run once the check passed")
	}
	select {
	case <-poked:
	case <-time.After(10 * time.Second):
		t.Fatal("the loop was not poked")
	}
	mu.Lock()
	defer mu.Unlock()
	if probes.Running("t1") || probes.Running("t2") {
		t.Error("finished or stopped probes still running")
	}
	probes.Start(context.Background(), "t3", time.Hour, func(context.Context) bool { return false }, func() {})
	probes.StopAll()
	if probes.Running("t3") {
		t.Error("StopAll left a probe running")
	}
}

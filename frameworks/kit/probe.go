package kit

import (
	"context"
	"net"
	"net/http"
	"sync"
	"time"
)

// HTTPDoer is the part of *http.Client probes use.
type HTTPDoer interface {
	Do(*http.Request) (*http.Response, error)
}

// Poll calls check every interval until it reports true, then calls
// ready; it gives up when ctx ends (the instance ended or was replaced).
func Poll(ctx context.Context, interval time.Duration, check func(context.Context) bool, ready func()) {
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if check(ctx) {
			ready()
			return
		}
		t.Reset(interval)
	}
}

// HTTPReady reports whether a GET of url answers, within timeout, with a
// status ok accepts.
func HTTPReady(ctx context.Context, client HTTPDoer, url string, timeout time.Duration, ok func(status int) bool) bool {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return false
	}
	resp, err := client.Do(req)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return ok(resp.StatusCode)
}

// TCPReady reports whether addr accepts a connection within timeout.
func TCPReady(ctx context.Context, addr string, timeout time.Duration) bool {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	c, err := (&net.Dialer{}).DialContext(ctx, "tcp", addr)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

// Probes are a framework's readiness probes in flight, by task ID: the
// framework, not the agent, checks readiness (as Marathon does), since
// readiness gates its deployments. The framework's lock guards them.
type Probes struct {
	mu      sync.Locker // the framework's lock
	poke    func()
	cancels map[string]context.CancelFunc
}

// NewProbes returns the probes of a framework whose lock is mu; poke
// (the framework's Loop.Poke) is called after a probe passes, so that
// what waited for it proceeds at once.
func NewProbes(mu sync.Locker, poke func()) *Probes {
	return &Probes{mu: mu, poke: poke, cancels: make(map[string]context.CancelFunc)}
}

// Running reports whether a task is being probed.
func (p *Probes) Running(taskID string) bool { return p.cancels[taskID] != nil }

// Start probes a task: check, every interval, until it passes or ctx
// ends or Stop; then ready runs with the framework's lock held.
func (p *Probes) Start(ctx context.Context, taskID string, interval time.Duration, check func(context.Context) bool, ready func()) {
	ctx, cancel := context.WithCancel(ctx)
	p.cancels[taskID] = cancel
	go Poll(ctx, interval, check, func() {
		p.mu.Lock()
		if ctx.Err() != nil {
			// Stopped while its last check ran: the task ended, and a
			// new probe of the same task may hold its entry.
			p.mu.Unlock()
			return
		}
		ready()
		delete(p.cancels, taskID)
		p.mu.Unlock()
		p.poke()
	})
}

// Stop ends a task's probe, if any.
func (p *Probes) Stop(taskID string) {
	if cancel := p.cancels[taskID]; cancel != nil {
		cancel()
		delete(p.cancels, taskID)
	}
}

// StopAll ends every probe, as the framework stops.
func (p *Probes) StopAll() {
	for id := range p.cancels {
		p.Stop(id)
	}
}

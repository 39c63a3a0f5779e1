package kit

import (
	"context"
	"net"
	"net/http"
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

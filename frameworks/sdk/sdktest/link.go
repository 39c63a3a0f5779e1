package sdktest

import (
	"context"
	"errors"
	"io"
	"net/http"
	"sync"
)

// errRemoved fails the calls of an agent the kit removed or shut down.
var errRemoved = errors.New("sdktest: the agent was removed from the cluster")

// link is an agent's connection to the master: the transport of its HTTP
// client. Cut, it drops what is in flight and holds new requests until it
// is healed, as a network partition does (nothing is refused, nothing
// arrives), so that a healed agent reconnects at once rather than after
// the backoff a refused connection would have grown. Dead, it fails every
// request.
type link struct {
	base http.RoundTripper

	mu       sync.Mutex
	cut      bool                   // guarded by mu
	dead     bool                   // guarded by mu
	healed   chan struct{}          // guarded by mu; closed when the cut ends
	inFlight map[*linkBody]struct{} // guarded by mu
}

var errPartitioned = errors.New("sdktest: the agent is partitioned from the master")

func newLink(base http.RoundTripper) *link {
	return &link{base: base, inFlight: make(map[*linkBody]struct{})}
}

func (l *link) RoundTrip(req *http.Request) (*http.Response, error) {
	b := &linkBody{l: l}
	ctx, cancel := context.WithCancelCause(req.Context())
	b.cancel = cancel
	for !l.enter(b) {
		if err := l.wait(req.Context()); err != nil {
			cancel(nil)
			return nil, err
		}
	}
	resp, err := l.base.RoundTrip(req.WithContext(ctx))
	if err != nil {
		b.forget()
		cancel(nil)
		return nil, err
	}
	b.ReadCloser = resp.Body
	resp.Body = b
	return resp, nil
}

// enter registers a request in flight if the link is open. It is
// registered before the round trip: a cut while the request waits for its
// answer drops it too.
func (l *link) enter(b *linkBody) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.cut || l.dead {
		return false
	}
	l.inFlight[b] = struct{}{}
	return true
}

// wait holds a request while the link is cut.
func (l *link) wait(ctx context.Context) error {
	l.mu.Lock()
	dead, cut, healed := l.dead, l.cut, l.healed
	l.mu.Unlock()
	switch {
	case dead:
		return errRemoved
	case !cut:
		return nil
	}
	select {
	case <-healed:
		return l.wait(ctx)
	case <-ctx.Done():
		return ctx.Err()
	}
}

// setCut cuts or heals the link.
func (l *link) setCut(cut bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if cut == l.cut {
		return
	}
	l.cut = cut
	if !cut {
		close(l.healed)
		return
	}
	l.healed = make(chan struct{})
	l.dropLocked(errPartitioned)
}

// kill fails every request from now on, and those in flight.
func (l *link) kill() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.dead {
		return
	}
	l.dead = true
	if l.cut {
		l.cut = false
		close(l.healed) // held requests wake up to fail
	}
	l.dropLocked(errRemoved)
}

// dropLocked cancels the requests in flight: the agent's event stream
// breaks, and the master sees the agent's connection close.
func (l *link) dropLocked(cause error) {
	for b := range l.inFlight {
		b.cancel(cause)
		delete(l.inFlight, b)
	}
	if t, ok := l.base.(interface{ CloseIdleConnections() }); ok {
		t.CloseIdleConnections()
	}
}

// linkBody is a request in flight, and then its answer's body.
type linkBody struct {
	io.ReadCloser
	l      *link
	cancel context.CancelCauseFunc
}

func (b *linkBody) Close() error {
	err := b.ReadCloser.Close()
	b.forget()
	b.cancel(nil)
	return err
}

// forget takes the request off the list of those in flight.
func (b *linkBody) forget() {
	b.l.mu.Lock()
	defer b.l.mu.Unlock()
	delete(b.l.inFlight, b)
}

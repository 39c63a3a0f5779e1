package core

import (
	"sync"

	"google.golang.org/protobuf/proto"
)

// recorder is a Stream that keeps what the core pushed, for tests to read.
type recorder struct {
	mu     sync.Mutex
	queue  []proto.Message
	closed bool
	reason string
}

func newRecorder() *recorder { return &recorder{} }

func (r *recorder) Push(ev proto.Message) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return false
	}
	r.queue = append(r.queue, ev)
	return true
}

func (r *recorder) Close(reason string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.closed {
		r.closed, r.reason = true, reason
	}
}

// take returns what was pushed since the last take, and whether the stream
// is closed.
func (r *recorder) take() ([]proto.Message, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.queue
	r.queue = nil
	return out, r.closed
}

// testPost collects what the core posts, for a test to run when it likes.
type testPost struct{ queued []func() }

func (p *testPost) post(fn func()) { p.queued = append(p.queued, fn) }

// run runs what was posted, including what that posts in turn.
func (p *testPost) run() {
	for len(p.queued) > 0 {
		fn := p.queued[0]
		p.queued = p.queued[1:]
		fn()
	}
}

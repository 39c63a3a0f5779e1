package iosw

import "sync"

// Reader is an attached output client: a queue the pumps fill and the
// client drains, bounded in bytes.
type Reader struct {
	b      *Board
	budget int
	ready  chan struct{} // holds a notice while there is something to Take
	closer sync.Once

	mu sync.Mutex
	// room is signalled (with mu) when the queue empties or the reader
	// closes: what a lossless Board's pump waits for.
	room sync.Cond
	// queue holds bytes bytes of output not yet taken; closed says no more
	// will come, dropped that the reader fell behind. Guarded by mu.
	queue   []Chunk
	bytes   int
	closed  bool
	dropped bool
}

// push queues c; false (and the reader closed) if that would take it
// over its budget. The Board holds its mu.
func (r *Reader) push(c Chunk) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return false
	}
	if r.bytes+len(c.Data) > r.budget {
		r.queue, r.bytes = nil, 0 // nobody will read it: free it now
		r.closed, r.dropped = true, true
		r.notify()
		return false
	}
	r.queue = append(r.queue, c)
	r.bytes += len(c.Data)
	r.notify()
	return true
}

// pushWait queues c once the reader has room for it, waiting for its
// client to Take; it reports whether it had to wait. A closed reader
// takes nothing.
func (r *Reader) pushWait(c Chunk) (waited bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for !r.closed && r.bytes > 0 && r.bytes+len(c.Data) > r.budget {
		waited = true
		r.room.Wait()
	}
	if r.closed {
		return waited
	}
	r.queue = append(r.queue, c)
	r.bytes += len(c.Data)
	r.notify()
	return waited
}

func (r *Reader) close(dropped bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.closed {
		r.closed, r.dropped = true, dropped
		r.notify()
		r.room.Broadcast()
	}
}

func (r *Reader) notify() {
	select {
	case r.ready <- struct{}{}:
	default: // a notice is pending already
	}
}

// Ready holds a notice when Take has something to say.
func (r *Reader) Ready() <-chan struct{} { return r.ready }

// Take returns the output queued so far, in order, and whether more may
// come: false once the output has ended (or the reader was dropped) and
// everything before has been taken.
func (r *Reader) Take() ([]Chunk, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.queue
	r.queue, r.bytes = nil, 0
	r.room.Broadcast()
	if len(out) > 0 && r.closed {
		r.notify() // the end comes with the next Take
	}
	return out, !r.closed || len(out) > 0
}

// Dropped reports whether the reader was dropped for falling behind.
func (r *Reader) Dropped() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.dropped
}

// Close detaches the reader; its client is done with it.
func (r *Reader) Close() {
	r.closer.Do(func() {
		r.b.mu.Lock()
		delete(r.b.readers, r)
		r.b.mu.Unlock()
		r.close(false)
		r.b.attached.Done()
	})
}

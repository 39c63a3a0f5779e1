package master

import (
	"net/http"
	"sync"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/corral-sched/corral/codec"
	"github.com/corral-sched/corral/recordio"
)

// maxQueuedEvents bounds what the master holds for one slow reader. A
// subscriber that falls this far behind is disconnected rather than allowed
// to grow the master's memory without limit; it re-subscribes and reconciles.
const maxQueuedEvents = 100_000

// outbox is the queue between the state loop and the goroutine that writes
// one long-lived event stream. The loop never blocks on a client: it appends
// and signals; the HTTP handler drains, encodes and writes. Encoding happens
// on the handler's goroutine so that the loop only builds messages.
type outbox struct {
	mu     sync.Mutex
	queue  []proto.Message // guarded by mu
	closed bool            // guarded by mu; no more events are accepted
	reason string          // guarded by mu; why the stream was closed

	wake chan struct{} // capacity 1: "there is something to do"
}

func newOutbox() *outbox {
	return &outbox{wake: make(chan struct{}, 1)}
}

// Push queues ev and reports whether it was accepted. The caller must not
// modify ev afterwards.
func (o *outbox) Push(ev proto.Message) bool {
	o.mu.Lock()
	if o.closed {
		o.mu.Unlock()
		return false
	}
	if len(o.queue) >= maxQueuedEvents {
		o.closed, o.reason = true, "event queue overflow"
		o.mu.Unlock()
		o.signal()
		return false
	}
	o.queue = append(o.queue, ev)
	o.mu.Unlock()
	o.signal()
	return true
}

// Close ends the stream after the events already queued are written.
func (o *outbox) Close(reason string) {
	o.mu.Lock()
	if !o.closed {
		o.closed, o.reason = true, reason
	}
	o.mu.Unlock()
	o.signal()
}

func (o *outbox) signal() {
	select {
	case o.wake <- struct{}{}:
	default:
	}
}

// take returns everything queued and whether the stream is closed.
func (o *outbox) take(buf []proto.Message) ([]proto.Message, bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	buf = append(buf[:0], o.queue...)
	clear(o.queue)
	o.queue = o.queue[:0]
	return buf, o.closed
}

// pump writes queued events to w as RecordIO records until the outbox is
// closed, the client goes away, or a write fails. heartbeat, if not nil, is
// written whenever nothing else was written for interval. It returns why the
// stream ended.
func (o *outbox) pump(w http.ResponseWriter, r *http.Request, c codec.Codec, heartbeat func() proto.Message, interval time.Duration) string {
	rw := recordio.NewWriter(w)
	var tick <-chan time.Time
	if heartbeat != nil && interval > 0 {
		t := time.NewTicker(interval)
		defer t.Stop()
		tick = t.C
	}
	var batch []proto.Message
	for {
		select {
		case <-r.Context().Done():
			return "client disconnected"
		case <-tick:
			if err := writeEvent(rw, c, heartbeat()); err != nil {
				return err.Error()
			}
		case <-o.wake:
			var closed bool
			batch, closed = o.take(batch)
			for _, ev := range batch {
				if err := writeEvent(rw, c, ev); err != nil {
					return err.Error()
				}
			}
			clear(batch)
			if closed {
				o.mu.Lock()
				reason := o.reason
				o.mu.Unlock()
				return reason
			}
		}
	}
}

func writeEvent(rw *recordio.Writer, c codec.Codec, ev proto.Message) error {
	b, err := c.Marshal(ev)
	if err != nil {
		return err
	}
	return rw.WriteRecord(b)
}

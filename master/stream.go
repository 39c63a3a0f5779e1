package master

import (
	"context"
	"net/http"
	"sync"
	"sync/atomic"
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
	gone atomic.Bool   // the client went away
	beat atomic.Bool   // a heartbeat is due
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
// written every interval. It returns why the stream ended.
//
// One pump runs per connected agent, parked for most of its life, so it
// parks on as short a stack as it can, short enough for the runtime to
// halve the goroutine's stack (see agentSubscribeHTTP): it waits on the
// wake channel alone (the client's departure and the heartbeat timer
// raise flags and signal it) and does its work in frames of their own.
func (o *outbox) pump(w http.ResponseWriter, r *http.Request, c codec.Codec, heartbeat func() proto.Message, interval time.Duration) string {
	p := o.startPump(w, r, c, heartbeat, interval)
	for {
		<-o.wake
		if reason, done := p.step(); done {
			p.stop()
			return reason
		}
	}
}

// pumping is a pump's state, kept off its stack.
type pumping struct {
	o         *outbox
	rw        *recordio.Writer
	c         codec.Codec
	heartbeat func() proto.Message
	interval  time.Duration
	timer     *time.Timer // nil without heartbeats
	unwatch   func() bool // stops watching the request's context
	batch     []proto.Message
}

//go:noinline
func (o *outbox) startPump(w http.ResponseWriter, r *http.Request, c codec.Codec, heartbeat func() proto.Message, interval time.Duration) *pumping {
	p := &pumping{o: o, rw: recordio.NewWriter(w), c: c, heartbeat: heartbeat, interval: interval}
	p.unwatch = context.AfterFunc(r.Context(), func() {
		o.gone.Store(true)
		o.signal()
	})
	if heartbeat != nil && interval > 0 {
		p.timer = time.AfterFunc(interval, func() {
			o.beat.Store(true)
			o.signal()
		})
	}
	return p
}

// step does what the wake-up was for; done says the stream ended, and
// reason why.
//
//go:noinline
func (p *pumping) step() (reason string, done bool) {
	o := p.o
	if o.gone.Load() {
		return "client disconnected", true
	}
	if o.beat.Swap(false) {
		if err := writeEvent(p.rw, p.c, p.heartbeat()); err != nil {
			return err.Error(), true
		}
		p.timer.Reset(p.interval)
	}
	var closed bool
	p.batch, closed = o.take(p.batch)
	for _, ev := range p.batch {
		if err := writeEvent(p.rw, p.c, ev); err != nil {
			return err.Error(), true
		}
	}
	clear(p.batch)
	if closed {
		o.mu.Lock()
		defer o.mu.Unlock()
		return o.reason, true
	}
	return "", false
}

func (p *pumping) stop() {
	p.unwatch()
	if p.timer != nil {
		p.timer.Stop()
	}
}

func writeEvent(rw *recordio.Writer, c codec.Codec, ev proto.Message) error {
	b, err := c.Marshal(ev)
	if err != nil {
		return err
	}
	return rw.WriteRecord(b)
}

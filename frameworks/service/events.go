package service

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"time"
)

// eventBus fans events out to /v2/events subscribers. A subscriber that
// cannot keep up loses events rather than slowing the framework.
type eventBus struct {
	mu     sync.Mutex
	subs   map[chan sseEvent]bool
	closed bool
}

type sseEvent struct {
	Type string
	Data []byte
}

func newEventBus() *eventBus { return &eventBus{subs: make(map[chan sseEvent]bool)} }

func (b *eventBus) publish(typ string, data map[string]any) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.subs) == 0 {
		return
	}
	data["eventType"] = typ
	raw, err := json.Marshal(data)
	if err != nil {
		return
	}
	for ch := range b.subs {
		select {
		case ch <- sseEvent{Type: typ, Data: raw}:
		default:
		}
	}
}

func (b *eventBus) subscribe() (chan sseEvent, func()) {
	b.mu.Lock()
	defer b.mu.Unlock()
	ch := make(chan sseEvent, 256)
	if b.closed {
		close(ch)
		return ch, func() {}
	}
	b.subs[ch] = true
	return ch, func() {
		b.mu.Lock()
		defer b.mu.Unlock()
		if b.subs[ch] {
			delete(b.subs, ch)
			close(ch)
		}
	}
}

func (b *eventBus) close() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.closed = true
	for ch := range b.subs {
		delete(b.subs, ch)
		close(ch)
	}
}

// serveEvents streams events as Server-Sent Events; ?event_type= filters.
func (f *Framework) serveEvents(w http.ResponseWriter, r *http.Request) {
	flusher, ok := w.(http.Flusher)
	if !ok {
		writeError(w, http.StatusInternalServerError, "streaming is not supported by this connection")
		return
	}
	filter := make(map[string]bool)
	for _, t := range r.URL.Query()["event_type"] {
		filter[t] = true
	}
	ch, cancel := f.bus.subscribe()
	defer cancel()
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	fmt.Fprintf(w, "event: event_stream_attached\ndata: {\"eventType\":\"event_stream_attached\",\"remoteAddress\":%q}\n\n", r.RemoteAddr)
	flusher.Flush()
	keepalive := time.NewTicker(15 * time.Second)
	defer keepalive.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-keepalive.C:
			fmt.Fprint(w, ":\n\n")
			flusher.Flush()
		case ev, ok := <-ch:
			if !ok {
				return
			}
			if len(filter) > 0 && !filter[ev.Type] {
				continue
			}
			fmt.Fprintf(w, "event: %s\ndata: %s\n\n", ev.Type, ev.Data)
			flusher.Flush()
		}
	}
}

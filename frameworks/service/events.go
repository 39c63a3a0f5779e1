package service

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/corral-sched/corral/frameworks/kit"
)

// eventBus fans events out to /v2/events subscribers and the HTTP
// callbacks of /v2/eventSubscriptions. A subscriber that cannot keep up
// loses events rather than slowing the framework.
//
// Events carry Marathon's types and shapes, so that Marathon's clients
// decode them. Events of corral's own (named by corralEvent) go only to
// /v2/events streams that ask for them with ?corral_events=true: Marathon
// clients fail on types they do not know.
type eventBus struct {
	mu     sync.Mutex
	subs   map[chan sseEvent]bool
	corral map[chan sseEvent]bool // subscribers that want corral's events too
	// forward, if set, receives every Marathon event (the callbacks)
	// while it is active; it must not block.
	forward forwarder
	closed  bool
}

// forwarder takes events besides the streams: the HTTP callbacks.
type forwarder interface {
	active() bool // whether anyone would receive an event now
	send(typ string, raw []byte)
}

// corralPrefix marks events Marathon does not have.
const corralPrefix = "corral_"

// corralEvent names an event of corral's own.
func corralEvent(name string) string { return corralPrefix + name }

func isCorralEvent(typ string) bool { return strings.HasPrefix(typ, corralPrefix) }

type sseEvent struct {
	Type string
	Data []byte
}

func newEventBus() *eventBus {
	return &eventBus{subs: make(map[chan sseEvent]bool), corral: make(map[chan sseEvent]bool)}
}

func (b *eventBus) publish(typ string, data map[string]any) {
	b.mu.Lock()
	defer b.mu.Unlock()
	corral := isCorralEvent(typ)
	forward := b.forward != nil && !corral && b.forward.active()
	if len(b.subs) == 0 && !forward {
		return // nobody listens: not even encoded
	}
	data["eventType"] = typ
	if t, ok := data["timestamp"].(time.Time); ok {
		data["timestamp"] = t.UTC().Format("2006-01-02T15:04:05.000Z")
	}
	raw, err := json.Marshal(data)
	if err != nil {
		return
	}
	if forward {
		b.forward.send(typ, raw)
	}
	for ch := range b.subs {
		if corral && !b.corral[ch] {
			continue
		}
		select {
		case ch <- sseEvent{Type: typ, Data: raw}:
		default:
		}
	}
}

func (b *eventBus) subscribe(corral bool) (chan sseEvent, func()) {
	b.mu.Lock()
	defer b.mu.Unlock()
	ch := make(chan sseEvent, 256)
	if b.closed {
		close(ch)
		return ch, func() {}
	}
	b.subs[ch] = true
	if corral {
		b.corral[ch] = true
	}
	return ch, func() {
		b.mu.Lock()
		defer b.mu.Unlock()
		if b.subs[ch] {
			delete(b.subs, ch)
			delete(b.corral, ch)
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
		delete(b.corral, ch)
		close(ch)
	}
}

// serveEvents streams events as Server-Sent Events; ?event_type= filters,
// ?corral_events=true adds corral's own events.
func (f *Framework) serveEvents(w http.ResponseWriter, r *http.Request) {
	flusher, ok := w.(http.Flusher)
	if !ok {
		kit.WriteError(w, http.StatusInternalServerError, "streaming is not supported by this connection")
		return
	}
	corral, err := boolParam(r, "corral_events", false)
	if err != nil {
		kit.WriteError(w, http.StatusBadRequest, "%v", err)
		return
	}
	filter := make(map[string]bool)
	for _, t := range r.URL.Query()["event_type"] {
		filter[t] = true
	}
	ch, cancel := f.bus.subscribe(corral)
	defer cancel()
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	attached, _ := json.Marshal(map[string]string{"eventType": "event_stream_attached", "remoteAddress": r.RemoteAddr,
		"timestamp": versionString(f.cfg.Now())})
	fmt.Fprintf(w, "event: event_stream_attached\ndata: %s\n\n", attached)
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

// publishStatus tells of an instance's new state twice, as Marathon
// does: status_update_event (the task) and instance_changed_event (the
// instance's condition).
func (f *Framework) publishStatus(in *Instance, now time.Time) {
	ips := in.ipAddresses()
	f.bus.publish("status_update_event", map[string]any{
		"appId": in.AppID, "taskId": in.ID, "instanceId": in.ID, "taskStatus": in.State, "message": in.Message,
		"slaveId": in.AgentID, "host": in.Host, "ports": in.Ports, "ipAddresses": ips, "version": in.Version, "timestamp": now,
	})
	goal := "Running"
	if in.killing() {
		goal = "Stopped"
	}
	f.bus.publish("instance_changed_event", map[string]any{
		"instanceId": in.ID, "condition": condition(in.State), "runSpecId": in.AppID, "agentId": in.AgentID,
		"host": in.Host, "runSpecVersion": in.Version, "goal": goal, "timestamp": now,
	})
}

// condition names a Mesos task state as Marathon's instance conditions.
func condition(state string) string {
	switch state {
	case "TASK_STAGING":
		return "Staging"
	case "TASK_STARTING":
		return "Starting"
	case "TASK_RUNNING":
		return "Running"
	case "TASK_KILLING":
		return "Killing"
	case "TASK_FINISHED":
		return "Finished"
	case "TASK_FAILED":
		return "Failed"
	case "TASK_KILLED":
		return "Killed"
	case "TASK_ERROR":
		return "Error"
	case "TASK_UNREACHABLE":
		return "Unreachable"
	case "TASK_GONE", "TASK_GONE_BY_OPERATOR":
		return "Gone"
	case "TASK_DROPPED":
		return "Dropped"
	case "TASK_LOST":
		return "Unreachable"
	default:
		return "Unknown"
	}
}

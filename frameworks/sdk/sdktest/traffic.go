package sdktest

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strconv"
	"sync"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/corral-sched/corral/codec"
	"github.com/corral-sched/corral/proto/mesospb"
	"github.com/corral-sched/corral/proto/schedulerpb"
)

// Call is one scheduler API call as the master received it.
type Call struct {
	// Seq orders every call and event the kit recorded.
	Seq int
	// FrameworkID is the caller's framework; for a first SUBSCRIBE it is
	// filled in once the master answers SUBSCRIBED.
	FrameworkID string
	// Call is the call as decoded; it must not be modified.
	Call *schedulerpb.Call
	// Status is the master's HTTP answer: 202 for a call it took, 200 for
	// a subscription, 4xx for one it refused; 0 while the master has not
	// answered yet.
	Status int
	// At is when the call arrived.
	At time.Time
}

// Event is one event on a framework's subscription stream.
type Event struct {
	// Seq orders every call and event the kit recorded.
	Seq int
	// FrameworkID is the framework the stream belongs to.
	FrameworkID string
	// Event is the event as decoded; it must not be modified.
	Event *schedulerpb.Event
	// Dropped marks an update DropUpdates kept from the framework.
	Dropped bool
	// At is when the master sent it (after any DelayUpdates).
	At time.Time
}

// maxObservedCall is the master's own bound on a call's body: a larger
// call is passed on unread, for the master to refuse.
const maxObservedCall = 16 << 20

// traffic records the scheduler API calls and events passing through the
// kit's front of the master, and drops or delays updates.
type traffic struct {
	mu     sync.Mutex
	seq    int                            // guarded by mu
	calls  []Call                         // guarded by mu
	events []Event                        // guarded by mu
	names  map[string]string              // guarded by mu; framework name → latest ID
	drop   func(*mesospb.TaskStatus) bool // guarded by mu
	delay  time.Duration                  // guarded by mu
	// changed is closed (and replaced) when drop or delay change, so that
	// held updates look again.
	changed chan struct{} // guarded by mu
}

func newTraffic() *traffic {
	return &traffic{names: make(map[string]string), changed: make(chan struct{})}
}

// set changes how updates are dropped and delayed.
func (tr *traffic) set(change func()) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	change()
	close(tr.changed)
	tr.changed = make(chan struct{})
}

// serve passes one scheduler API request to h, recording it.
func (tr *traffic) serve(w http.ResponseWriter, r *http.Request, h http.Handler) {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxObservedCall+1))
	if err != nil {
		http.Error(w, "Failed to read request body: "+err.Error(), http.StatusBadRequest)
		return
	}
	if len(body) > maxObservedCall {
		r.Body = io.NopCloser(io.MultiReader(bytes.NewReader(body), r.Body))
		h.ServeHTTP(w, r)
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	call := &schedulerpb.Call{}
	c, err := codec.ForContentType(r.Header.Get("Content-Type"))
	if err == nil {
		err = c.Unmarshal(body, call)
	}
	if err != nil || r.Method != http.MethodPost {
		h.ServeHTTP(w, r) // for the master to refuse, in its words
		return
	}
	// Recorded on arrival: what the master does about a call (the
	// updates a RECONCILE asks for) may reach the framework before the
	// call's own answer.
	index := tr.arrived(call)
	if call.GetType() == schedulerpb.Call_SUBSCRIBE {
		sw := &streamWriter{ResponseWriter: w, tr: tr, ctx: r.Context(), call: call, index: index,
			framework: call.GetFrameworkId().GetValue()}
		h.ServeHTTP(sw, r)
		return
	}
	sw := &statusWriter{ResponseWriter: w}
	h.ServeHTTP(sw, r)
	tr.answered(index, sw.status())
}

// arrived records a call and returns its index in calls.
func (tr *traffic) arrived(call *schedulerpb.Call) int {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	tr.seq++
	tr.calls = append(tr.calls, Call{Seq: tr.seq, FrameworkID: call.GetFrameworkId().GetValue(), Call: call, At: time.Now()})
	return len(tr.calls) - 1
}

// answered records the master's answer to a call.
func (tr *traffic) answered(index, status int) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	tr.calls[index].Status = status
}

type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(p []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	return w.ResponseWriter.Write(p)
}

func (w *statusWriter) status() int {
	if w.code == 0 {
		return http.StatusOK
	}
	return w.code
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// streamWriter reads the RecordIO events the master writes on a
// subscription, records them, and writes on those the kit lets through.
type streamWriter struct {
	http.ResponseWriter
	tr   *traffic
	ctx  context.Context
	call *schedulerpb.Call

	wroteHeader bool
	codec       codec.Codec // nil: not a stream the kit can read; bytes pass as they are
	index       int         // of the SUBSCRIBE in tr.calls
	framework   string      // the subscriber's ID, once known
	buf         []byte
}

func (w *streamWriter) WriteHeader(code int) {
	if !w.wroteHeader {
		w.wroteHeader = true
		if code == http.StatusOK {
			w.codec, _ = codec.ForContentType(w.Header().Get("Content-Type"))
		}
		w.tr.answered(w.index, code)
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *streamWriter) Write(p []byte) (int, error) {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	if w.codec == nil {
		return w.ResponseWriter.Write(p)
	}
	w.buf = append(w.buf, p...)
	for {
		nl := bytes.IndexByte(w.buf, '\n')
		if nl < 0 {
			return len(p), nil
		}
		n, err := strconv.Atoi(string(w.buf[:nl]))
		if err != nil || n < 0 {
			// Not RecordIO after all: pass on what there is, unread.
			w.codec = nil
			rest := w.buf
			w.buf = nil
			if _, err := w.ResponseWriter.Write(rest); err != nil {
				return 0, err
			}
			return len(p), nil
		}
		if len(w.buf) < nl+1+n {
			return len(p), nil
		}
		frame := w.buf[:nl+1+n]
		if err := w.event(frame, frame[nl+1:]); err != nil {
			return 0, err
		}
		w.buf = append([]byte(nil), w.buf[nl+1+n:]...)
	}
}

// event records one event and passes it on, unless it is dropped.
func (w *streamWriter) event(frame, record []byte) error {
	ev := &schedulerpb.Event{}
	if err := w.codec.Unmarshal(record, ev); err != nil {
		_, err := w.ResponseWriter.Write(frame)
		return err
	}
	w.tr.mu.Lock()
	if id := ev.GetSubscribed().GetFrameworkId().GetValue(); id != "" {
		w.framework = id
		w.tr.calls[w.index].FrameworkID = id
		w.tr.names[w.call.GetSubscribe().GetFrameworkInfo().GetName()] = id
	}
	drop := w.tr.drop
	w.tr.mu.Unlock()
	update := ev.GetType() == schedulerpb.Event_UPDATE
	if update && drop != nil && drop(cloneStatus(ev.GetUpdate().GetStatus())) {
		w.tr.record(w.framework, ev, true)
		return nil
	}
	if update {
		if err := w.tr.hold(w.ctx, time.Now()); err != nil {
			return err
		}
	}
	// Recorded before it is written: a test that saw the framework react
	// to the event must find it recorded.
	w.tr.record(w.framework, ev, false)
	if _, err := w.ResponseWriter.Write(frame); err != nil {
		return err
	}
	w.Flush()
	return nil
}

// hold waits until an update that arrived at since has been delayed as
// long as DelayUpdates says, looking again whenever that changes.
func (tr *traffic) hold(ctx context.Context, since time.Time) error {
	for {
		tr.mu.Lock()
		left, changed := time.Until(since.Add(tr.delay)), tr.changed
		tr.mu.Unlock()
		if left <= 0 {
			return nil
		}
		t := time.NewTimer(left)
		select {
		case <-t.C:
		case <-changed:
			t.Stop()
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		}
	}
}

func (w *streamWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (w *streamWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (tr *traffic) record(framework string, ev *schedulerpb.Event, dropped bool) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	tr.seq++
	tr.events = append(tr.events, Event{Seq: tr.seq, FrameworkID: framework, Event: ev, Dropped: dropped, At: time.Now()})
}

// snapshot returns what was recorded so far; the messages are shared and
// must not be modified.
func (tr *traffic) snapshot() ([]Call, []Event) {
	if tr == nil {
		return nil, nil
	}
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return append([]Call(nil), tr.calls...), append([]Event(nil), tr.events...)
}

// frameworkID is the latest ID a framework of that name subscribed as.
func (tr *traffic) frameworkID(name string) string {
	if tr == nil {
		return ""
	}
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return tr.names[name]
}

// cloneStatus keeps recorded messages out of reach of whoever reads them.
func cloneStatus(st *mesospb.TaskStatus) *mesospb.TaskStatus { return proto.CloneOf(st) }

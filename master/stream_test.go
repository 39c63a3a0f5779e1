package master

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/corral-sched/corral/codec"
	"github.com/corral-sched/corral/proto/schedulerpb"
	"github.com/corral-sched/corral/recordio"
)

// A pump writes what is queued, in order, and a heartbeat every interval
// in between; Close ends the stream after what was queued, with its
// reason, and a client that goes away ends it too.
func TestPumpWritesEventsAndHeartbeatsUntilItEnds(t *testing.T) {
	box := newOutbox()
	reasons := make(chan string, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusOK)
		w.(http.Flusher).Flush()
		reasons <- box.pump(w, r, codec.Protobuf, heartbeatEvent, 10*time.Millisecond)
	}))
	defer srv.Close()

	// A deadline, so that missing heartbeats fail rather than hang.
	first, stop := context.WithTimeout(context.Background(), 30*time.Second)
	defer stop()
	read := openPumped(t, first, srv.URL)
	beats := 0
	for beats < 3 {
		if ev := read(); ev.GetType() == schedulerpb.Event_HEARTBEAT {
			beats++
		} else {
			t.Fatalf("got %v before anything was queued", ev.GetType())
		}
	}
	box.Push(&schedulerpb.Event{Type: schedulerpb.Event_OFFERS.Enum()})
	box.Push(&schedulerpb.Event{Type: schedulerpb.Event_RESCIND.Enum()})
	box.Close("done")
	var got []schedulerpb.Event_Type
	for ev := read(); ev != nil; ev = read() {
		if ev.GetType() != schedulerpb.Event_HEARTBEAT {
			got = append(got, ev.GetType())
		}
	}
	if len(got) != 2 || got[0] != schedulerpb.Event_OFFERS || got[1] != schedulerpb.Event_RESCIND {
		t.Fatalf("events %v, want OFFERS then RESCIND", got)
	}
	if r := <-reasons; r != "done" {
		t.Fatalf("the pump ended saying %q, want the reason given to Close", r)
	}
	if box.Push(&schedulerpb.Event{Type: schedulerpb.Event_OFFERS.Enum()}) {
		t.Fatal("a closed outbox took an event")
	}

	// The client goes away: the pump notices without anything to write.
	box = newOutbox()
	ctx, cancel := context.WithCancel(context.Background())
	read = openPumped(t, ctx, srv.URL)
	read() // a heartbeat: the stream is up
	cancel()
	select {
	case r := <-reasons:
		if r != "client disconnected" {
			t.Fatalf("the pump ended saying %q, want client disconnected", r)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the pump did not notice its client leaving")
	}
}

func heartbeatEvent() proto.Message {
	return &schedulerpb.Event{Type: schedulerpb.Event_HEARTBEAT.Enum()}
}

// openPumped opens a stream of url and returns a function reading its
// next event, nil at its end.
func openPumped(t *testing.T, ctx context.Context, url string) func() *schedulerpb.Event {
	t.Helper()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	rr := recordio.NewReader(resp.Body, 1<<20)
	return func() *schedulerpb.Event {
		t.Helper()
		rec, err := rr.ReadRecord()
		if err != nil {
			return nil
		}
		ev := &schedulerpb.Event{}
		if err := proto.Unmarshal(rec, ev); err != nil {
			t.Fatal(err)
		}
		return ev
	}
}

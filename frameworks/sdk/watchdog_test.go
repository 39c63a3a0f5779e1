package sdk_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/corral-sched/corral/codec"
	"github.com/corral-sched/corral/frameworks/sdk"
	"github.com/corral-sched/corral/proto/mesospb"
	"github.com/corral-sched/corral/proto/schedulerpb"
	"github.com/corral-sched/corral/recordio"
)

// A master that goes quiet (no heartbeat) is given up on: the SDK drops
// the stream and subscribes again, with the framework ID it was given.
func TestHeartbeatWatchdogResubscribes(t *testing.T) {
	var subscribes atomic.Int32
	var secondHadID atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		call := &schedulerpb.Call{}
		body, _ := io.ReadAll(r.Body)
		if err := proto.Unmarshal(body, call); err != nil || call.GetType() != schedulerpb.Call_SUBSCRIBE {
			w.WriteHeader(http.StatusAccepted) // RECONCILE and the like
			return
		}
		n := subscribes.Add(1)
		if n > 1 && call.GetSubscribe().GetFrameworkInfo().GetId().GetValue() == "fw-1" {
			secondHadID.Store(true)
		}
		w.Header().Set("Content-Type", codec.Protobuf.MediaType())
		w.Header().Set("Mesos-Stream-Id", "stream")
		w.WriteHeader(http.StatusOK)
		rw := recordio.NewWriter(w)
		b, _ := proto.Marshal(&schedulerpb.Event{Type: schedulerpb.Event_SUBSCRIBED.Enum(), Subscribed: &schedulerpb.Event_Subscribed{
			FrameworkId: &mesospb.FrameworkID{Value: proto.String("fw-1")}, HeartbeatIntervalSeconds: proto.Float64(0.05)}})
		_ = rw.WriteRecord(b)
		<-r.Context().Done() // then silence
	}))
	defer srv.Close()
	s, err := sdk.New(sdk.Config{Master: strings.TrimPrefix(srv.URL, "http://"), Logger: slog.New(slog.DiscardHandler),
		MinBackoff: 10 * time.Millisecond, MaxBackoff: 50 * time.Millisecond,
		Framework: &mesospb.FrameworkInfo{User: proto.String("u"), Name: proto.String("n")}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	deadline := time.Now().Add(20 * time.Second)
	for subscribes.Load() < 2 {
		if time.Now().After(deadline) {
			t.Fatal("the SDK never gave up on the silent stream")
		}
		time.Sleep(10 * time.Millisecond) // polling interval
	}
	cancel()
	<-done
	if !secondHadID.Load() {
		t.Fatal("the re-subscription did not carry the framework ID")
	}
}

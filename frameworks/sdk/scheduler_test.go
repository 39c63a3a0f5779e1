package sdk_test

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/corral-sched/corral/codec"
	"github.com/corral-sched/corral/frameworks/sdk"
	"github.com/corral-sched/corral/internal/testkit/testcluster"
	"github.com/corral-sched/corral/proto/mesospb"
	"github.com/corral-sched/corral/proto/schedulerpb"
)

// A standby master answers 307; the SDK follows it to the leader, and then
// sends every call there.
func TestFollowsRedirectsToTheLeader(t *testing.T) {
	for _, c := range []codec.Codec{codec.Protobuf, codec.JSON} {
		t.Run(c.MediaType(), func(t *testing.T) {
			cluster := testcluster.Start(t, testcluster.Options{Agents: 1})
			standby := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Location", "//"+cluster.MasterAddr+"/api/v1/scheduler")
				w.WriteHeader(http.StatusTemporaryRedirect)
			}))
			defer standby.Close()

			declined := make(chan struct{}, 1)
			var s *sdk.Scheduler
			s, err := sdk.New(sdk.Config{
				Master: standby.URL, Codec: c, Logger: slog.New(slog.DiscardHandler),
				Framework: &mesospb.FrameworkInfo{User: proto.String("root"), Name: proto.String("redirected")},
			}, sdk.HandlerFunc(func(ctx context.Context, ev *schedulerpb.Event) error {
				if offers := ev.GetOffers().GetOffers(); len(offers) > 0 {
					if err := s.Decline(ctx, []*mesospb.OfferID{offers[0].GetId()}, 60); err != nil {
						return err
					}
					select {
					case declined <- struct{}{}:
					default:
					}
				}
				return nil
			}))
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- s.Run(ctx) }()
			select {
			case <-declined:
			case err := <-done:
				t.Fatalf("Run ended: %v", err)
			case <-time.After(30 * time.Second):
				t.Fatal("no offer was declined through the leader")
			}
			if s.FrameworkID() == "" {
				t.Fatal("no framework ID after SUBSCRIBED")
			}
			cancel()
			if err := <-done; err != nil {
				t.Fatalf("Run returned %v after cancel", err)
			}
		})
	}
}

func TestCallsBeforeSubscribingFail(t *testing.T) {
	s, err := sdk.New(sdk.Config{Master: "127.0.0.1:1",
		Framework: &mesospb.FrameworkInfo{User: proto.String("u"), Name: proto.String("n")}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Revive(context.Background()); !errors.Is(err, sdk.ErrNotSubscribed) {
		t.Fatalf("Revive before SUBSCRIBED = %v", err)
	}
}

func TestTeardownEndsRun(t *testing.T) {
	cluster := testcluster.Start(t, testcluster.Options{Agents: 1})
	var s *sdk.Scheduler
	s, err := sdk.New(sdk.Config{
		Master: cluster.MasterAddr, Logger: slog.New(slog.DiscardHandler),
		Framework: &mesospb.FrameworkInfo{User: proto.String("root"), Name: proto.String("bye")},
	}, sdk.HandlerFunc(func(ctx context.Context, ev *schedulerpb.Event) error {
		if ev.GetType() == schedulerpb.Event_SUBSCRIBED {
			go func() { _ = s.Teardown(context.Background()) }()
		}
		return nil
	}))
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Run(context.Background()) }()
	select {
	case err := <-done:
		if !errors.Is(err, sdk.ErrTornDown) {
			t.Fatalf("Run = %v, want ErrTornDown", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not end after TEARDOWN")
	}
}

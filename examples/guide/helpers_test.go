package guide_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/corral-sched/corral/frameworks/sdk"
	"github.com/corral-sched/corral/frameworks/sdk/sdktest"
	"github.com/corral-sched/corral/proto/mesospb"
	"github.com/corral-sched/corral/proto/schedulerpb"
)

// runScheduler runs a scheduler for info until its handler, made by h,
// calls done; it fails the test if that takes more than a minute.
func runScheduler(t *testing.T, c *sdktest.Cluster, info *mesospb.FrameworkInfo,
	h func(s *sdk.Scheduler, done func()) sdk.HandlerFunc) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	finished := make(chan struct{})
	var handler sdk.HandlerFunc
	s, err := sdk.New(sdk.Config{Master: c.MasterAddr, Framework: info, Logger: slog.New(slog.DiscardHandler)},
		sdk.HandlerFunc(func(ctx context.Context, ev *schedulerpb.Event) error { return handler(ctx, ev) }))
	if err != nil {
		t.Fatal(err)
	}
	handler = h(s, func() { close(finished); cancel() })
	if err := s.Run(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case <-finished:
	default:
		t.Fatalf("%s did not finish its work within a minute", info.GetName())
	}
}

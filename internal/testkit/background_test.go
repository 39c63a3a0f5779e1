package testkit

import (
	"context"
	"sync/atomic"
	"testing"
	"time"
)

func TestRunInBackgroundStopsOnceRunHasReturned(t *testing.T) {
	var returned atomic.Bool
	started := make(chan struct{})
	stop := RunInBackground(func(ctx context.Context) error {
		close(started)
		<-ctx.Done()
		time.Sleep(20 * time.Millisecond) // a run that takes a while to wind down
		returned.Store(true)
		return ctx.Err()
	})
	<-started
	if returned.Load() {
		t.Fatal("run returned before stop")
	}
	stop()
	if !returned.Load() {
		t.Fatal("stop returned before run did")
	}
	stop() // a second stop, as Cleanup's after an early one, must not block
}

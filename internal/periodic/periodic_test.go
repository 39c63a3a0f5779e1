package periodic

import (
	"context"
	"testing"
	"time"
)

func TestEveryStopsWhenFnSaysSo(t *testing.T) {
	calls := 0
	done := make(chan struct{})
	go func() {
		defer close(done)
		Every(context.Background(), time.Millisecond, func() bool { calls++; return calls < 3 })
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Every still runs after fn returned false")
	}
	if calls != 3 {
		t.Fatalf("fn ran %d times, want 3", calls)
	}
}

func TestEveryStopsWithItsContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan struct{}, 1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		Every(ctx, time.Millisecond, func() bool {
			select {
			case ran <- struct{}{}:
			default:
			}
			return true
		})
	}()
	<-ran // it runs
	cancel()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Every still runs after its context ended")
	}
}

func TestEveryWaitsAnIntervalFirst(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	called := false
	Every(ctx, time.Hour, func() bool { called = true; return true })
	if called {
		t.Fatal("fn ran before the first interval passed")
	}
}

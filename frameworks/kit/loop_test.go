package kit

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// waitFor polls cond until it holds or a deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestLoopTicksOnItsIntervalAndWhenPoked(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	var ticks atomic.Int32
	// An interval no test outlasts: only pokes tick.
	l := NewLoop(time.Hour, func(context.Context) { ticks.Add(1) }, nil)
	ran := make(chan error, 1)
	go func() { ran <- l.Run(ctx, func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() }) }()
	l.Poke()
	waitFor(t, "a tick after a poke", func() bool { return ticks.Load() == 1 })
	l.Poke()
	waitFor(t, "a tick after a second poke", func() bool { return ticks.Load() == 2 })
	cancel()
	if err := <-ran; err != context.Canceled {
		t.Errorf("Run = %v, want main's error", err)
	}

	ctx, cancel = context.WithCancel(context.Background())
	defer cancel()
	ticks.Store(0)
	l = NewLoop(time.Millisecond, func(context.Context) { ticks.Add(1) }, nil)
	go func() { _ = l.Run(ctx, func(ctx context.Context) error { <-ctx.Done(); return nil }) }()
	waitFor(t, "ticks on the interval", func() bool { return ticks.Load() >= 3 })
}

func TestPeriodicWorkRunsBeforeATick(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var mu sync.Mutex
	var events []string
	add := func(e string) {
		mu.Lock()
		defer mu.Unlock()
		events = append(events, e)
	}
	l := NewLoop(time.Hour, func(context.Context) { add("tick") }, &Periodic{Every: time.Millisecond, Do: func(context.Context) { add("periodic") }})
	go func() { _ = l.Run(ctx, func(ctx context.Context) error { <-ctx.Done(); return nil }) }()
	waitFor(t, "two periodic runs", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(events) >= 4
	})
	cancel()
	mu.Lock()
	defer mu.Unlock()
	if events[0] != "periodic" || events[1] != "tick" || events[2] != "periodic" || events[3] != "tick" {
		t.Errorf("events %q, want periodic work each followed by a tick", events[:4])
	}
}

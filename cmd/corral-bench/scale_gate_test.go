package main

import (
	"context"
	"testing"
	"time"
)

// Agents wait at a closed gate and are counted once each, however often
// they ask (a timed-out ask is retried); release names the master to all
// of them, and to those that come later.
func TestFleetGateHoldsAgentsUntilReleased(t *testing.T) {
	g := newFleetGate("127.0.0.1:5050")
	const n = 5
	got := make(chan string, 2*n)
	timedOut := make(chan struct{}, n)
	for range n {
		d := g.detector()
		go func() {
			// A first ask that times out, as the agent's 30 s bound would.
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
			defer cancel()
			if _, err := d.Leader(ctx); err == nil {
				got <- "answered before release"
				return
			}
			timedOut <- struct{}{}
			master, err := d.Leader(context.Background())
			if err != nil {
				master = err.Error()
			}
			got <- master
		}()
	}
	for range n {
		select {
		case <-timedOut:
		case m := <-got:
			t.Fatalf("an agent got %q before the gate opened", m)
		}
	}
	if w := g.waiting(); w != n {
		t.Fatalf("%d agents counted at the gate after asking twice, want %d", w, n)
	}
	g.release()
	g.release() // releasing twice is harmless
	for range n {
		if m := <-got; m != "127.0.0.1:5050" {
			t.Fatalf("an agent got %q, want the master", m)
		}
	}
	if m, err := g.detector().Leader(context.Background()); err != nil || m != "127.0.0.1:5050" {
		t.Fatalf("an agent after release: %q %v", m, err)
	}
	if w := g.waiting(); w != n+1 {
		t.Fatalf("%d agents counted, want %d: each once", w, n+1)
	}
}

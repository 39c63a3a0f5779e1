package agent

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"
)

// A call whose request ends while it waits in the loop's queue is never
// run (it would write variables its caller reads); one the loop has
// started is waited for.
func TestDoAbandonsOnlyWhatHasNotStarted(t *testing.T) {
	a, err := New(Config{Master: "127.0.0.1:1", Addr: "127.0.0.1:5051", Hostname: "h", WorkDir: t.TempDir(),
		Resources: "cpus:1;mem:64", Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	// No loop runs: the call stays queued until its context ends.
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	ran := false
	if err := a.do(ctx, func() { ran = true }); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("do with no loop: %v, want the context's deadline", err)
	}
	(<-a.inbox)() // the loop reaches it late
	if ran {
		t.Fatal("a call abandoned by its caller ran")
	}

	// The loop starts the call, then the caller's context ends: do waits.
	ctx, cancel = context.WithCancel(context.Background())
	started, finish := make(chan struct{}), make(chan struct{})
	go func() { (<-a.inbox)() }()
	result := make(chan error, 1)
	done := false
	go func() {
		result <- a.do(ctx, func() {
			close(started)
			<-finish
			done = true
		})
	}()
	<-started
	cancel()
	select {
	case err := <-result:
		t.Fatalf("do returned (%v) while its call still ran", err)
	case <-time.After(100 * time.Millisecond): // a do that did not wait would have returned by now
	}
	close(finish)
	if err := <-result; err != nil || !done {
		t.Fatalf("do after its call finished: %v, done %v", err, done)
	}
}

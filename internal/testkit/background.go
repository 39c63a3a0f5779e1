package testkit

import (
	"context"
	"sync"
)

// RunInBackground runs run (a scheduler's, agent's or master's Run) on a
// goroutine of its own and returns what stops it: cancel its context,
// then wait for it to return, so nothing it started outlives the test.
// Calling stop again does nothing, so a test may stop early and still
// hand stop to Cleanup.
func RunInBackground(run func(context.Context) error) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = run(ctx); close(done) }()
	return sync.OnceFunc(func() { cancel(); <-done })
}

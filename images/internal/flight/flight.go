// Package flight runs one call per key at a time and hands its result to
// every caller that asked for the same key meanwhile: one pull per image,
// one unpack per layer, however many containers want them at once.
package flight

import (
	"context"
	"sync"
)

// Group is a set of in-flight calls keyed by string.
type Group[T any] struct {
	mu    sync.Mutex
	calls map[string]*call[T] // guarded by mu
}

type call[T any] struct {
	done chan struct{}
	val  T
	err  error
	// callers counts who waits on the call, guarded by the Group's mu.
	callers int
}

// Do runs fn once for key, in a goroutine of its own so that it outlives
// a caller that gives up; every caller waits for its result or its own
// ctx. shared tells a caller that it joined a call another started. fn
// must bound itself (its own timeout): it is not cancelled with ctx.
func (g *Group[T]) Do(ctx context.Context, key string, fn func() (T, error)) (val T, shared bool, err error) {
	g.mu.Lock()
	if g.calls == nil {
		g.calls = map[string]*call[T]{}
	}
	c, ok := g.calls[key]
	if !ok {
		c = &call[T]{done: make(chan struct{})}
		g.calls[key] = c
		go func() {
			c.val, c.err = fn()
			g.mu.Lock()
			delete(g.calls, key)
			g.mu.Unlock()
			close(c.done)
		}()
	}
	c.callers++
	g.mu.Unlock()
	select {
	case <-c.done:
		return c.val, ok, c.err
	case <-ctx.Done():
		var zero T
		return zero, ok, context.Cause(ctx)
	}
}

// Callers is how many callers a running call for key has had (0 when
// none runs).
func (g *Group[T]) Callers(key string) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	if c, ok := g.calls[key]; ok {
		return c.callers
	}
	return 0
}

package kit

import (
	"context"
	"time"
)

// Loop paces a framework: it calls Tick every Interval, and soon after a
// Poke, so that a change a handler made is planned and committed without
// waiting out the interval. One goroutine ticks: ticks never overlap.
type Loop struct {
	interval time.Duration
	tick     func(context.Context)
	periodic *Periodic
	wake     chan struct{}
}

// Periodic is work slower than the tick, e.g. reconciliation: Do runs
// Every so often, just before a tick.
type Periodic struct {
	Every time.Duration
	Do    func(context.Context)
}

// NewLoop returns a loop that calls tick every interval and, if periodic
// is not nil, periodic.Do on its own cadence.
func NewLoop(interval time.Duration, tick func(context.Context), periodic *Periodic) *Loop {
	return &Loop{interval: interval, tick: tick, periodic: periodic, wake: make(chan struct{}, 1)}
}

// Poke asks for a tick soon. It never blocks: pokes before the tick
// starts are one tick.
func (l *Loop) Poke() {
	select {
	case l.wake <- struct{}{}:
	default:
	}
}

// Run ticks until ctx ends, and runs main (the SDK scheduler's Run) beside
// it. It returns main's error once both have ended, so that nothing ticks
// after Run returns.
func (l *Loop) Run(ctx context.Context, main func(context.Context) error) error {
	done := make(chan struct{})
	go func() {
		defer close(done)
		l.tickUntil(ctx)
	}()
	err := main(ctx)
	<-done
	return err
}

func (l *Loop) tickUntil(ctx context.Context) {
	t := time.NewTicker(l.interval)
	defer t.Stop()
	var periodic <-chan time.Time // nil, never ready, without periodic work
	if l.periodic != nil {
		r := time.NewTicker(l.periodic.Every)
		defer r.Stop()
		periodic = r.C
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-l.wake:
		case <-periodic:
			l.periodic.Do(ctx)
		}
		l.tick(ctx)
	}
}

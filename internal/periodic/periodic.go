// Package periodic runs work at a fixed interval until its context ends:
// the agent's garbage collectors, disk measurements, lease renewals.
package periodic

import (
	"context"
	"time"
)

// Every calls fn every interval, the first time one interval from now,
// until ctx ends or fn returns false. A call that takes longer than the
// interval delays the next one rather than queueing calls up.
func Every(ctx context.Context, interval time.Duration, fn func() bool) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if !fn() {
			return
		}
	}
}

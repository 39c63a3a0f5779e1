package sdktest

import (
	"sync"
	"time"

	"github.com/corral-sched/corral/master"
)

// Clock is the master's clock in a kit cluster: real time plus an offset
// that only Advance changes. Timers set through AfterFunc fire once the
// clock reaches their deadline, whether time passed or Advance jumped.
// Agents keep real time, and so does the master's view of their liveness:
// advancing the clock never makes a healthy agent look silent.
type Clock struct {
	mu     sync.Mutex
	offset time.Duration            // guarded by mu
	timers map[*clockTimer]struct{} // guarded by mu; the pending ones
}

func newClock() *Clock { return &Clock{timers: make(map[*clockTimer]struct{})} }

// Now is real time plus every Advance so far.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.nowLocked()
}

func (c *Clock) nowLocked() time.Time { return time.Now().Add(c.offset) }

// Advance moves the clock forward by d and fires, each on a goroutine of
// its own, the timers whose deadlines that passes.
func (c *Clock) Advance(d time.Duration) {
	if d <= 0 {
		return
	}
	c.mu.Lock()
	c.offset += d
	now := c.nowLocked()
	var due []*clockTimer
	for t := range c.timers {
		if now.Before(t.deadline) {
			t.real.Reset(t.deadline.Sub(now))
			continue
		}
		delete(c.timers, t)
		t.real.Stop()
		due = append(due, t)
	}
	c.mu.Unlock()
	for _, t := range due {
		go t.f()
	}
}

// AfterFunc runs f on its own goroutine once the clock reaches now+d.
func (c *Clock) AfterFunc(d time.Duration, f func()) master.Timer {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &clockTimer{c: c, deadline: c.nowLocked().Add(d), f: f}
	// The real timer cannot fire early: the clock never runs slower than
	// real time, so when it fires the deadline has passed.
	t.real = time.AfterFunc(max(d, 0), t.fire)
	c.timers[t] = struct{}{}
	return t
}

type clockTimer struct {
	c        *Clock
	deadline time.Time
	f        func()
	real     *time.Timer
}

func (t *clockTimer) fire() {
	t.c.mu.Lock()
	_, pending := t.c.timers[t]
	delete(t.c.timers, t)
	t.c.mu.Unlock()
	if pending {
		t.f()
	}
}

// Stop cancels the timer and reports whether it was still pending.
func (t *clockTimer) Stop() bool {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	_, pending := t.c.timers[t]
	delete(t.c.timers, t)
	t.real.Stop()
	return pending
}

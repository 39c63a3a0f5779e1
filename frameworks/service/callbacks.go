package service

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Marathon's HTTP callbacks (/v2/eventSubscriptions): every event is
// POSTed as JSON to each registered URL. Each URL has a queue and a
// sender of its own, so a slow or dead receiver delays nobody: its queue
// fills and further events for it are dropped, and each event is tried
// a bounded number of times.

const (
	callbackQueue    = 1024
	callbackAttempts = 3
	callbackTimeout  = 5 * time.Second
	callbackBackoff  = 200 * time.Millisecond
	maxCallbacks     = 100
	maxCallbackURL   = 2048
	keySubscriptions = "service/subscriptions"
)

type callbacks struct {
	client HTTPDoer
	log    *slog.Logger
	ctx    context.Context
	stop   context.CancelFunc

	mu    sync.Mutex
	sinks map[string]*callbackSink // by URL
	wg    sync.WaitGroup
	// count is len(sinks), read without the lock on every event.
	count atomic.Int32
}

type callbackSink struct {
	queue   chan []byte
	cancel  context.CancelFunc
	dropped int
}

func newCallbacks(client HTTPDoer, log *slog.Logger) *callbacks {
	ctx, stop := context.WithCancel(context.Background())
	return &callbacks{client: client, log: log, ctx: ctx, stop: stop, sinks: make(map[string]*callbackSink)}
}

// checkCallbackURL refuses what cannot be a callback.
func checkCallbackURL(raw string) error {
	if len(raw) > maxCallbackURL {
		return fmt.Errorf("callbackUrl is %d bytes long; at most %d", len(raw), maxCallbackURL)
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("callbackUrl %q: want an absolute http:// or https:// URL", raw)
	}
	return nil
}

// callbackKey is the store key of a subscription (URLs hold characters
// store keys may not).
func callbackKey(u string) string {
	sum := sha256.Sum256([]byte(u))
	return keySubscriptions + "/" + hex.EncodeToString(sum[:16])
}

// add starts sending to u; false if it was there already.
func (c *callbacks) add(u string) (bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.sinks[u] != nil {
		return false, nil
	}
	if len(c.sinks) >= maxCallbacks {
		return false, fmt.Errorf("there are %d event subscriptions already, the most this framework keeps", maxCallbacks)
	}
	ctx, cancel := context.WithCancel(c.ctx)
	s := &callbackSink{queue: make(chan []byte, callbackQueue), cancel: cancel}
	c.sinks[u] = s
	c.count.Store(int32(len(c.sinks)))
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		c.run(ctx, u, s)
	}()
	return true, nil
}

// remove stops sending to u; false if it was not there.
func (c *callbacks) remove(u string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.sinks[u]
	if s == nil {
		return false
	}
	s.cancel()
	delete(c.sinks, u)
	c.count.Store(int32(len(c.sinks)))
	return true
}

func (c *callbacks) active() bool { return c.count.Load() > 0 }

func (c *callbacks) list() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]string, 0, len(c.sinks))
	for u := range c.sinks {
		out = append(out, u)
	}
	slices.Sort(out)
	return out
}

// send queues an event for every receiver; it never blocks.
func (c *callbacks) send(_ string, raw []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for u, s := range c.sinks {
		select {
		case s.queue <- raw:
		default:
			s.dropped++
			if s.dropped == 1 || s.dropped%1000 == 0 {
				c.log.Warn("event subscriber does not keep up; events dropped", "callbackUrl", u, "dropped", s.dropped)
			}
		}
	}
}

// close stops every sender and waits for them.
func (c *callbacks) close() {
	c.stop()
	c.wg.Wait()
}

func (c *callbacks) run(ctx context.Context, u string, s *callbackSink) {
	for {
		select {
		case <-ctx.Done():
			return
		case raw := <-s.queue:
			c.deliver(ctx, u, raw)
		}
	}
}

// deliver POSTs one event, trying callbackAttempts times.
func (c *callbacks) deliver(ctx context.Context, u string, raw []byte) {
	wait := callbackBackoff
	for attempt := 1; ; attempt++ {
		err := c.post(ctx, u, raw)
		if err == nil {
			return
		}
		if attempt == callbackAttempts {
			c.log.Warn("event not delivered to a subscriber", "callbackUrl", u, "attempts", attempt, "err", err)
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		wait *= 2
	}
}

func (c *callbacks) post(ctx context.Context, u string, raw []byte) error {
	ctx, cancel := context.WithTimeout(ctx, callbackTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(raw))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.client.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("answered %s", resp.Status)
	}
	return nil
}

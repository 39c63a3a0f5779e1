package sdk

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/corral-sched/corral/auth"
	"github.com/corral-sched/corral/codec"
	"github.com/corral-sched/corral/proto/mesospb"
	"github.com/corral-sched/corral/proto/schedulerpb"
)

// Handler is the framework's logic. HandleEvent sees events one at a
// time, in the order the master sent them, on Run's goroutine: SUBSCRIBED
// (after every subscription, the first and each failover), OFFERS,
// RESCIND, UPDATE, MESSAGE, FAILURE, ERROR and INVERSE_OFFERS (heartbeats
// are the Scheduler's business). An UPDATE is acknowledged once
// HandleEvent returns nil for it, so whatever the update means must be
// recorded (durably, if the framework is to survive a restart) before it
// returns. An error ends Run with that error.
type Handler interface {
	HandleEvent(ctx context.Context, ev *schedulerpb.Event) error
}

// HandlerFunc adapts a function to Handler.
type HandlerFunc func(ctx context.Context, ev *schedulerpb.Event) error

// HandleEvent calls f.
func (f HandlerFunc) HandleEvent(ctx context.Context, ev *schedulerpb.Event) error { return f(ctx, ev) }

// Caller sends calls to the master. The Scheduler is one; code that only
// sends calls can take a Caller and be tested with a fake.
type Caller interface {
	Call(ctx context.Context, c *schedulerpb.Call) error
}

// Config configures a Scheduler.
type Config struct {
	// Master is a master's host:port or URL; redirects lead to the leader.
	Master string
	// Detector finds the leader; nil uses Master as it is.
	Detector Detector
	// Framework describes the framework; its id is filled in after the
	// first subscription.
	Framework *mesospb.FrameworkInfo
	// Codec is the wire encoding; default protobuf.
	Codec codec.Codec
	// HTTPClient makes every call. It should not follow redirects itself:
	// the Scheduler follows a standby's 307 and then sends every call to
	// the leader it names. Default: a client of its own, without proxies.
	HTTPClient *http.Client
	// Principal and Secret, if set, authenticate the framework (HTTP
	// Basic); the principal also goes into FrameworkInfo.principal unless
	// that names one already.
	Principal, Secret string
	// TLS, if set, is how masters are verified: calls go over https.
	TLS *tls.Config
	// Logger receives the Scheduler's own logs; default slog.Default().
	Logger *slog.Logger
	// IDStore keeps the framework ID across restarts; default in memory.
	IDStore FrameworkIDStore
	// MinBackoff and MaxBackoff bound the delay between subscriptions.
	MinBackoff, MaxBackoff time.Duration
	// DisableAutoAck turns off acknowledging updates after the handler.
	DisableAutoAck bool
	// DisableReconcile turns off implicit reconciliation after subscribing.
	DisableReconcile bool
}

// Scheduler is a framework's connection to the master: New makes one, Run
// keeps it subscribed, and its methods send calls. The methods are safe
// for concurrent use, from the handler and from other goroutines.
type Scheduler struct {
	cfg     Config
	handler Handler
	log     *slog.Logger

	mu       sync.Mutex
	leader   string // guarded by mu; host:port calls go to
	streamID string // guarded by mu
	info     *mesospb.FrameworkInfo
	// tornDown is set once Teardown was taken: nothing is acknowledged
	// or re-subscribed after it, even before the master's ERROR arrives.
	tornDown atomic.Bool
}

// New checks cfg and returns a Scheduler for h; Run connects it. A nil h
// sees no events (updates are still acknowledged).
func New(cfg Config, h Handler) (*Scheduler, error) {
	if cfg.Framework == nil {
		return nil, errors.New("sdk: Config.Framework is required")
	}
	if cfg.Detector == nil {
		if cfg.Master == "" {
			return nil, errors.New("sdk: Config.Master or Config.Detector is required")
		}
		d, err := StaticDetector(cfg.Master)
		if err != nil {
			return nil, err
		}
		cfg.Detector = d
	}
	if cfg.Codec == nil {
		cfg.Codec = codec.Protobuf
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{
			Transport:     &http.Transport{Proxy: nil, MaxIdleConnsPerHost: 16, TLSClientConfig: cfg.TLS},
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
	}
	if cfg.Principal != "" {
		cl := *cfg.HTTPClient
		cl.Transport = &auth.Transport{Base: cl.Transport, Principal: cfg.Principal, Secret: cfg.Secret}
		cfg.HTTPClient = &cl
		if cfg.Framework.Principal == nil {
			cfg.Framework = proto.CloneOf(cfg.Framework)
			cfg.Framework.Principal = proto.String(cfg.Principal)
		}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.IDStore == nil {
		cfg.IDStore = &MemoryIDStore{}
	}
	if cfg.MinBackoff <= 0 {
		cfg.MinBackoff = 500 * time.Millisecond
	}
	if cfg.MaxBackoff < cfg.MinBackoff {
		cfg.MaxBackoff = max(15*time.Second, cfg.MinBackoff)
	}
	return &Scheduler{cfg: cfg, handler: h, log: cfg.Logger.With("framework", cfg.Framework.GetName()),
		info: proto.CloneOf(cfg.Framework)}, nil
}

// FrameworkID returns the framework's ID, "" before the first SUBSCRIBED.
func (s *Scheduler) FrameworkID() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.info.GetId().GetValue()
}

// ErrTornDown ends Run when the master has removed the framework.
var ErrTornDown = errors.New("sdk: the framework was removed by the master")

// Run subscribes and dispatches events until ctx is done (nil), the
// handler fails (its error), or the master removes the framework
// (ErrTornDown). A lost subscription (the master failed over, the network
// broke, heartbeats stopped) is followed by a new one with the same
// framework ID, after a randomized backoff between MinBackoff and
// MaxBackoff; the master keeps the framework's tasks meanwhile for its
// failover_timeout. After every SUBSCRIBED, unless DisableReconcile, Run
// asks for implicit reconciliation: the master answers with an UPDATE for
// each task it knows of (reason REASON_RECONCILIATION), and the handler
// learns what changed while it was away. Run may be called once.
func (s *Scheduler) Run(ctx context.Context) error {
	if id, err := s.cfg.IDStore.Load(); err != nil {
		return fmt.Errorf("sdk: loading the framework ID: %w", err)
	} else if id != "" {
		s.setID(id)
	}
	backoff := s.cfg.MinBackoff
	for {
		started := time.Now()
		err := s.subscription(ctx)
		if ctx.Err() != nil {
			return nil
		}
		var herr *handlerError
		switch {
		case errors.As(err, &herr):
			return herr.err
		case errors.Is(err, ErrTornDown):
			return err
		case s.tornDown.Load():
			return ErrTornDown
		}
		if time.Since(started) > s.cfg.MaxBackoff {
			backoff = s.cfg.MinBackoff
		}
		delay := backoff/2 + rand.N(backoff/2+1)
		s.log.Warn("subscription lost; re-subscribing", "err", err, "in", delay)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(delay):
		}
		backoff = min(2*backoff, s.cfg.MaxBackoff)
	}
}

type handlerError struct{ err error }

func (e *handlerError) Error() string { return "sdk: handler: " + e.err.Error() }

func (s *Scheduler) setID(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.info.Id = &mesospb.FrameworkID{Value: proto.String(id)}
}

// Call sends c to the leader with the framework ID and stream ID filled
// in. It returns ErrNotSubscribed between subscriptions, a *CallError when
// the master refused the call (4xx), or the transport's error; a nil
// error means the master took the call (202), not that it has done it:
// what follows arrives as events.
func (s *Scheduler) Call(ctx context.Context, c *schedulerpb.Call) error {
	s.mu.Lock()
	leader, stream, id := s.leader, s.streamID, s.info.GetId()
	s.mu.Unlock()
	if stream == "" {
		return ErrNotSubscribed
	}
	c.FrameworkId = id
	return s.post(ctx, leader, stream, c)
}

// ErrNotSubscribed is returned by calls made while there is no
// subscription.
var ErrNotSubscribed = errors.New("sdk: not subscribed")

// CallError is a call the master refused.
type CallError struct {
	// Status is the HTTP status: 400 for a malformed call, 403 for one
	// not allowed, 409 for a stale offer or operation, and so on.
	Status int
	// Message is the master's reason, as it wrote it.
	Message string
}

// Error says what the master answered.
func (e *CallError) Error() string {
	return fmt.Sprintf("sdk: master answered %d: %s", e.Status, e.Message)
}
